"""`python -m reporting.rebuild`: rebuild the read models from every service's event history.

Checks that every service answers, clears the read models and `processed_events` (plans are kept:
they are reporting's own records), asks each service to republish its history (`republish_events`),
waits until reporting's event queues have drained, and prints what the read models now hold.
Exit status 1, with one line saying which, when a service is down or the queues do not drain.
"""

import argparse
import sys
import time

import pika
from nameko import config
from nameko.standalone.rpc import ClusterRpcClient
from pika.exceptions import ChannelClosedByBroker
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crm_kernel.config import amqp_uri, database_url
from crm_kernel.db import get_engine
from crm_kernel.topology import event_queues
from reporting.models import READ_MODELS, Department, Fact, ProcessedEvent, User

PUBLISHERS = ("gateway", "contacts", "interactions", "documents")


class RebuildFailed(Exception):
    pass


def clear_read_models(session: Session) -> None:
    """Empty every read model and forget which events were applied (in one transaction)."""
    for model in READ_MODELS:
        session.execute(delete(model))
    session.commit()


def read_model_counts(session: Session) -> dict:
    facts = dict(session.execute(select(Fact.kpi, func.count()).group_by(Fact.kpi)).all())
    return {
        "events applied": session.scalar(select(func.count()).select_from(ProcessedEvent)),
        "departments": session.scalar(select(func.count()).select_from(Department)),
        "users": session.scalar(select(func.count()).select_from(User)),
        **{f"facts {kpi}": count for kpi, count in sorted(facts.items())},
    }


def _queue_state(connection, name: str) -> tuple[int, int] | None:
    """(ready messages, consumers) of a queue, or None when it does not exist."""
    channel = connection.channel()
    try:
        declared = channel.queue_declare(name, passive=True).method
        return declared.message_count, declared.consumer_count
    except ChannelClosedByBroker:
        return None
    finally:
        if channel.is_open:
            channel.close()


def check_services_up(connection, services) -> None:
    down = [name for name in services if (_queue_state(connection, f"rpc-{name}") or (0, 0))[1] == 0]
    if down:
        raise RebuildFailed(f"not running: {', '.join(down)}; start them and run the rebuild again")


def wait_until_drained(connection, queues: list[str], applied, timeout: float, quiet: float = 2.0) -> None:
    """Until every queue is empty and the applied count stayed the same for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, steady_since = None, time.monotonic()
    while time.monotonic() < deadline:
        waiting = sum((_queue_state(connection, name) or (0, 0))[0] for name in queues)
        count = applied()
        if waiting or count != last:
            last, steady_since = count, time.monotonic()
        elif time.monotonic() - steady_since >= quiet:
            return
        time.sleep(0.25)
    raise RebuildFailed(f"reporting's event queues did not drain within {timeout:.0f}s; is reporting running?")


def rebuild(services=PUBLISHERS, timeout: float = 60.0, uri: str | None = None, out=sys.stdout) -> dict:
    """Rebuild the read models; returns what they hold afterwards."""
    from reporting.service import ReportingService

    uri = uri or amqp_uri()
    engine = get_engine(database_url("reporting"))
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        check_services_up(connection, (*services, "reporting"))
        with Session(engine) as session:
            clear_read_models(session)
        print("read models cleared; asking for the history of: " + ", ".join(services), file=out, flush=True)
        with config.patch({"AMQP_URI": uri, "serializer": "json"}), ClusterRpcClient(timeout=timeout) as client:
            for name in services:
                print(f"  {name}: {client[name].republish_events()} events to republish", file=out, flush=True)

        def applied() -> int:
            with Session(engine) as session:
                return session.scalar(select(func.count()).select_from(ProcessedEvent))

        queues = [queue.name for queue in event_queues(ReportingService)]
        wait_until_drained(connection, queues, applied, timeout)
    finally:
        connection.close()
    with Session(engine) as session:
        counts = read_model_counts(session)
    for name, count in counts.items():
        print(f"{name}: {count}", file=out)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reporting.rebuild", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step (default 60)")
    parser.add_argument("--services", default=",".join(PUBLISHERS), help="services whose history to replay")
    args = parser.parse_args(argv)
    try:
        rebuild(tuple(filter(None, args.services.split(","))), args.timeout)
    except RebuildFailed as failed:
        print(f"rebuild failed: {failed}", file=sys.stderr)
        return 1
    except Exception as exc:  # a timeout or a broker that is down: one line, not a stack trace
        print(f"rebuild failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
