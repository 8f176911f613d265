"""What Rentvine accepts when Rooftop writes to it, and how a write becomes Rentvine's request.

Rentvine's Manager API writes with POST: `POST /tenants/{contactID}` updates a tenant contact
(named by Propexo's public Rentvine reference, which lists the Manager API calls it makes), and the
public `Launch-Engine/rentvine` client posts a record wrapped under its type, as the listings
answer it (`POST properties/{id}` with `{"property": {...}}`). So an update of `tenants` posts
`{"contact": {<changed fields>}}`. Only a contact's own name fields are declared: Rentvine keeps a
tenant's emails, phones and addresses as child records with their own ids and endpoints
(`/tenants/{contactID}/emails/{emailID}`, `.../phones/{contactPhoneID}`), which the tenant listing
Rooftop reads does not carry, so `email` and `phone` are not writable here. Field names are
Rentvine's (the `tenants` stream's); every request goes through the connection's HTTP client
(Basic auth, rate limit, retries).
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

TENANT_UPDATE = {"firstName": WriteField(FieldType.STRING), "middleName": WriteField(FieldType.STRING),
                 "lastName": WriteField(FieldType.STRING)}

WRITE_DECLARATION = WriteDeclaration(system="rentvine", resources={
    "tenants": ResourceWrites({WriteOperation.UPDATE: TENANT_UPDATE}),
})

PATHS = {"tenants": "/tenants"}
WRAPPERS = {"tenants": "contact"}
"""The key a write body wraps its record under: the type the listing wraps it under."""


def send_write(http: HttpClient, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
    """Rentvine's request for a validated update: POST of the changed fields to the record's path."""
    if record_id is None:
        raise ConfigError(f"rentvine: an update of {write.resource} needs a record id")
    wrapper = WRAPPERS[write.resource]
    response = http.request("POST", f"{PATHS[write.resource]}/{record_id}", json={wrapper: write.payload},
                            stream=write.resource)
    answer: Any = response.json()
    return WriteResponse(status=response.status_code, record_id=record_id, body=answer)
