"""The YAML reference must mention every key the models accept, so docs cannot fall behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from pipelines.config.models import (
    ConnectionConfig,
    CronSchedule,
    EnumMap,
    IntervalSchedule,
    Notify,
    PropertySelection,
    RateLimit,
    Retention,
    Retries,
    StreamConfig,
    WeekSlot,
)

DOC = (Path(__file__).resolve().parents[1] / "docs" / "connection-yaml.md").read_text()


@pytest.mark.parametrize("model", [ConnectionConfig, StreamConfig, Retries, RateLimit, EnumMap, CronSchedule,
                                   IntervalSchedule, WeekSlot, PropertySelection, Notify, Retention],
                         ids=lambda m: m.__name__)
def test_every_key_is_documented(model: type[BaseModel]) -> None:
    missing = [name for name in model.model_fields if f"`{name}`" not in DOC and f"{name}:" not in DOC
               and f"{{{name}" not in DOC and f", {name}" not in DOC]
    assert missing == []
