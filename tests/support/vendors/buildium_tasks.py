"""The task endpoints of the Buildium replay: GET and PUT of one task per task type, as Buildium's spec has them.

A work order's `Status`, `Priority`, `Title` and `DueDate` are its task's. The replay keeps one full
task message per task of its work orders (`ResidentRequestTaskMessage` shape: category, property,
unit, assignee, status...) and serves `GET`/`PUT /v1/tasks/{residentrequests,todorequests,
rentalownerrequests,contactrequests}/{id}`; a task is found only under its own type's path (404
otherwise, as Buildium's ids are per type). A PUT is checked like the spec's `*TaskPutMessage`:
required properties (`Title`, `TaskStatus`, `Priority`; `AssignedToUserId` for to-dos and contact
requests), the properties each type takes, the status and priority enumerations and the due date's
format; it replaces the task and changes every work order of the task (its `Task` and its own
status, priority, title and due date), stamped now so the next incremental work-order read sees it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from connectors.sdk.replay import Reply, Request

if TYPE_CHECKING:
    from tests.support.vendors.buildium import BuildiumApi

TYPES = {"residentrequests": "ResidentRequest", "todorequests": "Todo", "rentalownerrequests": "RentalOwnerRequest",
         "contactrequests": "ContactRequest"}
COMMON = {"Title", "Message", "CategoryId", "SubCategoryId", "AssignedToUserId", "TaskStatus", "Priority", "DueDate"}
ALLOWED = {"ResidentRequest": COMMON, "Todo": COMMON | {"PropertyId", "UnitId"},
           "RentalOwnerRequest": COMMON | {"PropertyId", "UnitId"},
           "ContactRequest": COMMON | {"PropertyId", "UnitId", "ContactDetail"}}
REQUIRED = {"ResidentRequest": ("Title", "TaskStatus", "Priority"),
            "Todo": ("Title", "TaskStatus", "Priority", "AssignedToUserId"),
            "RentalOwnerRequest": ("Title", "TaskStatus", "Priority"),
            "ContactRequest": ("Title", "TaskStatus", "Priority", "AssignedToUserId", "ContactDetail")}
STATUSES = ("New", "InProgress", "Completed", "Deferred", "Closed")
PRIORITIES = ("Low", "Normal", "High")
CATEGORIES = {3: "Maintenance", 4: "Plumbing"}


class BuildiumTasks:
    """Full task messages for the tasks of `api`'s work orders, and their GET/PUT route."""

    def __init__(self, api: BuildiumApi) -> None:
        self.api = api
        self.tasks: dict[int, dict[str, Any]] = {}
        for order in api.records["work_orders"]:
            task = order["Task"]
            unit = task["UnitId"]
            self.tasks.setdefault(task["Id"], {
                "Id": task["Id"], "TaskType": task["Type"], "Category": {"Id": 3, "Name": CATEGORIES[3],
                                                                          "Href": "/v1/tasks/categories/3",
                                                                          "SubCategory": None},
                "Title": task["Title"], "Description": "Reported by the resident.",
                "Property": {"Id": unit // 100, "Type": "Rental", "Href": f"/v1/rentals/{unit // 100}"},
                "UnitId": unit, "UnitAgreement": task["UnitAgreement"], "AssignedToUserId": 12,
                "TaskStatus": task["Status"], "Priority": task["Priority"], "DueDate": task["DueDate"]})

    def __call__(self, request: Request) -> Reply:
        parts = request.path.removeprefix("/v1/tasks/").split("/")
        task_type = TYPES.get(parts[0]) if len(parts) == 2 else None
        with self.api.lock:
            task = self.tasks.get(int(parts[1])) if task_type and parts[1].isdigit() else None
            if task is None or task["TaskType"] != task_type or request.method not in ("GET", "PUT"):
                return _error(404, f"No resource {request.method} {request.path}", "NotFound")
            if request.method == "GET":
                return Reply(body={k: v for k, v in task.items() if k != "TaskType"})
        try:
            body = json.loads(request.body)
            problem = _invalid(task_type, body)
        except ValueError:
            problem = "The request body is not valid JSON."
        if problem:
            return _error(400, problem, "BadRequest")
        category = body.get("CategoryId")
        with self.api.lock:
            task.update(Title=body["Title"], TaskStatus=body["TaskStatus"], Priority=body["Priority"],
                        DueDate=body.get("DueDate"), AssignedToUserId=body.get("AssignedToUserId"),
                        Category=None if category is None else {"Id": category, "Name": CATEGORIES.get(category),
                                                                "Href": f"/v1/tasks/categories/{category}",
                                                                "SubCategory": None})
            orders = [o["Id"] for o in self.api.records["work_orders"] if o["Task"]["Id"] == task["Id"]]
        fields = {"Title": body["Title"], "Status": body["TaskStatus"], "Priority": body["Priority"],
                  "DueDate": body.get("DueDate")}
        for order_id in orders:
            order = next(o for o in self.api.records["work_orders"] if o["Id"] == order_id)
            self.api.update("work_orders", order_id, **fields, Task={**order["Task"], **fields})
        return Reply(body={k: v for k, v in task.items() if k != "TaskType"})


def _invalid(task_type: str, body: Any) -> str | None:
    """What Buildium answers 400 for in a task PUT message."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    missing = [name for name in REQUIRED[task_type] if body.get(name) in (None, "")]
    unknown = [name for name in body if name not in ALLOWED[task_type]]
    if missing or unknown:
        return f"Missing required properties {missing}; unknown properties {unknown}"
    if body["TaskStatus"] not in STATUSES or body["Priority"] not in PRIORITIES:
        return f"TaskStatus must be one of {', '.join(STATUSES)} and Priority one of {', '.join(PRIORITIES)}"
    if body.get("DueDate") is not None:
        try:
            date.fromisoformat(body["DueDate"])
        except (TypeError, ValueError):
            return "DueDate must be formatted as YYYY-MM-DD"
    return None


def _error(status: int, message: str, code: str) -> Reply:
    return Reply(status, {"UserMessage": message, "ErrorCode": code, "Errors": []})
