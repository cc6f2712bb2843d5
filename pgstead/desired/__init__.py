"""What each host should hold, computed from the Environment: settings layers, tuning,
hardening controls, grants, WAL archiving, pg_hba rules, backup files. Pure functions.

Imports: pgstead.postgres, pgstead.config, pgstead.live, pgstead.render, pgstead.pki; never
pyinfra, the server seam, facts or operations.
"""
