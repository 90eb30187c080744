"""Contacts at scale on PostgreSQL: CSV import of generated contacts, then search latency.

    make bench                                   # 1,000,000 contacts (the issue's figure)
    make bench BENCH_ARGS="--rows 200000"        # a quicker run

Creates a throw-away database, migrates it, streams a generated CSV (never held in memory) through
the same `import_csv` the `/import` route runs, then times `list_contacts` (the RPC behind
`GET /contacts?q=`) for a mix of queries. Prints a Markdown table for BENCHMARKS.md.
Connection: CRM_BENCH_PG_USER / _HOST / _PORT (default postgres@127.0.0.1:5432, trust auth).
"""

import argparse
import io
import itertools
import os
import platform
import random
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "contacts")]

import pg8000.native  # noqa: E402
from nameko.testing.services import worker_factory  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from contacts.importer import import_csv  # noqa: E402
from contacts.models import OutboxEvent  # noqa: E402
from contacts.service import ContactsService  # noqa: E402
from crm_kernel.context import CallContext  # noqa: E402
from crm_kernel.migrations import upgrade  # noqa: E402
from crm_kernel.outbox import OutboxRecorder  # noqa: E402

PG = dict(
    user=os.environ.get("CRM_BENCH_PG_USER", "postgres"),
    host=os.environ.get("CRM_BENCH_PG_HOST", "127.0.0.1"),
    port=int(os.environ.get("CRM_BENCH_PG_PORT", "5432")),
)
FIRST = ["Ada", "Zoë", "José", "Grace", "Alan", "Björn", "Chloé", "Dmitri", "Émile", "Fatima", "Günter", "Hana"]
FIRST += [f"{a}{b}" for a, b in itertools.product(["Ma", "Li", "Ro", "Ka", "Te"], ["ria", "nus", "sa", "ren"])]
SYLLABLES = ["lo", "ve", "la", "ce", "hop", "per", "tu", "ring", "nú", "ñez", "mül", "ler", "sch", "midt", "ka"]
CALLER = {"actor": "bench", "request_id": "bench"}


def last_names(count: int = 2000) -> list[str]:
    rng = random.Random(7)
    return [("".join(rng.choice(SYLLABLES) for _ in range(3))).capitalize() for _ in range(count)]


class GeneratedCsv(io.RawIOBase):
    """`rows` contacts as CSV bytes, produced as they are read: the file never exists whole."""

    def __init__(self, rows: int):
        self.lasts = last_names()
        self.lines = self._lines(rows)
        self.pending = b""

    def _lines(self, rows: int):
        yield "first_name;last_name;email;phone;company;tags\n"
        for n in range(rows):
            first, last = FIRST[n % len(FIRST)], self.lasts[(n * 7919) % len(self.lasts)]
            yield (
                f"{first};{last};{first.lower()}.{n}@example{n % 97}.com;+4420{70000000 + n};"
                f"Company {n % 1000};{'vip' if n % 10 == 0 else 'lead'}\n"
            )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self.pending) < len(buffer):
            chunk = "".join(itertools.islice(self.lines, 256)).encode()
            if not chunk:
                break
            self.pending += chunk
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def create_database() -> tuple[str, str]:
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    admin = pg8000.native.Connection(database="postgres", **PG)
    admin.run(f'CREATE DATABASE "{name}"')
    admin.close()
    return name, f"postgresql+pg8000://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def drop_database(name: str) -> None:
    admin = pg8000.native.Connection(database="postgres", **PG)
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def bench_import(engine, rows: int) -> dict:
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        outbox = OutboxRecorder(OutboxEvent, dict(CALLER))
        report = import_csv(session, GeneratedCsv(rows), outbox=outbox, definitions={}, defaults={})
    seconds = time.perf_counter() - started
    return {"report": report, "seconds": seconds, "rows_per_s": rows / seconds, "peak_mb": peak_rss_mb()}


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
        worker = worker_factory(
            ContactsService, db=session, outbox=OutboxRecorder(OutboxEvent, {}), context=CallContext({})
        )
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
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    name, url = create_database()
    engine = create_engine(url)
    try:
        upgrade("contacts", url)
        print(f"importing {args.rows:,} generated contacts into {name} ...", flush=True)
        imported = bench_import(engine, args.rows)
        searched = bench_search(engine, args.queries)
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(name)
    report = imported["report"]
    print(f"\n## contacts ({args.rows:,} rows, {platform.python_version()}, {os.cpu_count()} CPUs)\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    print(f"| import rate | {imported['rows_per_s']:,.0f} rows/s ({imported['seconds']:,.0f} s) | >= 5,000 rows/s |")
    print(f"| import peak memory (process RSS) | {imported['peak_mb']:,.0f} MB | < 500 MB |")
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
