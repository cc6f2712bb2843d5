"""This machine, through pyinfra's @local connector, with inventories/local.yml."""

from pathlib import Path

hosts = [("@local", {"pgstead_env": str(Path(__file__).with_suffix(".yml"))})]
