"""CSV import and export over the service's internal HTTP: bodies too large for RPC messages.

The gateway streams `POST /import` to us with the caller in `X-Actor` and their scope in `X-Scope`;
`GET /export` streams back, filtered by `X-Scope` too. Both accept only requests the gateway signed
(`crm_kernel.signing`), so the scope is the gateway's word, not the sender's.
"""

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from contacts.importer import MATCH_BY, MODES, ImportRules, import_csv
from contacts.imports import undo_import
from contacts.models import Company, Contact
from contacts.rows import formula_safe
from contacts.schemas import CONTACT_SORTS, ContactQuerySchema, ContactSchema
from contacts.search import contacts_matching
from crm_kernel.config import env
from crm_kernel.errors import PayloadTooLarge, ValidationFailed
from crm_kernel.http import api, body_stream, query_args
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope, visible
from crm_kernel.signing import verified_scope

EXPORT_PAGE = 1000
EXPORT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "emails",
    "phones",
    "company_id",
    "company",
    "owner_id",
    "department_id",
    "tags",
    "timezone",
    "marketing_consent",
    "created_at",
    "updated_at",
)


class TransferHttp:
    @api("POST", "/import")
    def import_contacts(self, request):
        scope = verified_scope(request, self.internal_key)
        if request.headers.get("X-Actor"):
            self.context.act_as(request.headers["X-Actor"])
        rules = import_rules(query_args(request))
        max_bytes = int(env("CRM_MAX_IMPORT_BYTES", str(100 * 1024 * 1024)))
        if (request.content_length or 0) > max_bytes:
            raise PayloadTooLarge(f"the file is larger than {max_bytes} bytes; split it")
        defaults = {
            "owner_id": request.headers.get("X-Default-Owner") or None,
            "department_id": request.headers.get("X-Default-Department") or None,
        }
        return import_csv(
            self.db,
            BoundedStream(body_stream(request), max_bytes),
            outbox=self.outbox,
            definitions=self.field_definitions(),
            defaults=defaults,
            scope=scope,
            rules=rules,
        )

    @api("POST", "/imports/<import_id>/undo")
    def undo_contact_import(self, request, import_id):
        """Undo an import as a whole (a large one takes longer than an RPC may: hence HTTP)."""
        scope = verified_scope(request, self.internal_key)
        if request.headers.get("X-Actor"):
            self.context.act_as(request.headers["X-Actor"])
        return undo_import(self.db, import_id, self.outbox, scope)

    @api("GET", "/export")
    def export_contacts(self, request):
        """The filtered contacts as CSV, a page at a time, each page in a session of its own."""
        scope = verified_scope(request, self.internal_key)
        params = load(ContactQuerySchema(), query_args(request))
        params["limit"] = EXPORT_PAGE
        contacts_matching(self.db, params)  # bad filters are a 422 now, before the first byte is sent
        if params["sort"].removeprefix("-") not in CONTACT_SORTS:
            raise ValidationFailed("unknown sort", {"sort": [f"one of {', '.join(CONTACT_SORTS)}"]})
        keys = sorted(self.field_definitions())
        engine = self.db.get_bind()
        return Response(export_rows(engine, params, keys, scope), mimetype="text/csv", direct_passthrough=True)


def import_rules(args: dict) -> ImportRules:
    """`mode` and `match_by` from the query; 422 naming the one that is not known."""
    errors = {}
    mode, match_by = args.get("mode") or "upsert", args.get("match_by") or "email"
    if mode not in MODES:
        errors["mode"] = [f"one of {', '.join(MODES)}"]
    if match_by not in MATCH_BY:
        errors["match_by"] = [f"one of {', '.join(MATCH_BY)}"]
    if errors:
        raise ValidationFailed(f"unknown import option: {', '.join(sorted(errors))}", errors)
    max_rows = int(env("CRM_MAX_IMPORT_ROWS", "2000000"))
    return ImportRules(mode=mode, match_by=match_by, max_rows=max_rows)


class BoundedStream:
    """A request body that refuses to be read past `limit` bytes (a chunked upload has no length to check)."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.read_so_far = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else self.limit + 1)
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise PayloadTooLarge(f"the file is larger than {self.limit} bytes; split it")
        return data


def export_rows(engine, params: dict, attribute_keys: list[str], scope: Scope | None = None):
    """CSV bytes of every contact matching `params`, header first, in keyset pages."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*EXPORT_COLUMNS, *(f"attr.{k}" for k in attribute_keys)])
    cursor = None
    while True:
        # A session per page: on SQLite the process has one connection, and a slow reader must not hold it.
        with Session(engine) as session:
            rows, cursor = keyset_page(
                session,
                visible(contacts_matching(session, params), Contact, scope),
                Contact,
                limit=EXPORT_PAGE,
                cursor=cursor,
                sort=params["sort"],
                sortable=CONTACT_SORTS,
            )
            ids = {c.company_id for c in rows if c.company_id}
            names = (
                dict(session.execute(select(Company.id, Company.name).where(Company.id.in_(ids))).all()) if ids else {}
            )
            for item in ContactSchema(many=True).dump(rows):
                writer.writerow(export_row(item, names, attribute_keys))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if cursor is None:
            return


def export_row(contact: dict, company_names: dict, attribute_keys: list[str]) -> list:
    cells = {
        **contact,
        "emails": "|".join(contact["emails"]),
        "phones": "|".join(contact["phones"]),
        "tags": "|".join(contact["tags"]),
        "company": company_names.get(contact["company_id"], ""),
        "marketing_consent": "true" if contact["marketing_consent"] else "false",
    }
    values = [cells.get(name) or "" for name in EXPORT_COLUMNS]
    values += [_cell(contact["attributes"].get(k)) for k in attribute_keys]
    return [formula_safe(str(value)) for value in values]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
