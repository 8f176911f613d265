"""Privacy transforms end to end: residents' email, phone and date of birth never land in clear.

The sandbox serves residents with all three. A connection hashes the email (and the resident id,
in residents and in leases, to show a join survives), masks the phone and drops the date of birth;
the whole DuckDB file, `_rooftop` tables included, is then read as text and must not contain one
raw value. Hashes are HMAC-SHA256 with the connection's salt: the same across syncs and across
connections sharing the salt, different under another salt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from pipelines.engine.runner import run_sync
from protocol.errors import ConnectionFileError
from tests.conftest import API_KEY, WorkspaceFactory, connection
from tests.warehouse_checks import rows

SALT = "pepper-for-tests-0123456789"
OTHER_SALT = "another-pepper-9876543210"
CONN = """\
name: {name}
source: {{connector: sandbox, config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 40}}}}
destination: {{connector: duckdb, config: {{path: {name}.duckdb}}}}
privacy_salt: "${{{salt_var}}}"
streams:
  - name: residents
    sync_mode: incremental_deduped
    privacy: {{id: hash, email: hash, phone: mask, date_of_birth: drop}}
  - name: leases
    sync_mode: incremental_deduped
    privacy: {{resident_id: hash}}
"""


@pytest.fixture
def residents_api() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=11, scale=2), api_key=API_KEY) as server:
        yield server


def _workspace(make_workspace: WorkspaceFactory, server: SandboxServer, names: dict[str, str]) -> Path:
    """One workspace with a connection per {name: salt variable}; both salts in its .env."""
    root = Path()
    for name, var in names.items():
        root = make_workspace(CONN.format(name=name, url=server.url, salt_var=var), name=name)
    with (root / ".env").open("a") as env:
        env.write(f"PRIVACY_SALT={SALT}\nOTHER_SALT={OTHER_SALT}\n")
    return root


def _hmac(salt: str, value: Any) -> str:
    return hmac.new(salt.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def _warehouse_text(db: Path) -> str:
    """Every table of the file, `_rooftop.*` included, as text (values and their reprs)."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        assert ("_rooftop", "sync_logs") in tables
        return "\n".join(str(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables)


def _raw_values(dataset: SandboxDataset) -> set[str]:
    found: set[str] = set()
    for r in dataset.current_records("residents"):
        found |= {str(r[k]) for k in ("email", "phone", "date_of_birth") if r[k] is not None}
    return found


def _assert_absent(db: Path, raw: set[str]) -> None:
    text = _warehouse_text(db)
    # A date is also rendered as datetime.date(1990, 1, 5) by the scan: look for that form too.
    forms = {v: [v] + ([repr(date.fromisoformat(v))] if re.fullmatch(r"\d{4}-\d\d-\d\d", v) else []) for v in raw}
    leaked = sorted(v for v, shown in forms.items() if any(form in text for form in shown))
    assert not leaked, f"{len(leaked)} raw values in the warehouse, e.g. {leaked[:3]}"


def _residents(db: Path) -> dict[str, dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("SELECT * FROM sandbox.residents WHERE _rooftop_deleted_at IS NULL")
        names = [d[0] for d in cur.description or []]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def test_hash_mask_drop_keep_raw_values_out_of_the_warehouse(make_workspace: WorkspaceFactory,
                                                             residents_api: SandboxServer) -> None:
    dataset = residents_api.dataset
    root = _workspace(make_workspace, residents_api, {"acme": "PRIVACY_SALT"})
    db = root / "acme.duckdb"
    before = {r["id"]: r for r in dataset.current_records("residents")}
    raw = _raw_values(dataset)
    assert any("@" in v for v in raw) and any(re.match(r"\d{4}-\d\d-\d\d$", v) for v in raw)

    run_sync(connection(root, "acme"))
    _assert_absent(db, raw)
    columns = [c for (c,) in rows(db, "SELECT column_name FROM information_schema.columns "
                                      "WHERE table_schema = 'sandbox' AND table_name = 'residents'")]
    assert "date_of_birth" not in columns and {"email", "phone", "first_name"} <= set(columns)
    first = _residents(db)
    assert set(first) == {_hmac(SALT, i) for i in before}  # the primary key is hashed, still unique
    for rid, record in before.items():
        landed = first[_hmac(SALT, rid)]
        assert landed["email"] == (None if record["email"] is None else _hmac(SALT, record["email"]))
        if record["phone"] is not None:
            assert re.fullmatch(r"\+\*-\*\*\*-\*\*\*-\d{4}", landed["phone"]) and \
                landed["phone"][-4:] == record["phone"][-4:]
    # A join on hashed ids still works: every lease's resident is a hashed resident id.
    orphans = rows(db, "SELECT count(*) FROM sandbox.leases l LEFT JOIN sandbox.residents r "
                       "ON l.resident_id = r.id WHERE r.id IS NULL AND l.resident_id IS NOT NULL")
    assert rows(db, "SELECT count(*) FROM sandbox.leases")[0][0] > 0 and orphans == [(0,)]

    changed = dataset.mutate("residents", update=0.3, insert=0.1, delete=0.05, seed=4)
    raw |= _raw_values(dataset)
    run_sync(connection(root, "acme"))
    _assert_absent(db, raw)
    second = _residents(db)
    untouched = set(before) - set(changed["updated"]) - set(changed["deleted"])
    assert untouched and all(second[_hmac(SALT, i)]["email"] == first[_hmac(SALT, i)]["email"] for i in untouched)
    for rid in changed["updated"]:
        email = (dataset.get("residents", rid) or {})["email"]
        assert second[_hmac(SALT, rid)]["email"] == (None if email is None else _hmac(SALT, email))
    diffs = rows(db, "SELECT change, key FROM _rooftop.diffs WHERE stream = 'residents'")
    assert {c for c, _ in diffs} >= {"updated", "inserted", "deleted"}
    assert {json.loads(k)["id"] for _, k in diffs} <= {_hmac(SALT, i) for i in {*before, *changed["inserted"]}}


def test_same_salt_same_hashes_across_connections(make_workspace: WorkspaceFactory,
                                                  residents_api: SandboxServer) -> None:
    root = _workspace(make_workspace, residents_api, {"acme": "PRIVACY_SALT", "acme_copy": "PRIVACY_SALT",
                                                      "other": "OTHER_SALT"})
    emails: dict[str, set[str]] = {}
    for name in ("acme", "acme_copy", "other"):
        run_sync(connection(root, name))
        emails[name] = {r["email"] for r in _residents(root / f"{name}.duckdb").values() if r["email"]}
    assert emails["acme"] and emails["acme"] == emails["acme_copy"]
    assert not emails["acme"] & emails["other"]


@pytest.mark.parametrize(("privacy", "salt", "message"), [
    ("{updated_at: hash}", True, "is the cursor of stream 'residents'"),
    ("{id: mask}", True, "part of the primary key"),
    ("{id: drop}", True, "part of the primary key"),
    ("{email: hash}", False, "needs a key: set privacy_salt"),
    ("{emial: mask}", True, "did you mean 'email'"),
])
def test_rules_that_cannot_work_are_config_errors(make_workspace: WorkspaceFactory, residents_api: SandboxServer,
                                                  privacy: str, salt: bool, message: str) -> None:
    text = CONN.format(name="acme", url=residents_api.url, salt_var="PRIVACY_SALT").replace(
        "{id: hash, email: hash, phone: mask, date_of_birth: drop}", privacy)
    if not salt:
        text = text.replace('privacy_salt: "${PRIVACY_SALT}"\n', "")
    root = make_workspace(text, name="acme")
    with (root / ".env").open("a") as env:
        env.write(f"PRIVACY_SALT={SALT}\n")
    with pytest.raises(ConnectionFileError) as caught:
        run_sync(connection(root, "acme"))
    assert message in str(caught.value) and f"acme.yaml:{8 if salt else 7}" in str(caught.value)
    assert not (root / "acme.duckdb").exists()  # refused before the warehouse is opened


def test_salt_is_a_secret(make_workspace: WorkspaceFactory, residents_api: SandboxServer) -> None:
    root = _workspace(make_workspace, residents_api, {"acme": "PRIVACY_SALT"})
    assert connection(root, "acme").redactor(f"salt={SALT}") == "salt=***"
    short = CONN.format(name="acme", url=residents_api.url, salt_var="PRIVACY_SALT")
    root = make_workspace(short, name="acme")
    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\nPRIVACY_SALT=short-salt\n")
    with pytest.raises(ConnectionFileError) as caught:
        connection(root, "acme")
    assert "at least 16 characters" in str(caught.value) and "short-salt" not in str(caught.value)
