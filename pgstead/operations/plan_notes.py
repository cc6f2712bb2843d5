"""What an operation will change, said while pyinfra plans.

pyinfra shows a plan's operations but not the commands' stdin, and stops reading an operation
at its first command; so each operation names its changes here, before yielding, and only while
planning: at execution the plan has already said it.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api.state import StateStage


def planning() -> bool:
    return host.state.current_stage != StateStage.Execute


def plan_note(subject: object, *lines: str) -> None:
    """Log `host: subject: line` for each line, while planning only."""
    if planning():
        for line in lines:
            logger.info(f"{host.name}: {subject}: {line}")
