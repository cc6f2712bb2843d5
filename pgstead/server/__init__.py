"""The seam of modes: how pgstead reaches a PostgreSQL server on a host. `Server` (psql.py)
says how to run psql and friends, natively or inside a compose service; `server_for`
(select.py) picks the mode an environment runs. Roles ask the seam instead of testing modes.

Imports: everything pure (postgres, config, live, render, desired); pyinfra's command types.
Never facts or operations: a value the seam needs from the host is passed to it.
"""
