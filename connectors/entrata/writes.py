"""What Entrata accepts when Rooftop writes to it, and how a write becomes Entrata's RPC call.

Entrata writes the way it reads: one JSON envelope POSTed to a service path. From Entrata's API
definition as generated into the public client `mo05mAn/entrata_api_client`: `updateCustomers`
(version r1) at `/customers` takes the customer's `id` (required; the customer must be at least an
applicant) and optional fields, and answers `result.customers.customer[]` with a status and message
per customer. Only the name, email and birth date fields are declared: the client types phone
numbers and postal codes as integers and pairs them with type ids (`phoneNumberTypeId`,
`addressTypeId`) whose values it does not list, so those are not offered until confirmed.

The resource is `customers`: Entrata's customers are not a stream of their own here but ride inside
each lease (`leases.customers`), so the declaration names `leases` as the stream to re-read after a
write (`refresh_streams`): the warehouse shows the change right after it; and where a customer's id
sits in a lease (`ids_in`), so a bare customer id without `?connection=` is found in the leases
table. Entrata reports a failed call inside a 200 (`response.error`), which becomes a ConfigError
naming the call, as another vendor's 400 does. Dates are `MM/DD/YYYY` at Entrata; a Rooftop `date`
is ISO and is converted.
"""

from __future__ import annotations

from datetime import date
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

_S = FieldType.STRING
CUSTOMER_UPDATE = {"firstName": WriteField(_S), "middleName": WriteField(_S), "lastName": WriteField(_S),
                   "namePrefix": WriteField(_S), "nameSuffix": WriteField(_S), "maidenName": WriteField(_S),
                   "email": WriteField(_S), "birthDate": WriteField(FieldType.DATE)}

WRITE_DECLARATION = WriteDeclaration(system="entrata", resources={
    # Customers ride inside each lease (`leases.customers`): the lease stream is what shows a change.
    # A bare customer id is looked up there too: each lease's `customers.customer[].id`.
    "customers": ResourceWrites({WriteOperation.UPDATE: CUSTOMER_UPDATE}, refresh_streams=("leases",),
                                ids_in={"leases": "customers.customer.id"}),
})

CALLS = {"customers": ("/customers", "updateCustomers", "r1")}
"""Resource -> (service path, method name, version) of its update."""
REQUEST_ID = "rooftop-write"


def _entrata_value(name: str, value: Any) -> Any:
    if value is not None and CUSTOMER_UPDATE[name].type is FieldType.DATE:
        try:
            return f"{date.fromisoformat(value):%m/%d/%Y}"
        except ValueError:
            raise ConfigError(f"customers.{name}: entrata expects an ISO date (YYYY-MM-DD), got {value!r}") from None
    return value


def send_write(http: HttpClient, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
    """Entrata's call for a validated update: the method's envelope with the record's id and the changes."""
    if record_id is None or not record_id.isdigit():
        raise ConfigError(f"entrata: an update of {write.resource} needs the numeric {write.resource} id")
    path, name, version = CALLS[write.resource]
    params = {"id": int(record_id), **{k: _entrata_value(k, v) for k, v in write.payload.items()}}
    body = {"auth": {"type": "apikey"}, "requestId": REQUEST_ID,
            "method": {"name": name, "version": version, "params": params}}
    response = http.request("POST", path, json=body, stream=write.resource)
    answer = response.json()
    error = (answer.get("response") or {}).get("error") if isinstance(answer, dict) else None
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        raise ConfigError(f"entrata {name} refused the update of {write.resource} {record_id}: {message}")
    return WriteResponse(status=response.status_code, record_id=record_id, body=answer)
