"""Package attributes imported on first use, so importing a connector package costs nothing.

Loading a workspace imports each connector's package to read its config model, and a package that
imported its source or destination class up front would bring that class's runtime (httpx,
pyarrow, a database driver) into `rooftop validate --offline` and `status`. A package instead sets
`__getattr__ = lazy_exports(__name__, {...})` (PEP 562) and imports the same names under
TYPE_CHECKING for mypy: `from connectors.rest_api import RestApiSource` and entry points such as
`connectors.rest_api:RestApiSource` work as before, importing the module when the name is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that imports each name of `where` from its module."""

    def __getattr__(name: str) -> object:  # noqa: N807 - the name PEP 562 looks up
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
