"""The `entrata` connector end to end: the `rooftop` CLI against an Entrata replay on 127.0.0.1, into DuckDB.

The replay (tests/support/vendors/entrata.py) enforces Entrata's contract: a POSTed JSON envelope per
call, the key in X-Api-Key, a property id per call for units, leases and leads, paging in the
query, leads by MM/DD/YYYY fromDate/toDate in Mountain Time, failures inside 200 bodies. A request
that breaks the contract fails the sync, so every landed row is also evidence about the requests.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
from typer.testing import CliRunner

from connectors.sdk.replay import ReplayServer, Reply
from pipelines.cli import app
from tests.conftest import WorkspaceFactory
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.vendors.entrata import MOUNTAIN, ROOT, EntrataReplay, serve

API_KEY = "entrata-key-5c1e-77aa-Secr3t"
HISTORY = 300
START = datetime.now(MOUNTAIN).date() - timedelta(days=HISTORY + 20)
CONN = """\
name: entrata
source:
  connector: entrata
  config:
    base_url: "{url}{root}"
    api_key: "${{ENTRATA_API_KEY}}"
    page_size: 5
    window_days: 120
    start_date: "{start}"
    retries: {{attempts: 6, initial_delay: 0.01}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
{extra}streams:
  - {{name: properties, sync_mode: full_refresh_overwrite}}
  - {{name: units, sync_mode: full_refresh_overwrite}}
  - {{name: leases, sync_mode: full_refresh_overwrite}}
  - {{name: leads, sync_mode: incremental_deduped}}
"""


def workspace(make_workspace: WorkspaceFactory, api: ReplayServer, key: str = API_KEY, extra: str = "") -> Path:
    root = make_workspace(CONN.format(url=api.url, root=ROOT, start=START.isoformat(), extra=extra), name="entrata")
    (root / ".env").write_text(f"ENTRATA_API_KEY={key}\n")
    return root


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def sync(root: Path) -> None:
    result = cli(root, "sync", "entrata")
    assert result.exit_code == 0, result.output


def rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def calls(api: ReplayServer, since: int = 0) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(service, method params, query) of each request after the first `since`."""
    return [(r.path.removeprefix(ROOT), orjson.loads(r.body)["method"]["params"], r.query)
            for r in api.requests[since:] if r.body]


def per_service(api: ReplayServer, since: int = 0) -> Counter[str]:
    return Counter(service for service, _, _ in calls(api, since))


def test_check_discover_and_a_full_sync_land_every_record_in_entrata_shapes(make_workspace: WorkspaceFactory) -> None:
    replay = EntrataReplay(API_KEY, history_days=HISTORY)
    with serve(replay) as api:
        root = workspace(make_workspace, api)
        checked, discovered = cli(root, "check", "entrata"), cli(root, "discover", "entrata")
        assert (checked.exit_code, discovered.exit_code) == (0, 0), checked.output + discovered.output
        assert api.count() == 1  # check: one getProperties; discovery sends nothing (declared schemas)
        sync(root)
        sent = calls(api, 1)
    for stream in ("properties", "units", "leases", "leads"):
        assert stream in discovered.output
    assert rows(root, "select count(*) from entrata.properties") == [(5,)]
    assert rows(root, "select count(*), count(distinct propertyId) from entrata.units") == [(30, 5)]
    assert rows(root, "select count(*), count(distinct propertyId) from entrata.leases") == [(45, 5)]
    assert rows(root, "select count(*) from entrata.leads") == [(len(replay.all_leads()),)]
    # Mountain Time on the wire, UTC in the warehouse.
    lead = replay.all_leads()[0]
    local = datetime.strptime(lead["lastUpdatedDate"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=MOUNTAIN)
    stored = rows(root, f"select lastUpdatedDate from entrata.leads where applicationId = {lead['applicationId']}")
    assert stored[0][0] == local
    # Leads: 120-day windows from start_date to today, every property in each; pages of 5 and one empty page.
    windows = sorted({(p["fromDate"], p["toDate"]) for s, p, _ in sent if s == "/leads"},
                     key=lambda w: datetime.strptime(w[0], "%m/%d/%Y"))
    assert windows[0][0] == f"{START:%m/%d/%Y}" and windows[-1][1] == f"{datetime.now(MOUNTAIN):%m/%d/%Y}"
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False)) and len(windows) == 3
    counts = per_service(api, 1)
    # properties: its own stream and the parent listing (once for all children); 9 leases = 2 pages + 1 empty.
    assert (counts["/properties"], counts["/propertyunits"], counts["/leases"]) == (1, 5, 15)  # one shared list
    assert {q["per_page"] for s, _, q in sent if s in ("/leases", "/leads")} == {"5"}


def test_an_incremental_sync_reads_only_the_changed_leads(make_workspace: WorkspaceFactory) -> None:
    replay = EntrataReplay(API_KEY, history_days=HISTORY)
    with serve(replay) as api:
        root = workspace(make_workspace, api)
        sync(root)
        first_leads = per_service(api)["/leads"]
        changed = [replay.leads[1000][2]["applicationId"], replay.leads[1003][5]["applicationId"]]
        for application_id in changed:
            replay.touch_lead(application_id, status="Lease Signed")
        added = replay.add_lead(1004)
        seen = len(api.requests)
        sync(root)
        second = calls(api, seen)
    leads = [(p["propertyId"], p["fromDate"], p["toDate"]) for s, p, _ in second if s == "/leads"]
    today = f"{datetime.now(MOUNTAIN):%m/%d/%Y}"
    # One window (from the last sync's day to today), one request per property: a page under 5 records
    # still costs the empty page after it where leads arrived.
    assert {(f, t) for _, f, t in leads} == {(today, today)}
    assert sorted(pid for pid, _, _ in leads) == [1000, 1000, 1001, 1002, 1003, 1003, 1004, 1004]
    assert first_leads > len(leads)
    last_sync = json.loads(cli(root, "history", "entrata", "--json").stdout)[0]["sync_id"]
    latest = rows(root, f"select applicationId from entrata.leads where _rooftop_sync_id = '{last_sync}' order by 1")
    assert [r[0] for r in latest] == sorted([*changed, added])
    assert rows(root, "select count(*) - count(distinct applicationId) from entrata.leads") == [(0,)]
    table = set(rows(root, "select applicationId, status from entrata.leads"))
    assert table == {(x["applicationId"], x["status"]) for x in replay.all_leads()}


def test_selected_properties_are_the_only_ones_requested_and_landed(make_workspace: WorkspaceFactory) -> None:
    replay = EntrataReplay(API_KEY, history_days=HISTORY)
    with serve(replay) as api:
        root = workspace(make_workspace, api, extra="properties: {include: [1001, 1003]}\n")
        sync(root)
        sent = calls(api)
    asked = {p.get("propertyId", p.get("propertyIds")) for s, p, _ in sent if s != "/properties"}
    assert asked == {1001, 1003}
    for table in ("units", "leases", "leads"):
        assert rows(root, f"select distinct propertyId from entrata.{table} order by 1") == [(1001,), (1003,)]
    assert rows(root, "select PropertyID from entrata.properties order by 1") == [(1001,), (1003,)]


def test_a_wrong_key_is_exit_2_naming_the_field_and_never_shown(make_workspace: WorkspaceFactory) -> None:
    wrong = "entrata-WRONG-key-0x99"
    with serve(EntrataReplay(API_KEY)) as api:
        root = workspace(make_workspace, api, key=wrong)
        checked, synced = cli(root, "check", "entrata"), cli(root, "sync", "entrata")
        history = json.loads(cli(root, "history", "entrata", "--json").stdout)
        log = cli(root, "logs", history[0]["sync_id"], "--json").output
        refused = api.count()
    assert (checked.exit_code, synced.exit_code) == (2, 2), checked.output + synced.output
    # One for check; the sync's streams already in flight (max_concurrency 4) may each send one before the
    # first refusal stops every later request: none is retried.
    assert 2 <= refused <= 5
    for result in (checked, synced):
        assert "source.config.api_key" in result.output
    stored = json.dumps(rows(root, "select * from _rooftop.sync_logs"), default=str)
    for text in (checked.output, synced.output, log, stored):
        assert wrong not in text


def test_a_429_burst_is_waited_out_and_the_sync_completes(make_workspace: WorkspaceFactory) -> None:
    replay = EntrataReplay(API_KEY, properties=2, history_days=HISTORY, max_per_second=8)
    with serve(replay) as api:
        root = workspace(make_workspace, api)
        sync(root)
    assert replay.throttled > 0  # the sync ran into the budget and waited out each Retry-After
    assert rows(root, "select count(*) from entrata.leads") == [(len(replay.all_leads()),)]
    assert rows(root, "select count(*) from entrata.leases") == [(18,)]


def test_an_error_inside_a_200_fails_the_stream_instead_of_reading_as_empty(make_workspace: WorkspaceFactory) -> None:
    with serve(EntrataReplay(API_KEY, history_days=HISTORY)) as api:
        root = workspace(make_workspace, api)
        sync(root)
        api.inject(f"{ROOT}/leases", Reply(body={"response": {"requestId": "rooftop", "code": 500,
                                                              "error": {"code": 500, "message": "Internal"}}}))
        failed = cli(root, "sync", "entrata")
    assert failed.exit_code == 3 and "error in the body" in failed.output  # transient: Dagster retries it
    assert rows(root, "select count(*) from entrata.leases") == [(45,)]  # the old table stays whole



def test_model_unified_lands_entrata_as_the_unified_tables(make_workspace: WorkspaceFactory) -> None:
    replay = EntrataReplay(API_KEY, properties=2, history_days=HISTORY)
    with serve(replay) as api:
        root = workspace(make_workspace, api)
        text = (root / "connections" / "entrata.yaml").read_text()
        (root / "connections" / "entrata.yaml").write_text("model: unified\n" + text.split("streams:\n")[0])
        sync(root)
    normal = {"Current": "ACTIVE", "Notice": "ACTIVE", "Future": "PENDING", "Applicant": "PENDING",
              "Past": "INACTIVE", "Cancelled": "INACTIVE"}
    served = {f"entrata:entrata:{x['id']}": (f"entrata:entrata:{x['propertyId']}", f"entrata:entrata:{x['unitId']}",
                                             x["leaseIntervalStatus"], normal[x["leaseIntervalStatus"]],
                                             f"entrata:entrata:{x['customers']['customer'][0]['id']}")
              for leases in replay.leases.values() for x in leases}
    landed = rows(root, "select id, property_id, unit_id, status, status_normalized, resident_id "
                        "from entrata_unified.leases")
    assert {r[0]: r[1:] for r in landed} == served
    # Foreign keys join: every lease's unit, property and resident is a landed row.
    assert rows(root, "select count(*) from entrata_unified.leases l join entrata_unified.units u on u.id = l.unit_id "
                      "join entrata_unified.properties p on p.id = l.property_id "
                      "join entrata_unified.residents r on r.id = l.resident_id") == [(18,)]
    assert rows(root, "select name, city from entrata_unified.properties order by id")[0] == (
        replay.properties[0]["MarketingName"], replay.properties[0]["Address"]["City"])
