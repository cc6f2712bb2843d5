"""pyinfra facts that read the live state pgstead's operations compare against."""
