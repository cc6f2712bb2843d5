"""PostgreSQL's own rules, independent of pyinfra and of any environment file: the parameter
catalog per major, units, SCRAM verifiers, quoted SQL files, where packages come from.

Imports: nothing of pgstead but the package root. Layer 1 of the layout (README: Layout).
"""
