"""A Buildium work order's status, priority, title and due date belong to its task: how Rooftop changes them.

In Buildium's OpenAPI 3.0 (v1) a work order (`WorkOrderMessage`) shows `Status`, `Priority`,
`Title` and `DueDate`, but its PUT (`WorkOrderPutMessage`) has none of them: they are the fields of
the task the work order belongs to (`Task: {Id, Type}`), changed through that task type's own
endpoint (`PUT /v1/tasks/residentrequests/{id}`, `/todorequests/{id}`, `/rentalownerrequests/{id}`,
`/contactrequests/{id}`; there is no PUT of `/v1/tasks/{id}`). Closing a work order is therefore
`TaskStatus: "Closed"` on its task. Each task PUT replaces the task ("any field not included in the
update request will be set to either an empty string or null"; required: `Title`, `TaskStatus`,
`Priority`, and `AssignedToUserId` for to-dos and contact requests, `ContactDetail` for contact
requests), so Rooftop reads the task from the same path, rebuilds the PUT message from it and
applies the change. Every task of the work order's listing changes with it: a task can carry
several work orders.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.http.client import HttpClient
from protocol.errors import ConfigError

TASK_FIELDS = {"Status": "TaskStatus", "Priority": "Priority", "Title": "Title", "DueDate": "DueDate"}
"""A work order's field (as Buildium lists it, and as it lands in the warehouse) -> its task's PUT property."""
CHOICES = {"Status": ("New", "InProgress", "Completed", "Deferred", "Closed"), "Priority": ("Low", "Normal", "High")}
"""The enumerations of the task PUT messages (the work order's own `Unknown` values cannot be set);
declared as the fields' `choices` (connectors/buildium/writes.py), so a write is checked before it is sent."""
TASK_PATHS = {"ResidentRequest": "/v1/tasks/residentrequests", "Todo": "/v1/tasks/todorequests",
              "RentalOwnerRequest": "/v1/tasks/rentalownerrequests", "ContactRequest": "/v1/tasks/contactrequests"}
"""`WorkOrderTaskMessage.Type` -> the endpoint that updates that type of task."""
WITH_PROPERTY = ("Todo", "RentalOwnerRequest", "ContactRequest")
"""Task types whose PUT takes PropertyId and UnitId (a resident request's unit comes from its lease)."""


def task_changes(payload: dict[str, Any]) -> dict[str, Any]:
    """The task's part of a (validated) work-order update."""
    return {name: value for name, value in payload.items() if name in TASK_FIELDS}


def task_put_body(task_type: str, current: dict[str, Any]) -> dict[str, Any]:
    """The PUT message of a task of `task_type` that leaves `current` (a GET of the task) as it is."""
    category = current.get("Category") or {}
    body: dict[str, Any] = {
        "Title": current.get("Title"), "TaskStatus": current.get("TaskStatus"), "Priority": current.get("Priority"),
        "DueDate": current.get("DueDate"), "AssignedToUserId": current.get("AssignedToUserId"),
        "CategoryId": category.get("Id"), "SubCategoryId": (category.get("SubCategory") or {}).get("Id")}
    if task_type in WITH_PROPERTY:
        body["PropertyId"] = (current.get("Property") or {}).get("Id")
        body["UnitId"] = current.get("UnitId")
    if task_type == "ContactRequest":
        body["ContactDetail"] = current.get("ContactDetail")
    return {name: value for name, value in body.items() if value is not None}


def update_task(http: HttpClient, work_order: dict[str, Any], changes: dict[str, Any]) -> httpx.Response:
    """PUT the work order's task with `changes` (work-order field names), after reading it."""
    task = work_order.get("Task") or {}
    path = TASK_PATHS.get(str(task.get("Type")))
    if path is None or task.get("Id") is None:
        raise ConfigError(f"buildium: work order {work_order.get('Id')} has no task of a known type "
                          f"({task.get('Type')!r}): its {', '.join(changes)} cannot be changed")
    url = f"{path}/{task['Id']}"
    current = http.request("GET", url, stream="work_orders").json()
    body = task_put_body(str(task["Type"]), current)
    body.update({TASK_FIELDS[name]: value for name, value in changes.items()})
    return http.request("PUT", url, json=body, stream="work_orders")
