"""What a sync costs beyond its own streams: no sampling of other streams, cached schemas, one parent list.

A real server on 127.0.0.1 counts requests per path:
- with current cached schemas, `rooftop sync --stream leases` requests /leases only;
- a stream whose config changed since its schema was cached is sampled again (the cache is keyed);
- `discover(streams=...)`, what a sync of some streams needs, samples none of the others even cold;
- two child streams of `properties` list the properties once per sync, not once each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from connectors.rest_api import RestApiConfig, RestApiSource
from pipelines.cli.app import app
from pipelines.engine.runner import run_sync
from tests.conftest import WorkspaceFactory, connection
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

PROPERTIES = [{"id": 1, "name": "Elm"}, {"id": 2, "name": "Oak"}]


def route(request: Request) -> Reply:
    parts = request.path.strip("/").split("/")
    if parts == ["properties"]:
        return Reply(body=PROPERTIES)
    if parts == ["leases"]:
        return Reply(body=[{"id": 10, "rent": 1200.0}, {"id": 11, "rent": 900.0}])
    if parts == ["owners"]:
        return Reply(body=[{"id": 7, "name": "A. Owner"}])
    if len(parts) == 3 and parts[0] == "properties":
        pid = int(parts[1])
        return Reply(body=[{"id": pid * 100 + n, "kind": parts[2]} for n in range(2)])
    return Reply(status=404, body={"message": "no such path"})


STREAMS = """\
      - {{name: properties, path: /properties, primary_key: id, schema: {{id: int64, name: string}}}}
      - {{name: leases, path: /leases, primary_key: id, params: {{status: "{status}"}}}}
      - {{name: owners, path: /owners, primary_key: id}}
      - name: units
        path: /properties/{{property.id}}/units
        primary_key: id
        parent: {{stream: properties, alias: property}}
      - name: work_orders
        path: /properties/{{property.id}}/work_orders
        primary_key: id
        parent: {{stream: properties, alias: property}}
"""
CONN = """\
name: pms
source:
  connector: rest_api
  config:
    base_url: "{url}"
    records: $
    streams:
{streams}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
max_concurrency: 2
"""


def workspace(make_workspace: WorkspaceFactory, url: str, status: str = "current") -> Path:
    return make_workspace(CONN.format(url=url, streams=STREAMS.format(status=status)), name="pms")


def paths(api: TestApi, since: int = 0) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in api.requests[since:]:
        counts[request.path] = counts.get(request.path, 0) + 1
    return counts


def test_sync_of_one_stream_requests_no_other_endpoint(make_workspace: WorkspaceFactory) -> None:
    with TestApi(route) as api:
        root = workspace(make_workspace, api.url)
        # Even the very first sync (nothing cached) of one stream samples and reads that stream only.
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "pms", "--stream", "leases"])
        assert result.exit_code == 0, result.output
        assert set(paths(api)) == {"/leases"}
        run_sync(connection(root, "pms"))  # a whole sync infers and caches every schema
        seen = len(api.requests)
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "pms", "--stream", "leases"])
        assert result.exit_code == 0, result.output
        assert paths(api, seen) == {"/leases": 1}

        # The leases stream's config changed: its cached schema is stale and sampled again when leases are
        # read; a sync of owners alone does not touch it.
        root = workspace(make_workspace, api.url, status="past")
        seen = len(api.requests)
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "pms", "--stream", "owners"])
        assert result.exit_code == 0, result.output
        assert paths(api, seen) == {"/owners": 1}
        seen = len(api.requests)
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "pms", "--stream", "leases"])
        assert result.exit_code == 0, result.output
        assert paths(api, seen) == {"/leases": 2}  # the stale schema sampled again, then the read


def test_discover_for_some_streams_samples_only_those(tmp_path: Path) -> None:
    with TestApi(route) as api:
        config = RestApiConfig.model_validate(_source_config(api.url))
        with RestApiSource(config, root=tmp_path) as source:
            catalog = source.discover(streams={"leases"})
            assert paths(api) == {"/leases": 1}
            owners = catalog.get("owners")
            assert owners is not None and owners.schema.names == ["id"]  # a stand-in: its key only
            # Nothing of the stand-in was cached: a full discover samples the others now.
            assert set(source.discover().get("owners").schema.names) == {"id", "name"}  # type: ignore[union-attr]


def _source_config(url: str) -> dict[str, Any]:
    streams = yaml.safe_load(STREAMS.format(status="current"))
    return {"base_url": url, "records": "$", "streams": streams}


def test_the_parent_list_is_read_once_per_sync(make_workspace: WorkspaceFactory) -> None:
    with TestApi(route) as api:
        root = workspace(make_workspace, api.url)
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "pms", "--stream", "units",
                                          "--stream", "work_orders"])
        assert result.exit_code == 0, result.output
        counts = paths(api)
    # Discovery sampled both children (cold cache) and the sync read both, from one properties list.
    assert counts["/properties"] == 1
    assert counts["/properties/1/units"] == counts["/properties/1/work_orders"] == 2
