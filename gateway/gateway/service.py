"""The gateway: the public HTTP API (`/api/v1`) in front of the services."""

import requests
from werkzeug.wrappers import Response

from crm_kernel.config import env
from crm_kernel.errors import BadRequest, NotFound, ServiceUnavailable, ValidationFailed
from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from crm_kernel.outbox import Outbox
from crm_kernel.service import ServiceBase
from gateway.auth import Auth
from gateway.identity import V1, IdentityRoutes
from gateway.models import OutboxEvent
from gateway.openapi import openapi_document
from gateway.rpc import DeadlineServiceRpc

DOCUMENT_FIELDS = ("title", "kind", "contact_id", "deal_id", "ticket_id")


def documents_url() -> str:
    return env("DOCUMENTS_URL", "http://127.0.0.1:8003").rstrip("/")


class GatewayService(IdentityRoutes, ServiceBase):
    name = "gateway"
    outbox = Outbox(OutboxEvent)
    auth = Auth()
    contacts = DeadlineServiceRpc("contacts")
    interactions = DeadlineServiceRpc("interactions")
    documents = DeadlineServiceRpc("documents")
    reporting = DeadlineServiceRpc("reporting")

    @api("GET", f"{V1}/openapi.json")
    def openapi(self, request):
        return openapi_document()

    # -- contacts -----------------------------------------------------------------------------

    @api("POST", f"{V1}/contacts")
    def create_contact(self, request):
        caller = self.auth.require(request, "admin", "manager", "agent")
        data = json_body(request)
        data.setdefault("owner_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        contact = self.contacts.create_contact(data)
        return entity_response(contact, 201, f"{V1}/contacts/{contact['id']}")

    @api("GET", f"{V1}/contacts/<string:contact_id>")
    def get_contact(self, request, contact_id):
        self.auth.require(request, "admin", "manager", "agent")
        return entity_response(self.contacts.get_contact(contact_id))

    @api("PATCH", f"{V1}/contacts/<string:contact_id>")
    def update_contact(self, request, contact_id):
        self.auth.require(request, "admin", "manager", "agent")
        changes = json_body(request)
        return entity_response(self.contacts.update_contact(contact_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/contacts/<string:contact_id>")
    def delete_contact(self, request, contact_id):
        self.auth.require(request, "admin", "manager", "agent")
        self.contacts.delete_contact(contact_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/contacts")
    def list_contacts(self, request):
        self.auth.require(request, "admin", "manager", "agent")
        return self.contacts.list_contacts(query_args(request))

    # -- interactions -------------------------------------------------------------------------

    @api("POST", f"{V1}/interactions")
    def create_interaction(self, request):
        caller = self.auth.require(request, "admin", "manager", "agent")
        data = json_body(request)
        if isinstance(data.get("contact_id"), str):
            self._check_contact(data["contact_id"], "contact_id")
        data.setdefault("user_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        interaction = self.interactions.create_interaction(data)
        return entity_response(interaction, 201, f"{V1}/interactions/{interaction['id']}")

    @api("GET", f"{V1}/interactions/<string:interaction_id>")
    def get_interaction(self, request, interaction_id):
        self.auth.require(request, "admin", "manager", "agent")
        return entity_response(self.interactions.get_interaction(interaction_id))

    @api("GET", f"{V1}/interactions")
    def list_interactions(self, request):
        self.auth.require(request, "admin", "manager", "agent")
        return self.interactions.list_interactions(query_args(request))

    # -- documents ----------------------------------------------------------------------------

    @api("POST", f"{V1}/documents")
    def upload_document(self, request):
        self.auth.require(request, "admin", "manager", "agent")
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("send the content as the multipart field `file`", {"file": ["missing"]})
        metadata = {name: request.form[name] for name in DOCUMENT_FIELDS if request.form.get(name)}
        unknown = set(request.form) - set(DOCUMENT_FIELDS)
        if unknown:
            raise ValidationFailed("unknown form fields", {name: ["unknown field"] for name in sorted(unknown)})
        if metadata.get("contact_id"):
            self._check_contact(metadata["contact_id"], "contact_id")
        blob = self._store_blob(upload.stream)
        # A crash from here to the commit leaves an unreferenced blob, never a document without content.
        document = self.documents.create_document(
            {
                **metadata,
                "title": metadata.get("title") or upload.filename or "untitled",
                "filename": (upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload",
                "content_type": upload.mimetype or "application/octet-stream",
                **blob,
            }
        )
        return entity_response(document, 201, f"{V1}/documents/{document['id']}")

    @api("GET", f"{V1}/documents/<string:document_id>")
    def get_document(self, request, document_id):
        self.auth.require(request, "admin", "manager", "agent")
        return entity_response(self.documents.get_document(document_id))

    @api("GET", f"{V1}/documents/<string:document_id>/content")
    def get_document_content(self, request, document_id):
        self.auth.require(request, "admin", "manager", "agent")
        document = self.documents.get_document(document_id)
        upstream = self._documents_http("GET", f"/blobs/{document['sha256']}", stream=True)
        headers = {
            "Content-Length": upstream.headers.get("Content-Length", str(document["size"])),
            "Content-Disposition": f'attachment; filename="{document["filename"]}"',
            "X-Content-SHA256": document["sha256"],
            "ETag": f'"{document["sha256"]}"',
        }
        return Response(
            upstream.iter_content(64 * 1024),
            mimetype=document["content_type"],
            headers=headers,
            direct_passthrough=True,
        )

    # -- reports ------------------------------------------------------------------------------

    @api("GET", f"{V1}/reports/kpis")
    def report_kpis(self, request):
        self.auth.require(request)
        return self.reporting.kpis(query_args(request))

    @api("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    def no_such_route(self, request, path):
        raise NotFound(f"no route {request.method} /{path}; see {V1}/openapi.json")

    # -- helpers ------------------------------------------------------------------------------

    def _check_contact(self, contact_id: str, field: str) -> None:
        try:
            self.contacts.get_contact(contact_id)
        except NotFound:
            raise ValidationFailed(f"contact {contact_id} does not exist", {field: ["unknown contact"]}) from None

    def _store_blob(self, stream) -> dict:
        response = self._documents_http("PUT", "/blobs", data=stream)
        return {"sha256": response.json()["sha256"], "size": response.json()["size"]}

    def _documents_http(self, method: str, path: str, **kwargs) -> requests.Response:
        """Content goes to the documents service over internal HTTP, streamed; its problems pass through."""
        try:
            response = _http.request(method, documents_url() + path, timeout=(3, 60), **kwargs)
        except requests.RequestException:
            raise ServiceUnavailable("the documents service is not reachable") from None
        if response.status_code >= 400:
            raise PassThroughProblem(response)
        return response


_http = requests.Session()


class PassThroughProblem(BadRequest):
    """A problem document from the documents service, returned to the client as it came."""

    def __init__(self, response: requests.Response):
        try:
            body = response.json()
        except ValueError:
            body = {"title": "Service error", "detail": response.text[:200]}
        super().__init__(body.get("detail", ""), body.get("errors"))
        self.status = response.status_code
        self.title = body.get("title", "Error")
