"""`/api/v1/contacts`, `/contact-fields`: the contacts service's routes; CSV import and export stream
over its internal HTTP."""

from werkzeug.wrappers import Response

from crm_kernel.config import rpc_timeout
from crm_kernel.errors import NotFound, PayloadTooLarge
from crm_kernel.http import (
    api,
    body_stream,
    entity_response,
    expected_version,
    json_body,
    json_response,
    problem_response,
    query_args,
)
from gateway.openapi import (
    ERRORS,
    PAGE_PARAMS,
    action,
    checked_beyond,
    contract_value,
    crud,
    json_content,
    query_parameters,
    read_only,
    ref,
    request_body,
)
from gateway.routing import STAFF, V1, PassThroughProblem, in_chunks, internal_http, max_import_bytes


def contacts_http(method: str, path: str, key: bytes, caller, **kwargs):
    # urllib3 sends a body under the connect timeout: it must outlast the service's pauses between
    # reads (a batch being written), or a large upload is cut off as "not reachable".
    return internal_http("contacts", method, path, key, caller, timeout=(60, 3600), **kwargs)


CONTACT_RULES = (
    "department_id is one you may assign records to",
    "phones are numbers of their country's numbering plan (any parseable form; without + they are read in "
    "the service's CONTACTS_DEFAULT_REGION)",
    "attributes has the keys of defined custom fields (GET /contact-fields) with values of their type, and "
    "every required one",
)
IMPORT_BODY = (
    "UTF-8 CSV (`,` or `;`), its first line the header: first_name, and any of last_name, email(s), "
    "phone(s), tags, company, company_id, owner_id, department_id, timezone, marketing_consent, id "
    "and attr.<key> of a defined custom field, each once, in any order (the pattern shows one). "
    "A bad row fails alone and is named in the report."
)


class ContactsApi:
    @api("POST", f"{V1}/contacts")
    def create_contact(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("owner_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        contact = self.contacts.create_contact(data, request.args.get("on_duplicate", "report"))
        duplicates = contact.pop("duplicates")
        response = entity_response(contact, 201, f"{V1}/contacts/{contact['id']}")
        if duplicates:
            # The body stays the contact as every read returns it; possible duplicates are announced.
            response.headers["X-Possible-Duplicates"] = ",".join(d["id"] for d in duplicates)
            response.headers["Link"] = f'<{V1}/contacts/{contact["id"]}/duplicates>; rel="duplicates"'
        return response

    @api("GET", f"{V1}/contacts/<string:contact_id>")
    def get_contact(self, request, contact_id):
        """The busiest read goes over the contacts service's internal HTTP on a kept-alive connection,
        not through the broker (docs/decisions.md, "The busiest reads off the broker")."""
        caller = self.auth.require(request, *STAFF)
        if not (contact_id.isascii() and contact_id.isalnum() and len(contact_id) <= 64):
            raise NotFound(f"contact {contact_id} not found")  # no id has other characters; the path needs no escaping
        return entity_response(self._read(caller, f"/contacts/{contact_id}").json())

    @api("PATCH", f"{V1}/contacts/<string:contact_id>")
    def update_contact(self, request, contact_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.contacts.update_contact(contact_id, json_body(request), expected_version(request)))

    @api("DELETE", f"{V1}/contacts/<string:contact_id>")
    def delete_contact(self, request, contact_id):
        self.auth.require(request, *STAFF)
        self.contacts.delete_contact(contact_id, expected_version(request))
        return 204, ""

    @api("POST", f"{V1}/contacts/<string:contact_id>/restore")
    def restore_contact(self, request, contact_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.contacts.restore_contact(contact_id))

    @api("GET", f"{V1}/contacts/<string:contact_id>/history")
    def contact_history(self, request, contact_id):
        self.auth.require(request, *STAFF)
        return self.contacts.contact_history(contact_id)

    @api("GET", f"{V1}/contacts")
    def list_contacts(self, request):
        """A page of the list or of a search, read like one contact (internal HTTP), passed on as it came."""
        caller = self.auth.require(request, *STAFF)
        page = self._read(caller, "/contacts", params=query_args(request))
        return Response(page.content, mimetype="application/json")

    def _read(self, caller, path: str, params: dict | None = None):
        """A read from the contacts service's internal HTTP: signed for `caller`, on a kept-alive
        connection, waiting no longer than an RPC would."""
        headers = {"X-Request-Id": self.context.request_id}
        timeout = (3, rpc_timeout())
        return internal_http(
            "contacts", "GET", path, self.internal_key, caller, timeout=timeout, params=params, headers=headers
        )

    @api("GET", f"{V1}/contacts/<string:contact_id>/duplicates")
    def contact_duplicates(self, request, contact_id):
        self.auth.require(request, *STAFF)
        return self.contacts.contact_duplicates(contact_id)

    @api("POST", f"{V1}/contacts/<string:contact_id>/merge")
    def merge_contacts(self, request, contact_id):
        self.auth.require(request, *STAFF)
        return self.contacts.merge_contacts(contact_id, json_body(request))

    @api("POST", f"{V1}/contacts/merges/<string:merge_id>/undo")
    def undo_merge(self, request, merge_id):
        self.auth.require(request, *STAFF)
        return self.contacts.undo_merge(merge_id)

    @api("POST", f"{V1}/contacts/import")
    def import_contacts(self, request):
        """The CSV body streams through to the contacts service, never held whole here."""
        caller = self.auth.require(request, *STAFF)
        max_bytes = max_import_bytes()
        if (request.content_length or 0) > max_bytes:
            raise PayloadTooLarge(f"the file is larger than {max_bytes} bytes; split it")
        # The idempotency middleware may have read (and kept) the body already. A chunked body is sent on
        # up to one byte past the limit (the middleware reads no further): the contacts service, held
        # to this limit, refuses the import on that byte and undoes what it wrote. Cut off here instead,
        # it would see an upload broken off, a fault whose batches stay, behind the client's 413.
        cached = getattr(request, "_cached_data", None)
        body = cached if cached is not None else in_chunks(body_stream(request), up_to=max_bytes + 1)
        headers = {
            "X-Request-Id": self.context.request_id,
            "X-Max-Import-Bytes": str(max_bytes),
            "Content-Type": request.content_type or "text/csv",
        }
        options = {name: request.args[name] for name in ("mode", "match_by") if name in request.args}
        try:
            report = contacts_http(
                "POST",
                "/import",
                self.internal_key,
                caller,
                actor=caller.user_id,
                params=options,
                headers=headers,
                data=body,
            ).json()
        except PassThroughProblem as refused:
            if refused.status != 413:
                raise
            # The rest of the client's body is never read: close the connection rather than drain it.
            return problem_response(413, refused.title, refused.detail, refused.errors, headers={"Connection": "close"})
        return json_response(report)

    @api("GET", f"{V1}/contacts/imports")
    def list_imports(self, request):
        self.auth.require(request, *STAFF)
        return self.contacts.list_imports(query_args(request))

    @api("GET", f"{V1}/contacts/imports/<import_id>")
    def get_import(self, request, import_id):
        self.auth.require(request, *STAFF)
        return self.contacts.get_import(import_id)

    @api("POST", f"{V1}/contacts/imports/<import_id>/undo")
    def undo_import(self, request, import_id):
        """Undoing a large import takes longer than an RPC may wait: it goes over the internal HTTP."""
        caller = self.auth.require(request, *STAFF)
        if not (import_id.isascii() and import_id.isalnum() and len(import_id) <= 32):
            raise NotFound(f"import {import_id} not found")  # and the path below needs no escaping
        path = f"/imports/{import_id}/undo"
        headers = {"X-Request-Id": self.context.request_id}
        undone = contacts_http("POST", path, self.internal_key, caller, actor=caller.user_id, headers=headers)
        return json_response(undone.json())

    @api("GET", f"{V1}/contacts/export")
    def export_contacts(self, request):
        caller = self.auth.require(request, *STAFF)
        # The export runs outside RPC: the caller's scope goes along, signed, so it is filtered the same.
        headers = {"X-Request-Id": self.context.request_id}
        upstream = contacts_http(
            "GET", "/export", self.internal_key, caller, params=query_args(request), headers=headers, stream=True
        )
        return Response(
            upstream.iter_content(64 * 1024),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
            direct_passthrough=True,
        )

    @api("POST", f"{V1}/contact-fields")
    def create_contact_field(self, request):
        self.auth.require(request, "admin")
        definition = self.contacts.create_field_definition(json_body(request))
        return entity_response(definition, 201, f"{V1}/contact-fields/{definition['key']}")

    @api("GET", f"{V1}/contact-fields")
    def list_contact_fields(self, request):
        self.auth.require(request, *STAFF)
        return self.contacts.list_field_definitions()

    @api("GET", f"{V1}/contact-fields/<string:key>")
    def get_contact_field(self, request, key):
        self.auth.require(request, *STAFF)
        return entity_response(self.contacts.get_field_definition(key))

    @api("PATCH", f"{V1}/contact-fields/<string:key>")
    def update_contact_field(self, request, key):
        self.auth.require(request, "admin")
        return entity_response(self.contacts.update_field_definition(key, json_body(request)))

    @api("DELETE", f"{V1}/contact-fields/<string:key>")
    def delete_contact_field(self, request, key):
        self.auth.require(request, "admin")
        self.contacts.delete_field_definition(key)
        return 204, ""

    @staticmethod
    def describe(spec):
        for name, schema in [
            ("Contact", "ContactSchema"),
            ("Duplicate", "DuplicateSchema"),
            ("ContactField", "FieldDefinitionSchema"),
            ("HistoryEntry", "HistoryEntrySchema"),
            ("MergeRequest", "MergeRequestSchema"),
            ("Merge", "MergeSchema"),
        ]:
            spec.publish(name, "contacts", schema)
        query = spec.contract_schema("contacts", "ContactQuerySchema")
        sorts = tuple(contract_value("contacts", "CONTACT_SORTS"))
        crud(spec, f"{V1}/contacts", "Contact", "contacts", query=query, sorts=sorts, rules=CONTACT_RULES)
        on_duplicate = {
            "name": "on_duplicate",
            "in": "query",
            "schema": {"type": "string", "enum": ["report", "reject"]},
        }
        created = {
            "tags": ["contacts"],
            "summary": "Create; possible duplicates are named in X-Possible-Duplicates (on_duplicate=reject: 409)",
            **checked_beyond(spec, "Contact", CONTACT_RULES),
            "parameters": [on_duplicate],
            "requestBody": request_body(ref("Contact")),
            "responses": {
                "201": {
                    "description": "Created",
                    "headers": {
                        "X-Possible-Duplicates": {
                            "description": "ids of existing contacts this one may duplicate, surest first",
                            "schema": {"type": "string"},
                        }
                    },
                    **json_content(ref("Contact")),
                },
                **ERRORS,
            },
        }
        spec.path(path=f"{V1}/contacts", operations={"post": created})  # replaces crud's plain POST
        items = {"type": "object", "properties": {"items": {"type": "array"}}}
        action(spec, f"{V1}/contacts/{{id}}/restore", "contacts", "Undo a delete", None, ref("Contact"))
        read_only(spec, f"{V1}/contacts/{{id}}/history", "contacts", "Every change, newest first", items)
        read_only(spec, f"{V1}/contacts/{{id}}/duplicates", "contacts", "Possible duplicates with score", items)
        merge = ref("MergeRequest")
        merged = ("source_ids name contacts you may see, other than this one",)
        action(
            spec,
            f"{V1}/contacts/{{id}}/merge",
            "contacts",
            "Merge sources into this",
            merge,
            ref("Merge"),
            rules=merged,
        )
        action(spec, f"{V1}/contacts/merges/{{id}}/undo", "contacts", "Undo a merge", None, ref("Merge"))
        csv = {"text/csv": {"schema": {"type": "string"}}}
        header = contract_value("contacts", "IMPORT_HEADER_PATTERN")
        csv_import = {"text/csv": {"schema": {"type": "string", "pattern": header, "description": IMPORT_BODY}}}
        counts = ("rows", "created", "updated", "skipped", "failed", "possible_duplicate_rows")
        report = {
            "type": "object",
            "properties": {
                "import_id": {"type": "string"},
                **{k: {"type": "integer"} for k in counts},
                "errors": {"type": "array", "items": {"type": "object"}},
                "possible_duplicates": {"type": "array", "items": {"type": "object"}},
                "skipped_rows": {"type": "array", "items": {"type": "object"}},
            },
        }
        spec.path(
            path=f"{V1}/contacts/import",
            operations={
                "post": {
                    "tags": ["contacts"],
                    "summary": "Import CSV (streamed): every row accounted for, each failing row named",
                    "parameters": [
                        {
                            "name": "mode",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["upsert", "create", "update"]},
                        },
                        {"name": "match_by", "in": "query", "schema": {"type": "string", "enum": ["email", "id"]}},
                    ],
                    "requestBody": {"required": True, "content": csv_import},
                    "responses": {"200": {"description": "Report", **json_content(report)}, **ERRORS},
                }
            },
        )
        the_import = {
            "type": "object",
            "properties": {
                **{k: {"type": "string"} for k in ("id", "actor", "department_id", "mode", "match_by", "status")},
                "report": report,
                "undo_report": {"type": "object", "nullable": True},
            },
        }
        read_only(
            spec, f"{V1}/contacts/imports", "contacts", "Imports you may see, newest first", items, PAGE_PARAMS[:2]
        )
        read_only(spec, f"{V1}/contacts/imports/{{id}}", "contacts", "One import with its report", the_import)
        action(spec, f"{V1}/contacts/imports/{{id}}/undo", "contacts", "Undo an import as a whole", None, the_import)
        paging = ("limit", "cursor")  # an export is every page
        filters = [p for p in query_parameters(query, sorts) if p["name"] not in paging]
        spec.path(
            path=f"{V1}/contacts/export",
            operations={
                "get": {
                    "tags": ["contacts"],
                    "summary": "Export the filtered contacts as CSV (streamed)",
                    "parameters": filters,
                    "responses": {"200": {"description": "CSV", "content": csv}, **ERRORS},
                }
            },
        )
        crud(
            spec,
            f"{V1}/contact-fields",
            "ContactField",
            "contact fields",
            rules=("key is not taken by another field", "a change keeps the key and the type"),
        )
