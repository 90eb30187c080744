"""Calling a Nameko service's methods in tests the way Nameko does, over a given database engine."""

from nameko.testing.services import worker_factory
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel.context import CallContext
from crm_kernel.idempotency import Idempotency, IdempotentWrites
from crm_kernel.outbox import OutboxRecorder
from crm_kernel.scope import SCOPE, Scope

CALLER = {"actor": "u1", "request_id": "r1"}
SYSTEM = Scope.system()


class Workers:
    """Calls a service method the way Nameko does: a fresh worker and session per call, the session
    closed afterwards (so whatever the method did not commit is rolled back, as in `Database`).
    `as_(scope)` calls the same service as the user of `scope`; by default (and `as_()`) a call is made
    for no user and says so, with `Scope.system()`; `as_(Scope.nobody())` carries no scope at all."""

    def __init__(self, service_cls, engine, outbox_model=None, scope: Scope = SYSTEM, key: str | None = None):
        self.service_cls = service_cls
        self.engine = engine
        self.outbox_model = outbox_model
        self.scope = scope
        self.key = key

    def as_(self, scope: Scope = SYSTEM) -> "Workers":
        return Workers(self.service_cls, self.engine, self.outbox_model, scope, self.key)

    def with_key(self, key: str | None) -> "Workers":
        """The same service, called with an idempotency key in the call context (as the gateway does)."""
        return Workers(self.service_cls, self.engine, self.outbox_model, self.scope, key)

    def worker(self, session, method: str = ""):
        data = dict(CALLER) | ({SCOPE: self.scope.encode()} if self.scope not in (None, Scope.nobody()) else {})
        dependencies = {"db": session, "context": CallContext(data)}
        if self.outbox_model is not None:
            dependencies["outbox"] = OutboxRecorder(self.outbox_model, dict(data))
        once = getattr(self.service_cls, "once", None)
        if isinstance(once, Idempotency):
            dependencies["once"] = IdempotentWrites(once.model, self.key, method)
        return worker_factory(self.service_cls, **dependencies)

    def __getattr__(self, method):
        def call(*args, **kwargs):
            with Session(self.engine, expire_on_commit=False) as session:
                return getattr(self.worker(session, method), method)(*args, **kwargs)

        return call

    def rows(self, model, *order_by):
        """Every row of `model` as committed, read in a session of its own."""
        with Session(self.engine) as session:
            return session.scalars(select(model).order_by(*order_by)).all()
