"""`pgstead plan FILE.yml --out DIR`: write, offline, every file a deploy would put on a host.

For review in a pull request: validated exactly like `pgstead validate` (exit 2 on a bad file),
then the files of `pgstead.cli.plan_files`, secrets masked. Files in DIR that pgstead did not plan
are left alone; planned ones are replaced.
"""

from __future__ import annotations

from pathlib import Path

import click

from pgstead.cli.checks import check_environment
from pgstead.cli.failures import EXIT_BAD_INPUT, echo_findings
from pgstead.cli.plan_files import plan_files
from pgstead.config.build import parse_size


def _memory(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size such as 8GB or 512MB") from None


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to write the planned files to (created if missing).")
@click.option("--memory", callback=_memory, metavar="SIZE",
              help="Host memory for tuning, e.g. 8GB (default: postgres.tuning.memory).")
@click.option("--cpus", type=click.IntRange(min=1),
              help="Host CPUs for tuning (default: postgres.tuning.cpus).")
@click.option("--no-secrets", is_flag=True,
              help="Do not read env/file secrets or generate passwords (for CI without secrets).")
@click.pass_context
def plan(ctx: click.Context, file: str, out_dir: str, memory: int | None, cpus: int | None,
         no_secrets: bool) -> None:
    """Validate FILE and write the files its deploy would put on a host into DIR.

    Touches no host. Without --memory/--cpus, and with tuning on `auto` in the file, the tuned
    parameters are marked as computed on the host.
    """
    report = check_environment(file, resolve_secrets=not no_secrets)
    echo_findings(report)
    if report.environment is None:
        click.echo(f"{file}: not planned, the file has problems", err=True)
        ctx.exit(EXIT_BAD_INPUT)
    out = Path(out_dir)
    files = plan_files(report.environment, memory_bytes=memory, cpus=cpus)
    for planned in files:
        target = out / planned.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(planned.content, encoding="utf-8")
    click.echo(f"planned {len(files)} files in {out}")
