"""Postgres-specific parts of the `_rooftop` meta store: opening a destination never waits for
another session's open transaction on the diffs table. The diff rules every destination shares
are in tests/conformance/test_diff_rules.py."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows
from sqlalchemy.engine import make_url

from destinations.postgres import PostgresConfig, PostgresDestination


def _dest(url: str, root: Path) -> PostgresDestination:
    return PostgresDestination(PostgresConfig(url=url), root=root)


def _pg(url: str) -> psycopg.Connection[Any]:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database)


def test_open_does_not_wait_for_a_session_inserting_diffs(postgres_url: str, tmp_path: Path) -> None:
    with _dest(postgres_url, tmp_path):
        pass  # creates the meta tables
    with _pg(postgres_url) as other:
        other.execute("INSERT INTO _rooftop.diffs VALUES ('x', 's', 'i', now(), 'inserted', '{}', '[]')")
        opened = threading.Event()

        def open_destination() -> None:
            with _dest(postgres_url, tmp_path):
                opened.set()

        thread = threading.Thread(target=open_destination, daemon=True)
        thread.start()
        try:
            assert opened.wait(20), "opening the destination waited for another session's open transaction"
        finally:
            other.rollback()
            thread.join(20)
