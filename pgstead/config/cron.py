"""Validate a 5-field cron schedule (minute hour day-of-month month day-of-week)."""

from __future__ import annotations

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# label, lowest, highest, names (the first name stands for the lowest value)
_FIELDS: tuple[tuple[str, int, int, list[str]], ...] = (
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day of month", 1, 31, []),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def cron_problem(schedule: str) -> str | None:
    """Why `schedule` is not a valid 5-field cron expression, or None when it is."""
    fields = schedule.split()
    if len(fields) != 5:
        return (f"expected 5 cron fields (minute hour day-of-month month day-of-week), "
                f"got {len(fields)} in {schedule!r}")
    for text, (label, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(text, low, high, names)
        if problem:
            return f"{label} field {text!r}: {problem}"
    return None


def _field_problem(text: str, low: int, high: int, names: list[str]) -> str | None:
    for item in text.split(","):
        span, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) >= 1):
            return f"step {step!r} must be a whole number of at least 1"
        if span == "*":
            continue
        ends = span.split("-")
        if len(ends) > 2 or not all(ends):
            return f"{item!r} is not a number, a range a-b, a step */n or a list"
        values = []
        for end in ends:
            value = _value(end, low, names)
            if value is None:
                expected = f"{low}-{high}" + (f" or a name ({names[0]}...)" if names else "")
                return f"{end!r} is not a value ({expected})"
            if not low <= value <= high:
                return f"{value} is outside {low}-{high}"
            values.append(value)
        if len(values) == 2 and values[0] > values[1]:
            return f"range {span!r} runs backwards"
        if step and len(values) == 1:
            return f"a step needs a range or '*', got {item!r}"
    return None


def _value(text: str, low: int, names: list[str]) -> int | None:
    if text.isdigit():
        return int(text)
    lowered = text.lower()
    if lowered in names:
        return low + names.index(lowered)
    return None
