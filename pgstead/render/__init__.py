"""Pure renderers: the text of every file that lands on a host or in a plan (pg_hba.conf,
compose project, backup and pgBackRest config, cron entry), byte for byte repeatable.

Imports: pgstead.postgres, pgstead.config, pgstead.live. Renderers format what they are given;
the desired layer decides what that is.
"""
