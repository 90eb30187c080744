"""Contacts at scale on PostgreSQL: CSV import of generated contacts, then search latency.

    make bench                                   # 1,000,000 contacts (the issue's figure)
    make bench BENCH_ARGS="--rows 200000"        # a quicker run

Creates a throw-away database, migrates it, streams a generated CSV (written by a client process as
it is read, never held in memory) through the same `import_csv` the `/import` route runs, then times
`list_contacts` (the RPC behind `GET /contacts?q=`) for a mix of queries. Prints a Markdown table for
BENCHMARKS.md. Connection: CRM_BENCH_PG_USER / _HOST / _PORT (default postgres@127.0.0.1:5432, trust auth).
"""

import argparse
import io
import itertools
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "contacts")]

from generated_contacts import FIRST, last_names  # noqa: E402
from nameko.testing.services import worker_factory  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from throwaway import DRIVERS, create_database, driver, drop_database  # noqa: E402

from contacts.importer import BATCH, import_csv  # noqa: E402
from contacts.models import OutboxEvent  # noqa: E402
from contacts.service import ContactsService  # noqa: E402
from crm_kernel.context import CallContext  # noqa: E402
from crm_kernel.migrations import upgrade  # noqa: E402
from crm_kernel.outbox import OutboxRecorder  # noqa: E402
from crm_kernel.scope import SCOPE, Scope  # noqa: E402

CALLER = {"actor": "bench", "request_id": "bench"}


class Upload(io.RawIOBase):
    """The body of an upload of `rows` generated contacts, read from a client process as it writes it.

    `marks` are the times when every 100,000th row had been read: how the rate holds up as the table grows.
    """

    def __init__(self, rows: int):
        command = [sys.executable, str(Path(__file__).with_name("generated_contacts.py")), str(rows)]
        self.client = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 - our own script
        self.lines, self.marks = 0, [time.perf_counter()]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = self.client.stdout.readinto(buffer)
        self.lines += buffer[:size].count(b"\n")
        while self.lines > 100_000 * len(self.marks):
            self.marks.append(time.perf_counter())
        return size

    def close(self) -> None:
        self.client.stdout.close()  # a client still writing (the import stopped early) then stops too
        self.client.wait()
        super().close()


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus that of the import's row checker (its child), if any."""
    own, child = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return (own + child) / 1024  # kilobytes on Linux


def bench_import(engine, rows: int, batch: int) -> dict:
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session, Upload(rows) as upload:
        outbox = OutboxRecorder(OutboxEvent, dict(CALLER))
        report = import_csv(
            session, upload, outbox=outbox, definitions={}, defaults={}, batch=batch, scope=Scope.system()
        )
    seconds = time.perf_counter() - started
    marks = [*upload.marks[: -(-rows // 100_000)], time.perf_counter()]  # the last step ends with the import
    pairs = enumerate(itertools.pairwise(marks))
    steps = [min(100_000, rows - 100_000 * i) / (end - start) for i, (start, end) in pairs]
    return {
        "report": report,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_mb": peak_rss_mb(),
        "steps": steps,
    }


def bench_search(engine, queries: int) -> dict:
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    lasts = last_names()
    rng = random.Random(11)
    kinds = {
        "last name prefix": lambda: rng.choice(lasts)[:5],
        "name substring": lambda: rng.choice(lasts)[2:6],
        "first and last name": lambda: f"{rng.choice(FIRST)} {rng.choice(lasts)}",
        "e-mail": lambda: f".{rng.randrange(200000)}@example",
        "phone digits": lambda: f"20 {70000000 + rng.randrange(200000)}",
        "accents folded": lambda: "nunez",
        "company": lambda: f"company {rng.randrange(1000)}",
    }
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    with Session(engine) as session:
        context = CallContext({SCOPE: Scope.system().encode()})
        worker = worker_factory(ContactsService, db=session, outbox=OutboxRecorder(OutboxEvent, {}), context=context)
        for n in range(queries):
            kind = list(kinds)[n % len(kinds)]
            q = kinds[kind]()
            started = time.perf_counter()
            worker.list_contacts({"q": q, "limit": "50"})
            timings[kind].append((time.perf_counter() - started) * 1000)
            session.rollback()
    everything = [t for ts in timings.values() for t in ts]
    return {
        "median_ms": statistics.median(everything),
        "p95_ms": statistics.quantiles(everything, n=20)[18],
        "by_kind": {kind: (statistics.median(ts), max(ts)) for kind, ts in timings.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=350)
    parser.add_argument("--batch", type=int, default=BATCH, help=f"rows per transaction (default {BATCH})")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--driver", choices=DRIVERS, default=driver(), help="PostgreSQL driver")
    args, _ = parser.parse_known_args()  # `make bench` passes every benchmark the same BENCH_ARGS
    os.environ["CRM_BENCH_PG_DRIVER"] = args.driver
    name, url = create_database("crm_bench")
    engine = create_engine(url)
    try:
        upgrade("contacts", url)
        print(f"importing {args.rows:,} generated contacts into {name} ...", flush=True)
        imported = bench_import(engine, args.rows, args.batch)
        searched = bench_search(engine, args.queries)
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(name)
    report = imported["report"]
    print(f"\n## contacts ({args.rows:,} rows, {platform.python_version()}, {os.cpu_count()} CPUs)\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    print(f"| import rate | {imported['rows_per_s']:,.0f} rows/s ({imported['seconds']:,.0f} s) | >= 5,000 rows/s |")
    print(f"| import peak memory (RSS, importer + checker) | {imported['peak_mb']:,.0f} MB | < 500 MB |")
    steps = ", ".join(f"{rate:,.0f}" for rate in imported["steps"])
    print(f"| import rate per 100,000 rows, in order | {steps} rows/s | |")
    print(f"| search median | {searched['median_ms']:.1f} ms | |")
    print(f"| search p95 | {searched['p95_ms']:.1f} ms | < 50 ms |")
    print(
        f"\nimport report: created {report['created']:,}, updated {report['updated']:,}, "
        f"skipped {report['skipped']:,}, failed {report['failed']:,}\n"
    )
    print("| query kind | median ms | max ms |\n| --- | --- | --- |")
    for kind, (median, worst) in searched["by_kind"].items():
        print(f"| {kind} | {median:.1f} | {worst:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
