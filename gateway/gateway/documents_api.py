"""`/api/v1/documents`: metadata over RPC, content streamed over the documents service's internal HTTP."""

import requests
from werkzeug.wrappers import Response

from crm_kernel.config import env
from crm_kernel.errors import BadRequest, ServiceUnavailable, ValidationFailed
from crm_kernel.http import api, entity_response
from documents.schemas import DocumentSchema
from gateway.contacts_api import STAFF
from gateway.identity import V1
from gateway.openapi import ERRORS, ID_PARAM, json_content, ref

DOCUMENT_FIELDS = ("title", "kind", "contact_id", "deal_id", "ticket_id")
_http = requests.Session()


def documents_url() -> str:
    return env("DOCUMENTS_URL", "http://127.0.0.1:8003").rstrip("/")


def safe_filename(name: str | None) -> str:
    """The last part of a client's file name, for display only: never used as a path."""
    return (name or "upload").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"


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


def documents_http(method: str, path: str, **kwargs) -> requests.Response:
    """A request to the documents service's internal HTTP; its problems pass through."""
    try:
        response = _http.request(method, documents_url() + path, timeout=(3, 60), **kwargs)
    except requests.RequestException:
        raise ServiceUnavailable("the documents service is not reachable") from None
    if response.status_code >= 400:
        raise PassThroughProblem(response)
    return response


class DocumentsApi:
    @api("POST", f"{V1}/documents")
    def upload_document(self, request):
        self.auth.require(request, *STAFF)
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("send the content as the multipart field `file`", {"file": ["missing"]})
        metadata = {name: request.form[name] for name in DOCUMENT_FIELDS if request.form.get(name)}
        unknown = set(request.form) - set(DOCUMENT_FIELDS)
        if unknown:
            raise ValidationFailed("unknown form fields", {name: ["unknown field"] for name in sorted(unknown)})
        if metadata.get("contact_id"):
            self.contact_must_exist(metadata["contact_id"])
        stored = documents_http("PUT", "/blobs", data=upload.stream).json()
        # A crash from here to the commit leaves an unreferenced blob, never a document without content.
        document = self.documents.create_document(
            {
                **metadata,
                "title": metadata.get("title") or safe_filename(upload.filename),
                "filename": safe_filename(upload.filename),
                "content_type": upload.mimetype or "application/octet-stream",
                "sha256": stored["sha256"],
                "size": stored["size"],
            }
        )
        return entity_response(document, 201, f"{V1}/documents/{document['id']}")

    @api("GET", f"{V1}/documents/<string:document_id>")
    def get_document(self, request, document_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.documents.get_document(document_id))

    @api("GET", f"{V1}/documents/<string:document_id>/content")
    def get_document_content(self, request, document_id):
        self.auth.require(request, *STAFF)
        document = self.documents.get_document(document_id)
        upstream = documents_http("GET", f"/blobs/{document['sha256']}", stream=True)
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

    @staticmethod
    def describe(spec):
        spec.components.schema("Document", schema=DocumentSchema)
        form = {name: {"type": "string"} for name in DOCUMENT_FIELDS}
        upload = {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}, **form},
                    }
                }
            }
        }
        spec.path(
            path=f"{V1}/documents",
            operations={
                "post": {
                    "tags": ["documents"],
                    "requestBody": upload,
                    "responses": {"201": {"description": "Stored", **json_content(ref("Document"))}, **ERRORS},
                }
            },
        )
        spec.path(
            path=f"{V1}/documents/{{id}}",
            operations={
                "get": {
                    "tags": ["documents"],
                    "parameters": ID_PARAM,
                    "responses": {"200": {"description": "Metadata", **json_content(ref("Document"))}, **ERRORS},
                }
            },
        )
        binary = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        spec.path(
            path=f"{V1}/documents/{{id}}/content",
            operations={
                "get": {
                    "tags": ["documents"],
                    "parameters": ID_PARAM,
                    "responses": {
                        "200": {"description": "The bytes, checked against their SHA-256", "content": binary},
                        **ERRORS,
                    },
                }
            },
        )
