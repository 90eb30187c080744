"""The call context: a request id and the acting user that follow a call HTTP -> RPC -> events -> logs.

Nameko copies a worker's context data into the headers of every RPC request and event it sends, and
back into the context data of the worker that receives them; this module names the keys and exposes
them to log records.

One word for one thing: the object that says who calls and what they may see is the call's *scope*
(`crm_kernel.scope.Scope`: user id, role, department, the departments they see), read as
`context.scope`; a call that carries none gets `Scope.nobody()`. The *actor* is only the acting
user's id, as every event records it. Older names for the scope elsewhere (the gateway's
`principal`, the tests' `CALLER`) are the same object.
"""

import logging

from eventlet.corolocal import local
from nameko.extensions import DependencyProvider

from crm_kernel.db import new_id
from crm_kernel.scope import Scope

REQUEST_ID = "request_id"
ACTOR = "actor"

_current = local()


def current_request_id() -> str | None:
    return getattr(_current, REQUEST_ID, None)


class CallContext:
    """What a worker knows about the call it serves."""

    def __init__(self, data: dict):
        self._data = data

    @property
    def request_id(self) -> str:
        return self._data[REQUEST_ID]

    @property
    def actor(self) -> str | None:
        return self._data.get(ACTOR)

    @property
    def scope(self) -> Scope:
        """Whose records this call may see; `Scope.nobody()` when the call carries no scope."""
        return Scope.from_context(self._data)

    def act_as(self, user_id: str) -> None:
        """Record who acts: every RPC and event this worker sends from now on carries it."""
        self._data[ACTOR] = user_id


class RequestContext(DependencyProvider):
    """Gives each worker its call context, creating a request id where the caller sent none."""

    def worker_setup(self, worker_ctx):
        worker_ctx.data.setdefault(REQUEST_ID, new_id())
        _current.request_id = worker_ctx.data[REQUEST_ID]

    def get_dependency(self, worker_ctx):
        worker_ctx.data.setdefault(REQUEST_ID, new_id())
        return CallContext(worker_ctx.data)

    def worker_teardown(self, worker_ctx):
        _current.request_id = None


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record emitted while a worker runs."""

    def filter(self, record):
        record.request_id = current_request_id()
        return True
