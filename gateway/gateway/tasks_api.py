"""`/api/v1/tasks`: who does what by when; overdue lists per assignee and department."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.openapi import contract_value, crud, page_of, query_parameters, read_only
from gateway.routing import STAFF, V1, check_owner


class TasksApi:
    @api("POST", f"{V1}/tasks")
    def create_task(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("assignee_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        check_owner(self.db, caller, data, "assignee_id")
        task = self.interactions.create_task(data)
        return entity_response(task, 201, f"{V1}/tasks/{task['id']}")

    # Before `/tasks/<id>`, though werkzeug prefers the static segment anyway.
    @api("GET", f"{V1}/tasks/overdue")
    def list_overdue_tasks(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_overdue_tasks(query_args(request))

    @api("GET", f"{V1}/tasks/<string:task_id>")
    def get_task(self, request, task_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.interactions.get_task(task_id))

    @api("PATCH", f"{V1}/tasks/<string:task_id>")
    def update_task(self, request, task_id):
        caller = self.auth.require(request, *STAFF)
        changes = json_body(request)
        check_owner(self.db, caller, changes, "assignee_id")
        return entity_response(self.interactions.update_task(task_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/tasks/<string:task_id>")
    def delete_task(self, request, task_id):
        self.auth.require(request, *STAFF)
        self.interactions.delete_task(task_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/tasks")
    def list_tasks(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_tasks(query_args(request))

    @staticmethod
    def describe(spec):
        spec.publish("Task", "interactions", "TaskSchema")
        query = spec.contract_schema("interactions", "TaskQuerySchema")
        sorts = tuple(contract_value("interactions", "TASK_SORTS"))
        crud(spec, f"{V1}/tasks", "Task", "tasks", query=query, sorts=sorts)
        read_only(
            spec,
            f"{V1}/tasks/overdue",
            "tasks",
            "Open tasks past their due time, most overdue first",
            page_of("Task")["content"]["application/json"]["schema"],
            query_parameters(spec.contract_schema("interactions", "OverdueQuerySchema"), ("due_at",)),
        )
