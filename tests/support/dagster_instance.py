"""A Dagster instance on the test's PostgreSQL, configured by the shipped deploy/dagster.yaml.

The file is copied as is into a temp DAGSTER_HOME and filled through the DAGSTER_PG_* variables it
reads, so the tests exercise exactly the storage settings a deployment copies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_INSTANCE = ROOT / "deploy" / "dagster.yaml"


def postgres_home(home: Path, database_url: str) -> dict[str, str]:
    """Make `home` a DAGSTER_HOME storing in the database at `database_url`; returns the environment
    (DAGSTER_HOME and the DAGSTER_PG_* variables) every Dagster process of the test needs."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY_INSTANCE, home / "dagster.yaml")
    url = make_url(database_url)
    return {"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": url.host or "127.0.0.1",
            "DAGSTER_PG_PORT": str(url.port or 5432), "DAGSTER_PG_USER": url.username or "postgres",
            # The test server trusts local connections: any password is accepted.
            "DAGSTER_PG_PASSWORD": "unused", "DAGSTER_PG_DB": url.database or "postgres"}


def libpq_dsn(database_url: str) -> str:
    """The psycopg (libpq) form of a SQLAlchemy URL, for reading Dagster's tables directly."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
