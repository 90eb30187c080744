"""Reporting's catch-up on PostgreSQL and RabbitMQ: events applied per second from a backlog, and the
delay from an event to its KPI at a steady rate.

    make bench                                   # a backlog of 1,000,000 contact.created events
    .venv/bin/python bench/bench_catchup.py --rows 100000

In a throw-away RabbitMQ virtual host and PostgreSQL database: publishes a backlog of N
`contact.created` events to `contacts.events` while reporting is down (its queues declared, as the
migrations do), then starts the reporting service as `make run` does (`nameko run`, its own process)
and times how fast it empties the backlog: first with one event per transaction (`CRM_EVENT_BATCH=1`,
on the first `--single` events: the way events were applied before batches), then in batches (the
default). Then, with reporting running and idle, publishes `--steady-rate` events a second for
`--steady-seconds` and reads, per event, how long from its `occurred_at` until reporting recorded it
as applied (`processed_events.processed_at`, in the transaction that counts it). Not included: the
contacts side (the POST, its outbox relay). Prints a Markdown table for BENCHMARKS.md.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "reporting")]

import pika  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from throwaway import create_database, drop_database  # noqa: E402

from crm_kernel.migrations import upgrade  # noqa: E402
from crm_kernel.topology import declare_event_queues, service_class  # noqa: E402

BROKER = os.environ.get("CRM_BENCH_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)  # noqa: S603, S607


def contact_created(n: int, at: datetime) -> dict:
    entity = {"id": f"c{n:012d}", "created_at": at.isoformat(), "owner_id": f"u{n % 40}", "department_id": None}
    return {"event_id": uuid.uuid4().hex, "type": "contact.created", "occurred_at": at.isoformat(), "entity": entity}


class Broker:
    def __init__(self, uri: str):
        self.connection = pika.BlockingConnection(pika.URLParameters(uri))
        self.channel = self.connection.channel()
        self.properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)

    def publish(self, event: dict) -> None:
        self.channel.basic_publish("contacts.events", "contact.created", json.dumps(event), self.properties)

    def close(self) -> None:
        self.connection.close()


class Reporting:
    """The reporting service in its own process, as `make run` starts it."""

    def __init__(self, uri: str, database_url: str, batch: int | None):
        paths = [str(ROOT), str(ROOT / "services" / "reporting")]
        env = dict(os.environ, AMQP_URI=uri, REPORTING_DATABASE_URL=database_url, LOG_LEVEL="WARNING")
        env |= {"PYTHONPATH": os.pathsep.join(paths), "WEB_SERVER_ADDRESS": "127.0.0.1:0"}
        env |= {"PYTHONWARNINGS": "ignore::DeprecationWarning"} | ({"CRM_EVENT_BATCH": str(batch)} if batch else {})
        command = [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config.yaml")]
        self.process = subprocess.Popen([*command, "reporting.service:ReportingService"], env=env, cwd=ROOT)  # noqa: S603

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def applied(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM processed_events"))


def drain(engine, target: int, marks: int = 10) -> tuple[float, list[float]]:
    """Seconds from now until `target` events are applied, and the rate over each tenth of them."""
    started = last_time = time.perf_counter()
    last_count, rates, step = applied(engine), [], max(1, target // marks)
    while (count := applied(engine)) < target:
        now = time.perf_counter()
        if count - last_count >= step:
            rates.append((count - last_count) / (now - last_time))
            last_time, last_count = now, count
        time.sleep(0.25)  # a benchmark polling the database, not a test waiting for a worker
    return time.perf_counter() - started, rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="events in the backlog (default 1,000,000)")
    parser.add_argument("--single", type=int, default=2_000, help="backlog applied one event per transaction")
    parser.add_argument("--steady-rate", type=int, default=100, help="events a second at the steady rate")
    parser.add_argument("--steady-seconds", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the database and virtual host afterwards")
    args, _ = parser.parse_known_args()  # `make bench` passes every benchmark the same BENCH_ARGS
    vhost = f"crm-bench-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    uri = f"{BROKER}/{vhost}"
    name, url = create_database("crm_bench_catchup")
    engine = create_engine(url)
    results, reporting = {}, None
    try:
        upgrade("reporting", url)
        declare_event_queues(service_class("reporting"), uri)
        now = datetime.now(UTC)
        for label, count, batch, offset in (
            ("one per transaction", args.single, 1, 0),
            ("batches", args.rows, None, args.single),
        ):
            print(f"publishing {count:,} events while reporting is down ...", flush=True)
            broker = Broker(uri)  # a connection per phase: an idle one misses heartbeats and is closed
            for n in range(count):
                broker.publish(contact_created(offset + n, now))
            broker.close()
            reporting = Reporting(uri, url, batch)
            seconds, rates = drain(engine, offset + count)
            results[label] = {"count": count, "rate": count / seconds, "rates": rates, "rss": reporting.peak_rss_mb()}
            if batch == 1:
                reporting.stop()
        print(f"publishing {args.steady_rate} events a second for {args.steady_seconds} s ...", flush=True)
        broker, before, started = Broker(uri), applied(engine), time.perf_counter()
        steady = args.steady_rate * args.steady_seconds
        sent = {}
        for n in range(steady):
            time.sleep(max(0.0, started + n / args.steady_rate - time.perf_counter()))
            event = contact_created(10**9 + n, datetime.now(UTC)) | {"event_id": f"steady{n:026d}"}
            sent[event["event_id"]] = datetime.fromisoformat(event["occurred_at"])
            broker.publish(event)
        drain(engine, before + steady)
        broker.close()
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT event_id, processed_at FROM processed_events WHERE event_id LIKE 'steady%'")
            ).all()
        delays = sorted((applied_at - sent[event_id]).total_seconds() * 1000 for event_id, applied_at in rows)
    finally:
        if reporting is not None and reporting.process.poll() is None:
            reporting.stop()
        engine.dispose()
        if not args.keep:
            drop_database(name)
            rabbitmqctl("delete_vhost", vhost)
    print(f"\n## reporting catch-up ({platform.python_version()}, {os.cpu_count()} CPUs)\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    for label, result in results.items():
        steps = ", ".join(f"{rate:,.0f}" for rate in result["rates"])
        print(
            f"| backlog of {result['count']:,}, {label} | {result['rate']:,.0f} events/s (per tenth: {steps}); "
            f"peak RSS {result['rss']:.0f} MB | >= 2,000 events/s |"
        )
    ratio = results["batches"]["rate"] / results["one per transaction"]["rate"]
    print(f"| ratio, batches / one per transaction | x{ratio:.1f} | |")
    print(f"| steady {args.steady_rate}/s: delay p50 | {statistics.median(delays):.0f} ms | |")
    p99 = delays[max(0, round(0.99 * len(delays)) - 1)]
    print(f"| steady {args.steady_rate}/s: delay p99 | {p99:.0f} ms | <= 250 ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
