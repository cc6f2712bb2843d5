"""`python -m pgstead.cli`: the same CLI as the `pgstead` console script."""

from pgstead.cli import main

main(prog_name="pgstead")
