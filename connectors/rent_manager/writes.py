"""What Rent Manager 12 accepts when Rooftop writes to it, and how a write becomes its request.

Rent Manager's Web API saves a record by POSTing the object (or a list of them) to the
collection endpoint (`POST /Tenants`, `POST /Units`, `POST /ServiceManagerIssues`): an object
carrying its key (`TenantID`) updates that record, one without creates it, and the answer is the
saved objects. A save sends only the properties it changes, so an update is one request with the
key and the write's fields; no read-merge as Buildium's full-replacement PUTs need. Field names are
Rent Manager's own (those of the connector's streams, so a written value lands in the warehouse
column of the same name). Computed or system-kept properties (`Name` of a tenant, `UpdateDate`,
`IsVacant`, `IsClosed`) are not declared. Unverified against a live API: see
docs/connectors/rent_manager.md#writes.
"""

from __future__ import annotations

from typing import Any

from connectors.http.client import HttpClient
from protocol.errors import ConfigError
from protocol.writes import (
    FieldType,
    ResourceWrites,
    ValidatedWrite,
    WriteDeclaration,
    WriteField,
    WriteOperation,
    WriteResponse,
)

_S, _I, _N, _D = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.DATE


def _create(update: dict[str, WriteField], *required: str) -> dict[str, WriteField]:
    """The create fields: the update's plus the owning property, with `required` ones marked."""
    fields = {"PropertyID": WriteField(_I), **update}
    return {name: WriteField(spec.type, required=name in required) for name, spec in fields.items()}


TENANT_UPDATE = {"FirstName": WriteField(_S), "LastName": WriteField(_S), "Status": WriteField(_S)}
UNIT_UPDATE = {"Name": WriteField(_S), "Comment": WriteField(_S), "SquareFootage": WriteField(_N),
               "UnitTypeID": WriteField(_I)}
ISSUE_UPDATE = {"Title": WriteField(_S), "Description": WriteField(_S), "StatusID": WriteField(_I),
                "PriorityID": WriteField(_I), "CategoryID": WriteField(_I), "UnitID": WriteField(_I),
                "TenantID": WriteField(_I), "DueDate": WriteField(_D)}

WRITE_DECLARATION = WriteDeclaration(system="rent_manager", resources={
    "tenants": ResourceWrites({WriteOperation.UPDATE: TENANT_UPDATE,
                               WriteOperation.CREATE: _create(TENANT_UPDATE, "PropertyID", "LastName")}),
    "units": ResourceWrites({WriteOperation.UPDATE: UNIT_UPDATE,
                             WriteOperation.CREATE: _create(UNIT_UPDATE, "PropertyID", "Name", "UnitTypeID")}),
    "service_manager_issues": ResourceWrites({
        WriteOperation.UPDATE: ISSUE_UPDATE,
        WriteOperation.CREATE: _create(ISSUE_UPDATE, "PropertyID", "Title", "CategoryID")}),
})

RESOURCES = {"tenants": ("Tenants", "TenantID"), "units": ("Units", "UnitID"),
             "service_manager_issues": ("ServiceManagerIssues", "ServiceManagerIssueID")}
"""A writable stream -> its Rent Manager collection and key."""


def send_write(http: HttpClient, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
    """Rent Manager's save for a validated write: the object POSTed to its collection, with its key on update."""
    collection, key = RESOURCES[write.resource]
    body: dict[str, Any] = dict(write.payload)
    if write.operation is WriteOperation.UPDATE:
        if record_id is None or not record_id.isdigit():
            raise ConfigError(f"rent_manager: an update of {write.resource} needs a numeric {key}, got {record_id!r}")
        body = {key: int(record_id), **body}
    response = http.request("POST", f"/{collection}", json=[body], stream=write.resource)
    answer = response.json()
    saved = answer[0] if isinstance(answer, list) and answer else answer
    saved_id = saved.get(key, record_id) if isinstance(saved, dict) else record_id
    return WriteResponse(status=response.status_code, record_id=str(saved_id), body=answer)
