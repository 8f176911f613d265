"""The shared HTTP layer of every REST source: one client per connection with retries, a rate limiter,
bounded concurrency, authentication and pagination, so each vendor connector is configuration only.

`client.HttpClient` sends requests (retry/backoff/Retry-After, error mapping); `throttle` paces them
for the connection; `auth` and `paginators` hold both the YAML models and what runs them.

Importing this package first keeps httpx's command-line client out of the process: `import httpx`
imports `httpx._main` (click, rich.syntax, pygments: ~60 ms of CPU, a tenth of a sync's start-up)
whenever those happen to be installed, and they are in Rooftop's venv. `_SkipHttpxCli` makes that
one optional import fail as if they were not (httpx then defines a `main` that says how to install
them), and leaves `sys.meta_path` when it has. Nothing in Rooftop runs httpx's CLI. Every module
that imports httpx for a sync comes through here first (rest_api and each vendor's config import
`connectors.http.*`); if something imported httpx earlier, this changes nothing.
"""

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_HTTPX_CLI = "httpx._main"


class _SkipHttpxCli:
    """A meta path finder that refuses `httpx._main` once, then removes itself."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != _HTTPX_CLI:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        raise ModuleNotFoundError(f"{_HTTPX_CLI} is not needed by Rooftop", name=name)


if "httpx" not in sys.modules and not any(isinstance(f, _SkipHttpxCli) for f in sys.meta_path):
    sys.meta_path.insert(0, _SkipHttpxCli())
