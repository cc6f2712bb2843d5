"""Import an app's SQLite data into its PostgreSQL database, and prove nothing was lost.

Pure Python + sqlite3 + psycopg; imported by the CLI only. The flow (see `run.import_sqlite`):
snapshot the SQLite file (online backup API) -> read both schemas -> match tables and
columns -> choose a converter per column from the target type -> COPY every table in
foreign-key order inside one transaction -> prove (row counts, order-independent checksums
of normalised rows, sequences past the maximum, foreign keys) -> commit, or roll back and
say which table and key differ.
"""
