"""One pyinfra deploy per concern, composed in order by deploy.py."""
