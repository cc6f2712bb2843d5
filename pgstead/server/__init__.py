"""The seam of modes: how pgstead reaches a PostgreSQL server on a host. `Server` (psql.py)
says how to run psql and friends, natively or inside a compose service, and who starts the
server and where its parameters and pg_hba go (Patroni's mode: patroni.py); `server_for`
(select.py) picks the mode an environment runs. Roles ask the seam instead of testing modes.

Imports: everything pure (postgres, config, live, render, desired); pyinfra's command types.
Never facts or operations: a value the seam needs from the host is passed to it.
"""
