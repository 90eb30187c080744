"""CSV import as plain code: create or update contacts in batches from rows checked elsewhere.

Nothing here knows Nameko or HTTP: the service's `/import` route and the benchmark both drive
`import_csv(session, stream, ...)`. The body is read incrementally (never held whole); its rows are
read and checked by `contacts.rows` (in an OS thread, or in the `contacts.checker` process for a
large file), and each batch is written by `contacts.import_batches` with its outbox events, the
import's record of what it changed and its progress, so memory stays flat however long the file is
and the import can be undone.
"""

import contextlib
import copy
import io

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from contacts.checker import checked_in_child
from contacts.import_batches import CompanyCache, ImportReport, ImportRules, LeaseLost, apply_batch
from contacts.imports import lease, revert
from contacts.models import ContactImport
from contacts.rows import check_header, checked_batches, open_csv, read_up_to
from contacts.threads import in_os_thread, read_ahead
from crm_kernel.config import env
from crm_kernel.context import ACTOR
from crm_kernel.db import utcnow
from crm_kernel.errors import CrmError, PayloadTooLarge, ServiceUnavailable, ValidationFailed, is_transient_failure
from crm_kernel.scope import SYSTEM, Scope

BATCH = 4000  # rows a transaction: 4,000 imported 1.13 times as fast as 1,000 (BENCHMARKS.md), in 60 MB more
ANALYZE_AT = 10_000  # rows written when the import first refreshes PostgreSQL's statistics; then at each doubling
IN_PROCESS_BYTES = 256 * 1024  # a smaller file is checked here: starting a checker process costs more
MODES = ("upsert", "create", "update")
MATCH_BY = ("email", "id")


def rules_from(args: dict) -> ImportRules:
    """`mode` and `match_by` from the request's query; 422 naming the one that is not known."""
    errors = {}
    mode, match_by = args.get("mode") or "upsert", args.get("match_by") or "email"
    if mode not in MODES:
        errors["mode"] = [f"one of {', '.join(MODES)}"]
    if match_by not in MATCH_BY:
        errors["match_by"] = [f"one of {', '.join(MATCH_BY)}"]
    if errors:
        raise ValidationFailed(f"unknown import option: {', '.join(sorted(errors))}", errors)
    return ImportRules(mode=mode, match_by=match_by, max_rows=int(env("CRM_MAX_IMPORT_ROWS", "2000000")))


def max_bytes() -> int:
    """The largest CSV body an import reads (`CRM_MAX_IMPORT_BYTES`): past it, a 413."""
    return int(env("CRM_MAX_IMPORT_BYTES", str(100 * 1024 * 1024)))


def defaults_for(scope: Scope) -> dict:
    """The owner and department of rows that name none: the caller's, from the scope the gateway signed
    (never from a header of its own, which anyone who saw one signed request could change); none for a
    call that acts for no user."""
    if scope.role == SYSTEM:
        return {"owner_id": None, "department_id": None}
    return {"owner_id": scope.user_id, "department_id": scope.department_id}


def import_csv(
    session,
    stream,
    *,
    outbox,
    definitions: dict,
    defaults: dict,
    scope: Scope | None = None,
    rules: ImportRules = ImportRules(),
    batch: int = BATCH,
) -> dict:
    """Import the CSV `stream`; the report accounts for every data row: created, updated, skipped or failed.

    Rows match existing live contacts by `rules` (by id or normalised e-mail, never by phone alone);
    a match is updated (given values replace, lists are joined, empty cells change nothing) or skipped
    when the row brings nothing new, so importing the same file twice creates nothing twice. Rows are
    checked a batch ahead while the database writes the last one: in an OS thread of this process for
    a file under 256 KiB, in a child process for a larger one (`contacts.checker`), so that checking
    neither stalls the service nor holds up the writes. With the caller's `scope`, a row placed in a
    department they may not put records in fails, and rows match only contacts they may see.

    The import is recorded (`ContactImport`) with its report and every change it made, committed with
    each batch. An import that stops part way keeps its committed batches and raises with how far it
    got; one that exceeds a limit (`PayloadTooLarge`) is undone first, so it changes nothing.
    """
    record = start_import(session, outbox, defaults, rules)
    report = ImportReport(import_id=record.id)
    try:
        with outbox.importing():
            _import_rows(session, stream, record, report, outbox, definitions, defaults, scope, rules, batch)
    except (PayloadTooLarge, ValidationFailed) as exc:
        session.rollback()
        if isinstance(exc, ValidationFailed) and not report.rows:
            forget_import(session, record.id)  # a file refused as a whole changes nothing, not even the list
            raise
        # Over a limit, or broken part way (an unclosed quote): refused as a whole, so undone.
        try:
            revert(session, session.get(ContactImport, record.id), outbox, Scope.system())  # its own rows, all of them
        finally:
            finish_import(session, record.id, report, "refused", exc.detail)
        exc.detail = f"{exc.detail} (import {record.id} refused after {report.progress()}; what it wrote is undone)"
        raise
    except BaseException as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, CrmError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, LeaseLost):  # else a sweep recorded it as interrupted, and it may be undone now
            finish_import(session, record.id, report, "failed", detail)
        stopped = f"import {record.id} stopped after {report.progress()}"
        if isinstance(exc, CrmError):
            exc.detail = f"{exc.detail} ({stopped})"
        elif isinstance(exc, SQLAlchemyError) and is_transient_failure(
            [c.__name__ for c in type(exc).__mro__], str(exc)
        ):
            raise ServiceUnavailable(f"the database is unavailable; {stopped}; send the file again") from exc
        raise
    if not report.accounted():
        finish_import(session, record.id, report, "failed", "rows not accounted for")
        raise CrmError(f"import {record.id}: {report.progress()}, which does not add up; nothing more was written")
    finish_import(session, record.id, report, "completed")
    return report.as_dict()


def start_import(session, outbox, defaults: dict, rules: ImportRules) -> ContactImport:
    record = ContactImport(
        actor=outbox.context_data.get(ACTOR),
        department_id=defaults.get("department_id"),
        mode=rules.mode,
        match_by=rules.match_by,
        status="running",
        report={},
        lease_until=utcnow() + lease(),
    )
    session.add(record)
    session.commit()
    return record


def forget_import(session, import_id: str) -> None:
    session.delete(session.get(ContactImport, import_id))
    session.commit()


def finish_import(session, import_id: str, report: ImportReport, status: str, problem: str | None = None) -> None:
    """Record the import's outcome; best effort after a failure (the database may be what failed)."""
    try:
        record = session.get(ContactImport, import_id)
        record.status, record.report, record.problem, record.finished_at = status, report.as_dict(), problem, utcnow()
        session.commit()
    except Exception:
        session.rollback()
        if status == "completed":
            raise


def _import_rows(session, stream, record, report, outbox, definitions, defaults, scope, rules, batch) -> None:
    prefix = read_up_to(stream, IN_PROCESS_BYTES)
    if len(prefix) < IN_PROCESS_BYTES:  # the whole file
        reader, header = open_csv(io.BytesIO(prefix))
        check_header(header, definitions)
        batches = read_ahead(in_os_thread(checked_batches(reader, header, definitions, defaults, scope, batch)))
    else:
        batches = checked_in_child(prefix, stream, definitions, defaults, scope, batch)
    companies = CompanyCache(session, outbox, defaults)
    postgresql = session.get_bind().dialect.name == "postgresql"
    next_analyze = ANALYZE_AT
    with contextlib.closing(batches):  # a write that fails stops the checker thread or process at once
        for rows, failures in batches:
            report.rows += len(rows) + len(failures)
            if report.rows > rules.max_rows:
                raise PayloadTooLarge(f"the file has more than {rules.max_rows} rows; split it")
            counted = copy.deepcopy(report)
            try:
                apply_batch(session, rows, failures, outbox, companies, report, scope, rules)
            except BaseException:
                report.__dict__.update(counted.__dict__)  # what the failed batch counted was rolled back
                raise
            if postgresql and report.created + report.updated >= next_analyze:
                # The planner's row counts must grow with the table, or the batch's key lookup turns
                # from an index probe into a scan of every key (quadratic over a large import).
                # Autovacuum analyzes too late for that, or not at all when it is off.
                session.execute(text("ANALYZE contacts (id, deleted_at), contact_keys"))
                session.commit()
                next_analyze *= 2
    if report.created and postgresql:
        # New rows wait in the GIN index's pending list (up to 4 MB), which every search reads through
        # until (auto)vacuum merges it: merge it now, so searches after an import do not pay for it.
        session.execute(text("SELECT gin_clean_pending_list('ix_contacts_search_text_trgm'::regclass)"))
        session.commit()
