"""The shape of live state, as plain data: what facts fill in and what the desired layer
compares against (a host's resources, a database's owners and privileges).

Imports: nothing of pgstead. Kept apart from the facts so that pure code never pulls in pyinfra.
"""
