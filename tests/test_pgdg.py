"""Where packages come from, and the PGDG source file pgstead writes (PGDG is unreachable here)."""

from pathlib import Path

from pgstead.postgres.pgdg import PGDG_KEY, render_pgdg_sources, uses_pgdg


def test_distro_major_uses_the_distribution():
    assert not uses_pgdg("auto", "Debian", "bookworm", 15)


def test_missing_major_uses_pgdg():
    assert uses_pgdg("auto", "Debian", "bookworm", 17)
    assert uses_pgdg("auto", "Ubuntu", "jammy", 16)


def test_explicit_repository_wins():
    assert uses_pgdg("pgdg", "Debian", "bookworm", 15)
    assert not uses_pgdg("distro", "Debian", "bookworm", 17)


def test_pgdg_source_is_signed_by_the_key_postgresql_common_ships():
    text = render_pgdg_sources("bookworm", 17)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    assert fields["Suites"] == "bookworm-pgdg"
    assert fields["Components"] == "main 17"
    assert fields["Signed-By"] == PGDG_KEY
    assert fields["URIs"].startswith("https://")
    # On a Debian host with postgresql-common, the key really is there.
    assert Path(PGDG_KEY).is_file()
