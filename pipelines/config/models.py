"""The connection YAML contract as pydantic models (version 1).

These models are what users write and what `rooftop schema` publishes for editors, so every field
has a default or is required on purpose, and unknown keys are rejected. Cross-checks that need the
source's catalog (stream names, cursor fields) live in `pipelines.engine.plan`, not here.
The `schedule:` forms live in `schedule_models` (re-exported here).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from pipelines.config.base import Model
from pipelines.config.schedule_models import WEEKDAYS as WEEKDAYS  # re-exported: the YAML contract's names
from pipelines.config.schedule_models import CronSchedule as CronSchedule
from pipelines.config.schedule_models import IntervalSchedule as IntervalSchedule
from pipelines.config.schedule_models import Schedule, SingleSchedule
from pipelines.config.schedule_models import WeekBasedSchedule as WeekBasedSchedule
from pipelines.config.schedule_models import WeekSchedule as WeekSchedule
from protocol.durations import DAY, Duration
from protocol.durations import parse_duration as parse_duration  # engine callers; values arrive parsed already
from protocol.types import SyncMode

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
SOURCE_NAMESPACE_VAR = "${SOURCE_NAMESPACE}"


class ConnectorRef(Model):
    connector: str = Field(description="A connector name listed by `rooftop connectors`.")
    config: dict[str, Any] = Field(default_factory=dict,
                                   description="The connector's own settings; see `rooftop connectors NAME`.")


class DestinationRef(ConnectorRef):
    connector: str = Field(default="duckdb", description="A destination listed by `rooftop connectors`.")


class Retries(Model):
    attempts: int = Field(default=3, ge=1, le=100, description="Total attempts of a failed sync, first included.")
    delay: Duration = Field(default=30, description="Wait before the first retry (a duration; default 30s).")
    backoff: Literal["constant", "linear", "exponential"] = "exponential"
    jitter: bool = True

    @property
    def delay_seconds(self) -> float:
        """`delay` (kept for pipelines.dagster.policies, which predates `Duration`)."""
        return self.delay


class RateLimit(Model):
    requests: int = Field(ge=1, description="Requests allowed per period, shared by all streams.")
    per: Literal["second", "minute", "hour"] = "second"


class EnumMap(Model):
    to: str | None = Field(default=None, description="Column for the mapped value; default: replace in place.")
    values: dict[str, str] = Field(min_length=1, description="Source value → normalised value.")
    default: str | None = Field(default=None, description="For unmapped values; else they become null and are "
                                                          "recorded.")

    @field_validator("values", mode="before")
    @classmethod
    def _stringify_keys(cls, value: Any) -> Any:
        # YAML reads `1: ONE` or `true: YES` with non-string keys; source values arrive as text.
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value


PrivacyAction = Literal["hash", "mask", "drop"]
MIN_SALT_CHARS = 16


class StreamConfig(Model):
    name: str
    sync_mode: SyncMode | None = Field(default=None, description="Default: the catalog's (deduped if it has a "
                                                                 "cursor and key).")
    cursor_field: str | None = None
    primary_key: list[str] | None = None
    fields: list[str] | None = Field(default=None, description="Columns to keep; primary key and cursor are "
                                                              "always kept.")
    start_date: date | None = Field(default=None, description="Only records whose cursor is on or after this day.")
    end_date: date | None = Field(default=None, description="Only records whose cursor is on or before this day.")
    lookback: Duration | None = Field(default=None, description="Re-read this much before the saved cursor "
                                                                "(late updates), e.g. '2 hours'. Default: the "
                                                                "connection's.")
    enum_maps: dict[str, EnumMap] = {}
    privacy: dict[str, PrivacyAction] = Field(
        default_factory=dict,
        description="Per field: hash (HMAC-SHA256 hex with the connection's privacy_salt: stable across syncs "
                    "and connections sharing the salt, so joins work), mask (a readable shape such as "
                    "j***@example.com or ***-***-1234, else ***) or drop (the column never lands). Applied "
                    "before anything is written or logged; a primary key may be hashed, a cursor takes none.")

    @field_validator("primary_key", mode="before")
    @classmethod
    def _single_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _dates(self) -> StreamConfig:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


class PropertySelection(Model):
    """Which properties a connection syncs, for sources whose records belong to properties."""

    include: list[str] = Field(default_factory=list, description="Property ids that are synced (enabled). Given "
                                                                 "alone, only these are synced: new properties "
                                                                 "default to pending.")
    exclude: list[str] = Field(default_factory=list, description="Property ids that are never synced (disabled).")
    new_properties: Literal["enabled", "pending"] = Field(
        default="enabled", description="Status of a property in neither list: enabled = synced; pending = "
                                       "recorded but not synced until enabled. Default: pending when `include` "
                                       "is given, else enabled.")

    @model_validator(mode="before")
    @classmethod
    def _include_means_only_those(cls, value: Any) -> Any:
        # An include list is an allow-list: a property that appears later waits for a decision
        # unless the file says `new_properties: enabled` as well.
        if isinstance(value, dict) and "include" in value and "new_properties" not in value:
            return {**value, "new_properties": "pending"}
        return value

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # Ids are compared as text: YAML reads `- 12` as a number, the API may send "12".
        return [str(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _disjoint(self) -> PropertySelection:
        both = sorted(set(self.include) & set(self.exclude), key=lambda v: (len(v), v))
        if both:
            raise ValueError(f"propert{'y' if len(both) == 1 else 'ies'} {', '.join(both)} listed in both "
                             "include and exclude")
        return self

    def status(self, property_id: str) -> Literal["enabled", "disabled", "pending"]:
        if property_id in self.exclude:
            return "disabled"
        if property_id in self.include or self.new_properties == "enabled":
            return "enabled"
        return "pending"


class Notify(Model):
    """A webhook that receives a JSON POST when a sync ends."""

    url: SecretStr = Field(description="http(s) URL; treated as a secret (webhook URLs often embed a token).")
    when: Literal["failure", "success", "always"] = "failure"
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Extra request headers (secret).")
    timeout_seconds: Duration = Field(default=10, gt=0, le=120, description="Per request phase; at most 2 minutes.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("the webhook url must start with http:// or https://")
        return value


class Retention(Model):
    """How long `_rooftop` keeps a connection's history; older rows are pruned at each sync."""

    history: Duration = Field(default=90 * DAY, description="Sync history and the structured log of each sync "
                                                            "(default 90 days).")
    diffs: Duration = Field(default=30 * DAY, description="Row-level changes of deduplicated streams "
                                                          "(default 30 days; `0 days` = do not record diffs).")


class WriteJob(Model):
    """A warehouse-driven write (reverse ETL): rows of a SQL query sent to the source (docs/write-back.md)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63, description="Unique within the connection.")
    sql: str = Field(min_length=1, description="A read-only query over the connection's warehouse; one row per "
                                               "record to write.")
    resource: str = Field(description="The source resource written, e.g. residents.")
    operation: Literal["create", "update"] = "update"
    key: str = Field(description="The query column holding the record's id (vendor id, or Rooftop's id of this "
                                 "connection).")
    fields: dict[str, str] | None = Field(default=None, description="Query column → field sent; default: every "
                                                                    "column but the key, same names.")
    schedule: SingleSchedule = "manual"
    max_attempts: int = Field(default=3, ge=1, le=100, description="Sends of one row's payload that may fail, "
                                                                   "one per run, before it is given up.")


class ConnectionConfig(Model):
    """One connection: source → destination, which streams, how, when and where."""

    version: Literal[1] = 1
    # 63: the longest identifier Postgres keeps; a name also becomes Dagster job, schedule and pool names.
    name: str = Field(pattern=NAME_PATTERN, max_length=63,
                      description="Unique in the workspace: [a-z][a-z0-9_]*, at most 63 characters")
    description: str = ""
    environment: Literal["sandbox", "production"] = "production"
    active: bool = Field(default=True, description="false = paused: definitions load, schedule off, syncs refused.")
    allow_manual_syncs: bool = Field(default=True, description="false = only the schedule may start a sync.")
    owners: list[str] = Field(default_factory=list, description="Dagster asset owners (emails or team:name).")
    tags: dict[str, str] = Field(default_factory=dict, description="Dagster asset/job tags.")
    source: ConnectorRef
    destination: DestinationRef = DestinationRef()
    model: Literal["native", "unified"] = Field(
        default="native", description="native = the source's own streams; unified = the same tables whatever "
                                      "the PMS (properties, units, residents, leases, work_orders).")
    namespace: str = Field(default="source", description="source | destination | a name, may use ${SOURCE_NAMESPACE}")
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$")
    schedule: Schedule = "manual"
    retries: Retries = Retries()
    rate_limit: RateLimit | None = None
    max_concurrency: int = Field(default=4, ge=1, le=64)
    schema_changes: Literal["propagate", "ignore", "fail"] = "propagate"
    initial_window: Duration | None = Field(default=None, description="First sync of an incremental stream (no "
                                            "saved cursor) reads only this far back, e.g. '30 days'.")
    lookback: Duration | None = Field(default=None, description="Default `lookback` of every stream.")
    properties: PropertySelection | None = Field(default=None, description="Property selection (sources "
                                                 "organised by property). Omit to sync every property.")
    notify: list[Notify] = Field(default_factory=list, description="Webhooks called when a sync ends.")
    privacy_salt: SecretStr | None = Field(
        default=None, description="Secret key of the streams' `privacy: {field: hash}` rules (write it as a "
                                  "${VAR}; at least 16 characters; masked everywhere). Required when any field "
                                  "is hashed; connections with the same salt hash a value the same.")
    retention: Retention = Retention()
    streams: list[StreamConfig] | None = Field(default=None, description="Omit to sync every stream of the catalog.")
    writes: list[WriteJob] = Field(default_factory=list, description="Warehouse-driven write jobs (reverse ETL).")

    @field_validator("writes")
    @classmethod
    def _unique_write_jobs(cls, value: list[WriteJob]) -> list[WriteJob]:
        names = [job.name for job in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"write job {twice[0]!r} is listed twice")
        return value

    @field_validator("notify", mode="before")
    @classmethod
    def _one_webhook(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("privacy_salt")
    @classmethod
    def _long_salt(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SALT_CHARS:
            raise ValueError(f"privacy_salt must be at least {MIN_SALT_CHARS} characters (a short key makes "
                             "hashed values easy to guess)")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if value in ("source", "destination"):
            return value
        rendered = value.replace(SOURCE_NAMESPACE_VAR, "src")
        if "${" in rendered:
            raise ValueError(f"namespace {value!r} may only use ${{SOURCE_NAMESPACE}}")
        if not IDENTIFIER.match(rendered):
            raise ValueError(f"namespace {value!r} is not 'source', 'destination' or a valid schema name "
                             "(letters, digits, underscores)")
        return value

    @field_validator("streams")
    @classmethod
    def _unique_streams(cls, value: list[StreamConfig] | None) -> list[StreamConfig] | None:
        seen: set[str] = set()
        for stream in value or []:
            if stream.name in seen:
                raise ValueError(f"stream {stream.name!r} is listed twice")
            seen.add(stream.name)
        return value
