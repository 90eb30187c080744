"""`/api/v1/tickets` and `/api/v1/sla-policies`: requests and complaints, and their SLA targets."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.openapi import ID_PARAM, action, contract_value, crud, page_of, query_parameters, read_only, ref
from gateway.routing import STAFF, V1, check_owner


class TicketsApi:
    @api("POST", f"{V1}/tickets")
    def create_ticket(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("department_id", caller.department_id)
        check_owner(self.db, caller, data, "assignee_id")
        ticket = self.interactions.create_ticket(data)
        return entity_response(ticket, 201, f"{V1}/tickets/{ticket['id']}")

    @api("GET", f"{V1}/tickets/<string:ticket_id>")
    def get_ticket(self, request, ticket_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.interactions.get_ticket(ticket_id))

    @api("PATCH", f"{V1}/tickets/<string:ticket_id>")
    def update_ticket(self, request, ticket_id):
        caller = self.auth.require(request, *STAFF)
        changes = json_body(request)
        check_owner(self.db, caller, changes, "assignee_id")
        return entity_response(self.interactions.update_ticket(ticket_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/tickets/<string:ticket_id>")
    def delete_ticket(self, request, ticket_id):
        self.auth.require(request, *STAFF)
        self.interactions.delete_ticket(ticket_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/tickets")
    def list_tickets(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_tickets(query_args(request))

    @api("POST", f"{V1}/tickets/<string:ticket_id>/comments")
    def comment_ticket(self, request, ticket_id):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data["author_id"] = caller.user_id  # the author is who is signed in, never what the body says
        comment = self.interactions.comment_ticket(ticket_id, data)
        return 201, comment

    @api("GET", f"{V1}/tickets/<string:ticket_id>/comments")
    def list_ticket_comments(self, request, ticket_id):
        self.auth.require(request, *STAFF)
        return self.interactions.list_ticket_comments(ticket_id, query_args(request))

    @api("POST", f"{V1}/tickets/<string:ticket_id>/transitions")
    def transition_ticket(self, request, ticket_id):
        self.auth.require(request, *STAFF)
        ticket = self.interactions.transition_ticket(ticket_id, json_body(request), expected_version(request))
        return entity_response(ticket)

    # -- SLA policies: one per department ------------------------------------------------------

    @api("POST", f"{V1}/sla-policies")
    def create_sla_policy(self, request):
        self.auth.require(request, "admin", "manager")
        policy = self.interactions.create_sla_policy(json_body(request))
        return entity_response(policy, 201, f"{V1}/sla-policies/{policy['id']}")

    @api("GET", f"{V1}/sla-policies/<string:policy_id>")
    def get_sla_policy(self, request, policy_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.interactions.get_sla_policy(policy_id))

    @api("PATCH", f"{V1}/sla-policies/<string:policy_id>")
    def update_sla_policy(self, request, policy_id):
        self.auth.require(request, "admin", "manager")
        changes = json_body(request)
        return entity_response(self.interactions.update_sla_policy(policy_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/sla-policies/<string:policy_id>")
    def delete_sla_policy(self, request, policy_id):
        self.auth.require(request, "admin", "manager")
        self.interactions.delete_sla_policy(policy_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/sla-policies")
    def list_sla_policies(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_sla_policies(query_args(request))

    @staticmethod
    def describe(spec):
        spec.publish("Ticket", "interactions", "TicketSchema")
        spec.publish("TicketComment", "interactions", "CommentSchema")
        author = spec.components.schemas["TicketComment"]["properties"]["author_id"]
        author["readOnly"] = True  # the caller, whatever a body says (see comment_ticket)
        spec.publish("TicketTransition", "interactions", "TicketTransitionSchema")
        spec.publish("SlaPolicy", "interactions", "SlaPolicySchema")
        query = spec.contract_schema("interactions", "TicketQuerySchema")
        sorts = tuple(contract_value("interactions", "TICKET_SORTS"))
        crud(spec, f"{V1}/tickets", "Ticket", "tickets", query=query, sorts=sorts)
        item = f"{V1}/tickets/{{id}}"
        action(
            spec,
            f"{item}/comments",
            "tickets",
            "Add a comment (internal or customer-facing)",
            ref("TicketComment"),
            ref("TicketComment"),
            "201",
        )
        read_only(
            spec,
            f"{item}/comments",
            "tickets",
            "The ticket's comments, a page at a time, oldest first",
            page_of("TicketComment")["content"]["application/json"]["schema"],
            [*ID_PARAM, *query_parameters(spec.contract_schema("interactions", "CommentQuerySchema"), ("created_at",))],
        )
        action(
            spec,
            f"{item}/transitions",
            "tickets",
            "Move through the workflow: new -> open <-> pending, open -> resolved -> closed, "
            "resolved|closed -> open; 409 names a move that is not allowed",
            ref("TicketTransition"),
            ref("Ticket"),
        )
        policies = spec.contract_schema("interactions", "SlaPolicyQuerySchema")
        crud(
            spec,
            f"{V1}/sla-policies",
            "SlaPolicy",
            "sla-policies",
            query=policies,
            sorts=("created_at",),
            rules=(
                "one policy per department, which a change keeps",
                "working intervals start before they end and do not overlap, at least an hour a week (or none)",
            ),
        )
