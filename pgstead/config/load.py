"""Load an environment file: parse, validate (schema + semantics), resolve secrets, build.

Every problem in the file is collected and reported together, each with file, YAML path and
line, so one run of `pgstead validate` shows all that needs fixing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pgstead.config.budget import check_pooler_budget
from pgstead.config.build import build_environment
from pgstead.config.errors import ConfigError, Problem, state_dir_for, state_dir_path
from pgstead.config.findings import Findings, in_file_order
from pgstead.config.members import InventoryHost, check_members
from pgstead.config.model import Environment
from pgstead.config.passwords import check_enforced, weak_password_reason
from pgstead.config.positions import YamlSyntaxError, parse_yaml
from pgstead.config.raw import entries, is_present, section
from pgstead.config.schema import schema_problems
from pgstead.config.secret import Secret
from pgstead.config.secrets import (
    SecretError,
    check_readable,
    password_source,
    resolve_password,
    resolve_relative,
)
from pgstead.config.semantic import check_semantics

# The schema's pattern for `name`, checked again here because the state directory is built
# from it: a name with '/' or '..' must never reach a path, whatever else the file got wrong.
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SPEC_KEYS = ("env", "file", "generate", "value")

# A check of the built Environment against what pgstead derives from it (layers above this
# one, such as the hardening controls): it returns (YAML path, message) warnings.
DerivedCheck = Callable[[Environment], Iterable[tuple[tuple, str]]]


@dataclass
class Report:
    environment: Environment | None  # None when there are errors
    errors: list[Problem]
    warnings: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.errors


def load_environment(path: str | Path, *, resolve_secrets: bool = True,
                     hosts: Sequence[InventoryHost] | None = None) -> Environment:
    """The validated Environment of `path`; raises ConfigError listing every problem."""
    report = check_file(path, resolve_secrets=resolve_secrets, hosts=hosts)
    if report.environment is None:
        raise ConfigError(report.errors)
    return report.environment


def check_file(path: str | Path, *, resolve_secrets: bool = True,
               derived_checks: Iterable[DerivedCheck] = (),
               hosts: Sequence[InventoryHost] | None = None) -> Report:
    """Validate `path` and build its Environment; never raises for bad input.

    resolve_secrets=False checks no secret source and creates no file: passwords become
    empty placeholders (for CI without the secrets). `derived_checks` add warnings found by
    comparing the built Environment with what upper layers derive from it. `hosts`, the
    inventory's hosts when they are known (a deploy, `--inventory`), adds the checks of an HA
    cluster's members.
    """
    label = str(path)
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        return Report(None, [Problem(label, "", None, f"cannot read the file: {reason}")], [])
    try:
        document, positions = parse_yaml(text)
    except YamlSyntaxError as exc:
        return Report(None, [Problem(label, "", exc.line, exc.message)], [])
    findings = Findings(label, positions)
    if document is None:
        findings.error((), "the file is empty: it needs at least `name:`", line=1)
        return _report(findings, None)
    if not isinstance(document, dict):
        findings.error((), "expected a mapping of sections (name:, postgres:, users: ...) at "
                       "the top of the file")
        return _report(findings, None)
    for at, message in schema_problems(document):
        findings.error(at, message)
    check_semantics(document, findings)
    if hosts is not None:
        check_members(document, findings, hosts)

    name = document.get("name")
    state_dir = state_dir_path(source, name) if _usable_name(name) else None
    if "pooler" in document and not findings.errors and state_dir is not None:
        # Pool sizes follow connection limits that hardening may derive, so the budget is
        # checked on a built Environment; one with placeholder passwords, before any secret
        # is read or generated.
        check_pooler_budget(build_environment(document, source=source.resolve(),
                                              state_dir=state_dir,
                                              passwords=_placeholders(document)), findings)
    if resolve_secrets:
        passwords = _resolve_secrets(document, findings, source.resolve().parent, state_dir)
    else:
        passwords = _placeholders(document)
    if findings.errors or state_dir is None:
        return _report(findings, None)
    if resolve_secrets:
        state_dir = state_dir_for(source, name)
    environment = build_environment(document, source=source.resolve(), state_dir=state_dir,
                                    passwords=passwords)
    for check in derived_checks:
        for at, message in check(environment):
            findings.warning(at, message)
    return _report(findings, environment)


def _report(findings: Findings, environment: Environment | None) -> Report:
    return Report(environment, in_file_order(findings.errors), in_file_order(findings.warnings))


def _usable_name(name: object) -> bool:
    return isinstance(name, str) and bool(_ENV_NAME.match(name))


def _password_specs(document: dict) -> list[tuple[int, str, dict]]:
    """(index, user name, spec) for present users whose password spec has a usable shape."""
    specs = []
    for index, user in entries(document, "users"):
        spec, name = user.get("password"), user.get("name")
        if not (is_present(user) and isinstance(spec, dict) and isinstance(name, str)):
            continue
        kinds = [k for k in _SPEC_KEYS if k in spec]
        if len(kinds) == 1 and (kinds[0] == "generate" or isinstance(spec[kinds[0]], str)):
            specs.append((index, name, spec))
    return specs


def _placeholders(document: dict) -> dict[str, Secret]:
    return {name: Secret("", password_source(spec, user=name))
            for _, name, spec in _password_specs(document)}


def _resolve_secrets(document: dict, findings: Findings, base_dir: Path,
                     state_dir: Path | None) -> dict[str, Secret]:
    """Read every password; generate missing ones only once the whole file is known good."""
    _check_certificate_files(document, findings, base_dir)
    passwords: dict[str, Secret] = {}
    pending: list[tuple[str, dict]] = []
    check_strength = check_enforced(document)
    for index, name, spec in _password_specs(document):
        if "generate" in spec and state_dir is None:
            continue
        try:
            secret = resolve_password(spec, user=name, base_dir=base_dir,
                                      state_dir=state_dir, create=False)
        except SecretError as exc:
            findings.error(("users", index, "password"), str(exc))
            continue
        weak = (weak_password_reason(secret.reveal(), user=name)
                if check_strength and "generate" not in spec else None)
        if weak:
            findings.error(("users", index, "password"), f"{weak} ({secret.source}): use "
                           "{generate: true} or a longer, uncommon password (or opt out of "
                           "hardening control passwordcheck with a reason)")
            continue
        passwords[name] = secret
        if "generate" in spec and not secret.reveal():
            pending.append((name, spec))
    if not findings.errors:
        for name, spec in pending:
            passwords[name] = resolve_password(spec, user=name, base_dir=base_dir,
                                               state_dir=state_dir, create=True)
    return passwords


def _check_certificate_files(document: dict, findings: Findings, base_dir: Path) -> None:
    tls = section(document, "tls")
    pairs = [(("tls", "ca"), tls.get("ca"))]
    pairs += [(("tls", "host_certs", host), pair) for host, pair in section(
        document, "tls", "host_certs").items()]
    for at, pair in pairs:
        if not isinstance(pair, dict):
            continue
        for part in ("cert", "key"):
            if isinstance(pair.get(part), str):
                problem = check_readable(resolve_relative(pair[part], base_dir))
                if problem:
                    findings.error((*at, part), problem)
