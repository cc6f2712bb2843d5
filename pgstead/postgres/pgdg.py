"""Where PostgreSQL packages come from: the distribution, or the PostgreSQL project's
apt repository (PGDG) when the distribution lacks the requested major."""

from __future__ import annotations

# The one PostgreSQL major each release ships in its own archive.
DISTRO_MAJORS: dict[tuple[str, str], int] = {
    ("debian", "bullseye"): 13,
    ("debian", "bookworm"): 15,
    ("debian", "trixie"): 17,
    ("ubuntu", "focal"): 12,
    ("ubuntu", "jammy"): 14,
    ("ubuntu", "noble"): 16,
}

PGDG_SOURCES = "/etc/apt/sources.list.d/pgdg.sources"
# Debian's postgresql-common ships PGDG's signing key, so nothing is downloaded to trust it.
PGDG_KEY = "/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc"
PGDG_URL = "https://apt.postgresql.org/pub/repos/apt"


def uses_pgdg(repository: str, distro: str, codename: str, major: int) -> bool:
    """auto: PGDG only when the distribution's own archive lacks `major`."""
    if repository == "pgdg":
        return True
    if repository == "distro":
        return False
    return DISTRO_MAJORS.get((distro.lower(), codename)) != major


def render_pgdg_sources(codename: str, major: int) -> str:
    """A deb822 source limited to PGDG's `main` plus the one major we install."""
    return (
        "# Managed by pgstead: the PostgreSQL project's apt repository.\n"
        "Types: deb\n"
        f"URIs: {PGDG_URL}\n"
        f"Suites: {codename}-pgdg\n"
        f"Components: main {major}\n"
        f"Signed-By: {PGDG_KEY}\n"
    )
