"""Writes guarded by the caller's `Idempotency-Key`, recorded in the same transaction as the write.

The gateway keeps the first response to a POST with an `Idempotency-Key`, but that alone protects
only its own bookkeeping: when a service commits and its reply is lost with the broker, the gateway
answers 503 and the client's retry would write again. So the gateway also sends the key (hashed
with the caller, `IDEMPOTENCY_KEY` in the call context, which Nameko carries in RPC headers), and a
guarded write stores its answer under that key in the commit of the write itself:

    class ContactsService(ServiceBase):
        once = Idempotency(IdempotentWrite)

        @rpc
        @idempotent
        def create_contact(self, data):
            ...
            return self.once.commit(self.db, answer)   # the write, its events and its answer together

A call whose key was answered before gets that answer again and executes nothing; two racing calls
with one key both end in the first one's answer (the second's insert of the key fails, and its
write rolls back with it). Without a key, `commit` is a plain commit.
"""

import hashlib
from datetime import datetime
from functools import wraps

from nameko.extensions import DependencyProvider
from sqlalchemy import JSON, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm_kernel.bulk import insert_together
from crm_kernel.db import UTCDateTime, statement_by_statement, utcnow

IDEMPOTENCY_KEY = "idempotency_key"
ENVIRON_KEY = "crm.idempotency_key"  # where the gateway's middleware leaves it for the HTTP entrypoint


def call_key(caller: str, key: str) -> str:
    """The key as services see it: per caller (two callers may pick the same key), fixed length."""
    return hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()


class IdempotentWriteMixin:
    """The answer of a write, under the key (hashed with the caller) and the method that made it."""

    __tablename__ = "idempotent_writes"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    method: Mapped[str] = mapped_column(String(100), primary_key=True)
    answer: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)


class IdempotentWrites:
    """What a worker sees: the first answer given to its key, and the commit that records one."""

    def __init__(self, model, key: str | None, method: str):
        self.model = model
        self.key = key
        self.method = method

    def first_answer(self, session: Session) -> dict | None:
        if not self.key:
            return None
        with statement_by_statement(session):  # one statement: no BEGIN for it when it opens the worker
            row = session.get(self.model, (self.key, self.method))
        return None if row is None else row.answer

    def commit(self, session: Session, answer: dict, *, inserts: list = ()) -> dict:
        """Commit the session's write with `answer` recorded under the key; return the answer to give.

        `inserts`, `(table, rows)` pairs, are written with the record in one statement
        (`crm_kernel.bulk.insert_together`) after the session's own pending changes.
        """
        if not self.key and not inserts:
            session.commit()
            return answer
        record = {"key": self.key, "method": self.method, "answer": answer, "created_at": utcnow()}
        try:
            session.flush()
            insert_together(session, [*inserts, *([(self.model.__table__, [record])] if self.key else [])])
            session.commit()
        except IntegrityError:
            session.rollback()
            first = self.first_answer(session)
            if first is None:
                raise  # the write itself broke a constraint
            return first
        return answer


class Idempotency(DependencyProvider):
    def __init__(self, model):
        self.model = model

    def get_dependency(self, worker_ctx):
        return IdempotentWrites(self.model, worker_ctx.data.get(IDEMPOTENCY_KEY), worker_ctx.entrypoint.method_name)


def idempotent(method):
    """An RPC write that, called again with a key it answered, returns that answer unexecuted.

    The service declares `once = Idempotency(Model)` and the write ends in `self.once.commit(...)`.
    """

    @wraps(method)
    def guarded(self, *args, **kwargs):
        first = self.once.first_answer(self.db)
        return first if first is not None else method(self, *args, **kwargs)

    return guarded
