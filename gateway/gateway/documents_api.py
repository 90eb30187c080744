"""`/api/v1/documents`: metadata over RPC, content streamed over the documents service's internal HTTP."""

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from crm_kernel.errors import PayloadTooLarge, ValidationFailed
from crm_kernel.http import (
    api,
    content_disposition,
    entity_response,
    expected_version,
    json_body,
    printable_name,
    query_args,
)
from crm_kernel.scope import Scope
from gateway.openapi import (
    ERRORS,
    ID_PARAM,
    RECORDS,
    action,
    beyond_schema,
    json_content,
    page_of,
    query_parameters,
    read_only,
    ref,
    request_body,
)
from gateway.routing import FORM_ALLOWANCE, STAFF, V1, internal_http, max_upload_bytes

DOCUMENT_FIELDS = ("title", "kind", "contact_id", "deal_id", "ticket_id")
MAX_VERSION = 2**31 - 1


def _form_field(described: dict) -> dict:
    """A metadata field of the upload form as the contract states it: a string, never null (an empty
    one is left out)."""
    return {key: value for key, value in described.items() if key not in ("nullable", "default")}


def safe_filename(name: str | None) -> str:
    """The last part of a client's file name, for display only: never used as a path."""
    return printable_name(name or "upload").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"


def documents_http(method: str, path: str, key: bytes, caller: Scope, **kwargs):
    return internal_http("documents", method, path, key, caller, timeout=(3, 60), **kwargs)


def uploaded_file(request):
    """The multipart field `file`, spooled to disk by werkzeug as it arrives: 413 past the limit, 422 empty."""
    limit = max_upload_bytes()
    if (request.content_length or 0) > limit + FORM_ALLOWANCE:  # refuse before reading a byte
        raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes")
    request.max_content_length = limit + FORM_ALLOWANCE  # werkzeug counts while it reads
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes") from None
    if upload is None:
        raise ValidationFailed("send the content as the multipart field `file`", {"file": ["missing"]})
    upload.stream.seek(0, 2)
    size = upload.stream.tell()
    upload.stream.seek(0)
    if size > limit:
        raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes")
    if size == 0:
        raise ValidationFailed("the file is empty", {"file": ["empty file"]})
    return upload


def store_content(upload, key: bytes, caller: Scope) -> dict:
    """Stream the upload to the blob store; its filename, checked content type, SHA-256 and size."""
    declared = upload.mimetype or "application/octet-stream"
    params = {"content_type": declared}
    stored = documents_http("PUT", "/blobs", key, caller, params=params, data=upload.stream).json()
    return {"filename": safe_filename(upload.filename), **stored}


class DocumentsApi:
    @api("POST", f"{V1}/documents")
    def upload_document(self, request):
        caller = self.auth.require(request, *STAFF)
        upload = uploaded_file(request)
        unknown = set(request.form) - set(DOCUMENT_FIELDS)
        if unknown:
            raise ValidationFailed(
                "unknown form fields", {name: ["unknown field"] for name in sorted(unknown, key=str)}
            )
        metadata = {name: request.form[name] for name in DOCUMENT_FIELDS if request.form.get(name)}
        content = store_content(upload, self.internal_key, caller)
        # A crash from here to the commit leaves an unreferenced blob, never a document without content.
        document = self.documents.create_document(
            {**metadata, "title": metadata.get("title") or content["filename"], **content}
        )
        return entity_response(document, 201, f"{V1}/documents/{document['id']}")

    @api("GET", f"{V1}/documents")
    def list_documents(self, request):
        self.auth.require(request, *STAFF)
        return self.documents.list_documents(query_args(request))

    @api("POST", f"{V1}/documents/generate")
    def generate_document(self, request):
        self.auth.require(request, *STAFF)
        document = self.documents.generate_document(json_body(request))
        return entity_response(document, 201, f"{V1}/documents/{document['id']}")

    @api("GET", f"{V1}/documents/<string:document_id>")
    def get_document(self, request, document_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.documents.get_document(document_id))

    @api("GET", f"{V1}/documents/<string:document_id>/content")
    def get_document_content(self, request, document_id):
        caller = self.auth.require(request, *STAFF)
        wanted = request.args.get("version")
        if wanted is None:
            content = self.documents.get_document(document_id)
        elif wanted.isascii() and wanted.isdigit() and 0 < int(wanted) <= MAX_VERSION:
            content = self.documents.get_version(document_id, int(wanted))
        else:
            raise ValidationFailed("version must be a version number", {"version": ["a positive integer"]})
        path = f"/blobs/{content['sha256']}"
        upstream = documents_http("GET", path, self.internal_key, caller, stream=True)
        headers = {
            "Content-Length": upstream.headers.get("Content-Length", str(content["size"])),
            "Content-Disposition": content_disposition("attachment", content["filename"]),
            "X-Content-SHA256": content["sha256"],
            "ETag": f'"{content["sha256"]}"',
        }
        return Response(
            upstream.iter_content(64 * 1024), mimetype=content["content_type"], headers=headers, direct_passthrough=True
        )

    @api("POST", f"{V1}/documents/<string:document_id>/versions")
    def add_document_version(self, request, document_id):
        caller = self.auth.require(request, *STAFF)
        wanted = expected_version(request)
        self.documents.get_document(document_id)  # 404 before an upload that would be thrown away
        upload = uploaded_file(request)
        if set(request.form):
            raise ValidationFailed(
                "a version is only its file", {name: ["unknown field"] for name in sorted(request.form)}
            )
        document = self.documents.add_version(document_id, store_content(upload, self.internal_key, caller), wanted)
        return entity_response(document, 201, f"{V1}/documents/{document_id}/versions/{document['current_version']}")

    @api("GET", f"{V1}/documents/<string:document_id>/versions")
    def list_document_versions(self, request, document_id):
        self.auth.require(request, *STAFF)
        return {"items": self.documents.list_versions(document_id)}

    @api("POST", f"{V1}/documents/<string:document_id>/transitions")
    def transition_document(self, request, document_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.documents.transition(document_id, json_body(request), expected_version(request)))

    @api("GET", f"{V1}/documents/<string:document_id>/transitions")
    def list_document_transitions(self, request, document_id):
        self.auth.require(request, *STAFF)
        return {"items": self.documents.list_transitions(document_id)}

    @staticmethod
    def describe(spec):
        spec.publish("Document", "documents", "DocumentSchema")
        spec.publish("DocumentVersion", "documents", "VersionSchema")
        spec.publish("DocumentTransition", "documents", "TransitionSchema")
        spec.publish("DocumentTransitionRequest", "documents", "TransitionRequestSchema")
        spec.publish("DocumentGenerateRequest", "documents", "GenerateSchema")
        tag, item = "documents", f"{V1}/documents/{{id}}"
        file_part = {"file": {"type": "string", "format": "binary", "minLength": 1}}  # an empty file is refused
        described = spec.contract_schema("documents", "DocumentSchema")["properties"]
        form = {name: _form_field(described[name]) for name in DOCUMENT_FIELDS}

        def multipart(properties: dict) -> dict:
            # Any other part is refused by name ("unknown field").
            schema = {"type": "object", "required": ["file"], "properties": properties, "additionalProperties": False}
            return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}

        filters = query_parameters(
            spec.contract_schema("documents", "DocumentQuerySchema"), ("created_at", "updated_at", "title")
        )
        spec.path(
            path=f"{V1}/documents",
            operations={
                "post": {
                    "tags": [tag],
                    "summary": "Upload a document (413 past CRM_MAX_UPLOAD_BYTES; the content type is sniffed)",
                    "description": beyond_schema(RECORDS),
                    "requestBody": multipart({**file_part, **form}),
                    "responses": {
                        "201": {"description": "Stored, in draft", **json_content(ref("Document"))},
                        **ERRORS,
                    },
                },
                "get": {
                    "tags": [tag],
                    "summary": "Search by kind, status, links, creation time (created_from inclusive, created_to not)",
                    "description": beyond_schema("created_to is not before created_from"),
                    "parameters": filters,
                    "responses": {"200": {"description": "A page", **page_of("Document")}, **ERRORS},
                },
            },
        )
        generated = "Render a quote or contract as PDF for a contact (and a deal) and store it as a new document"
        spec.path(
            path=f"{V1}/documents/generate",
            operations={
                "post": {
                    "tags": [tag],
                    "summary": generated,
                    "description": beyond_schema(RECORDS),
                    "requestBody": request_body(ref("DocumentGenerateRequest")),
                    "responses": {"201": {"description": generated, **json_content(ref("Document"))}, **ERRORS},
                }
            },
        )
        read_only(
            spec,
            item,
            tag,
            "Metadata, with ETag (the lock version); current_version numbers the content",
            ref("Document"),
        )
        version_param = {
            "name": "version",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
        }
        binary = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        spec.path(
            path=f"{item}/content",
            operations={
                "get": {
                    "tags": [tag],
                    "summary": "The bytes of the current version (or ?version=N), checked against their SHA-256",
                    "parameters": [*ID_PARAM, version_param],
                    "responses": {"200": {"description": "The bytes", "content": binary}, **ERRORS},
                }
            },
        )
        if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"}}
        spec.path(
            path=f"{item}/versions",
            operations={
                "post": {
                    "tags": [tag],
                    "summary": "Add a new immutable version; a reviewed or signed document goes back to draft",
                    "parameters": [*ID_PARAM, if_match],
                    "requestBody": multipart(file_part),
                    "responses": {"201": {"description": "The document", **json_content(ref("Document"))}, **ERRORS},
                }
            },
        )
        items_of = lambda name: {"type": "object", "properties": {"items": {"type": "array", "items": ref(name)}}}  # noqa: E731
        read_only(
            spec,
            f"{item}/versions",
            tag,
            "Every version, oldest first, with who uploaded it and when",
            items_of("DocumentVersion"),
        )
        action(
            spec,
            f"{item}/transitions",
            tag,
            "Approval workflow: submit, approve, reject, resubmit, redraft, sign, archive; 409 names an action "
            "not allowed; approve and reject need a manager of the uploader's department (or above) or an admin (403)",
            ref("DocumentTransitionRequest"),
            ref("Document"),
        )
        read_only(
            spec,
            f"{item}/transitions",
            tag,
            "The approval trail, oldest first: who, when, comment",
            items_of("DocumentTransition"),
        )
