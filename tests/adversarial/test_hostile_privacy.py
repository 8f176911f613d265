"""A hostile value that tries to leak a protected field through `_rooftop_meta` or the logs.

A value that fails its cast is nulled and described in the row's `_rooftop_meta`, quoting the value
and the caster's message (which quotes it again). For a hashed or masked field that description
would put the raw value in the warehouse beside its protected column; it must show the protected
form only, in the table, in `_rooftop.sync_logs` and on the console.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from pipelines.cli import app

SALT = "hostile-test-salt-000111222"
CONN = """\
name: hostile
source:
  connector: files
  config:
    streams:
      - {name: people, path: "in/people.jsonl", primary_key: [id], columns: {email: int64, dob: date, ssn: int64}}
destination: {connector: duckdb, config: {path: wh.duckdb}}
privacy_salt: "${PRIVACY_SALT}"
streams:
  - name: people
    sync_mode: full_refresh_overwrite
    privacy: {email: hash, dob: mask, ssn: drop}
"""
# Each fails its column's cast, so each would be quoted in `_rooftop_meta` without protection.
LEAKY_EMAIL = "victim.leak@private.example"
LEAKY_DOB = "born 1984-07-19 ssn 078-05-1120"
LEAKY_SSN = "078-05-1121"


def test_failed_cast_of_a_protected_field_is_recorded_without_its_value(tmp_path: Path) -> None:
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "hostile.yaml").write_text(textwrap.dedent(CONN))
    (tmp_path / ".env").write_text(f"PRIVACY_SALT={SALT}\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "people.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": 1, "email": 5551234, "dob": "1990-01-05", "ssn": 123456789},
        {"id": 2, "email": LEAKY_EMAIL, "dob": LEAKY_DOB, "ssn": LEAKY_SSN}]))

    result = CliRunner().invoke(app, ["--workspace", str(tmp_path), "--log-format", "json", "--debug",
                                      "sync", "hostile"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        text = "\n".join(str(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables)
        cur = con.execute("SELECT * FROM files.people ORDER BY id")
        people = [dict(zip([d[0] for d in cur.description or []], row, strict=True)) for row in cur.fetchall()]
    for raw in (LEAKY_EMAIL, "victim.leak", LEAKY_DOB, "1984-07-19", "078-05-112", "123456789", "1990-01-05"):
        assert raw not in text, raw
        assert raw not in result.output, raw
    assert "ssn" not in people[0]
    assert people[0]["email"] == hmac.new(SALT.encode(), b"5551234", hashlib.sha256).hexdigest()
    assert people[0]["dob"] == "***" and people[0]["_rooftop_meta"] is None
    errors = {e["field"]: e for e in json.loads(people[1]["_rooftop_meta"])["errors"]}
    assert (people[1]["email"], people[1]["dob"]) == (None, None)
    assert set(errors) == {"email", "dob"}  # still counted and described, by the protected value
    assert errors["email"]["value"] == hmac.new(SALT.encode(), LEAKY_EMAIL.encode(), hashlib.sha256).hexdigest()
    assert errors["dob"]["value"] == "***" and errors["email"]["error"].startswith("cannot cast to int64")
