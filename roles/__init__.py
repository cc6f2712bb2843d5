"""One pyinfra deploy per concern, composed in order by deploy.py.

Imports: everything in pgstead but the CLI. A role calls operations and asks the server seam;
it holds no SQL and tests no mode itself.
"""
