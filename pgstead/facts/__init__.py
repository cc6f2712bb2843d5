"""pyinfra facts that read the live state pgstead's operations compare against.

Imports: the pure layers and the server seam (every fact takes a `Server`).
"""
