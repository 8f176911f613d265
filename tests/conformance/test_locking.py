"""Two syncs of one connection never write one warehouse at once. DuckDB's file lock is tested
with a second process in tests/test_duckdb_destination.py; Postgres (advisory lock) and Parquet
(flock) hold a per-connection lock from `mark_interrupted` until the destination closes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from destinations.postgres import PostgresConfig, PostgresDestination
from protocol.errors import TransientError, WarehouseLocked
from tests.conformance.conftest import Warehouse


@pytest.mark.parametrize("warehouse_kind", ["postgres", "parquet"])
def test_a_second_sync_of_the_same_connection_waits_then_gives_up(warehouse: Warehouse) -> None:
    first = warehouse.destination()
    second = warehouse.destination(lock_timeout_seconds=0.2)
    other = warehouse.destination()
    with first:
        first.mark_interrupted("conn")
        with second, pytest.raises(WarehouseLocked, match="another sync of 'conn'"):
            second.mark_interrupted("conn")
        with other:
            assert other.mark_interrupted("another_conn") == 0  # other connections are not blocked
    with second:  # released when the holder closed
        assert second.mark_interrupted("conn") == 0


def test_an_unreachable_postgres_is_transient_and_names_no_secret(tmp_path: Path) -> None:
    config = PostgresConfig(host="127.0.0.1", port=1, password=SecretStr("pw-that-must-not-leak"),
                            connect_timeout_seconds=2)
    with pytest.raises(TransientError) as info, PostgresDestination(config, root=tmp_path):
        pass
    assert "cannot reach Postgres at 127.0.0.1:1/postgres" in str(info.value)
    assert "pw-that-must-not-leak" not in str(info.value)
    assert "pw-that-must-not-leak" not in repr(config) and "pw-that-must-not-leak" not in str(config.model_dump())
