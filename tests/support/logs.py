"""Test isolation for the `rooftop` logger.

`rooftop` CLI runs (tests of the CLI) configure that logger with a handler bound to the stderr of the
moment, which pytest closes when the test ends; a later test in the same worker that logs through
it would fail on the closed stream, and records would not propagate to `caplog`. So every test
starts from the logger's defaults: tests/conftest.py registers this module as a plugin, which makes
`fresh_rooftop_logger` autouse for the whole suite.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def fresh_rooftop_logger() -> Iterator[None]:
    logger = logging.getLogger("rooftop")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    for handler in saved[0]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    try:
        yield
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in saved[0]:
            logger.addHandler(handler)
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
