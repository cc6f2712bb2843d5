"""pgstead's pyinfra operations: each reads a fact and yields only the difference.

Imports: the pure layers, the server seam and facts. Roles (roles/) call these.
"""
