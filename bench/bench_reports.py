"""Reports at scale on PostgreSQL: the KPI report over a million facts, and reporting's memory as they grow.

    make bench                                   # 1,000,000 facts (the issue's figure)
    .venv/bin/python bench/bench_reports.py --rows 200000 --runs 10

Creates a throw-away database, migrates it, writes N facts of one month (80% contacts created, the
rest interactions, tickets, deals, tasks; 40 users in 10 departments of a three-level tree) with one
`INSERT ... SELECT` from generate_series, counts them into the rollup (`reporting.rollup.rebuild`),
then calls `ReportingService.kpis` (the RPC behind `GET /reports/kpis`: schema, scope, queries,
assembly) ungrouped and grouped by day, department and user, as an admin and as a manager, and by day
in Asia/Kolkata (+5:30: each local midnight's half hours are read from the facts). It does so at a
tenth of the facts and at all of them, so the process's memory growth between the two shows whether
it stays flat. Prints a Markdown table for BENCHMARKS.md.
Connection: CRM_BENCH_PG_USER / _HOST / _PORT (default postgres@127.0.0.1:5432).
"""

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "reporting")]

from nameko.testing.services import worker_factory  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from throwaway import create_database, drop_database  # noqa: E402

from crm_kernel.context import CallContext  # noqa: E402
from crm_kernel.migrations import upgrade  # noqa: E402
from crm_kernel.schemas import load  # noqa: E402
from crm_kernel.scope import SCOPE, Scope  # noqa: E402
from reporting import rollup  # noqa: E402
from reporting.kpis import KPIS  # noqa: E402
from reporting.reports import fact_query  # noqa: E402
from reporting.schemas import ReportQuerySchema  # noqa: E402
from reporting.service import ReportingService  # noqa: E402

MONTH = {"from": "2026-03-01", "to": "2026-03-31"}
MANAGER = Scope("bench-manager", "manager", "d1", ("d1", "d2", "d3", "d4"))

# Ten departments (d0 the company, d1..d3 below it, d4..d9 below those), 40 users, four per department.
DEPARTMENTS = "INSERT INTO departments (id, name, parent_id, timezone, deleted) SELECT 'd' || n, 'Dept ' || n, \
CASE WHEN n = 0 THEN NULL WHEN n <= 3 THEN 'd0' ELSE 'd' || (1 + n % 3) END, 'UTC', false FROM generate_series(0, 9) n"
USERS = "INSERT INTO users (id, name, department_id, active) SELECT 'u' || n, 'User ' || n, 'd' || (n % 10), true \
FROM generate_series(0, 39) n"
# Facts: n's KPI by n % 10 (8 in 10 contacts created), spread evenly over March in UTC; half name a
# department, the rest count in their user's.
FACTS = """
INSERT INTO kpi_facts (id, source, kpi, occurred_at, user_id, department_id, dimensions)
SELECT kpi || '-f' || n, 'f:' || n, kpi,
       timestamptz '2026-03-01 00:00:00+00' + (n % {rows}) * interval '2678399 seconds' / {rows},
       'u' || (n % 40), CASE WHEN n % 2 = 0 THEN 'd' || (n % 40 % 10) END,
       CASE kpi WHEN 'interactions' THEN json_build_object('channel', 'call', 'direction', 'in')
                WHEN 'resolution_time' THEN json_build_object('seconds', (n % 86400)::float)
                WHEN 'deals_won' THEN json_build_object('amount', '100.00', 'currency', 'EUR')
                ELSE '{{}}'::json END
FROM (SELECT n, CASE n % 10 WHEN 8 THEN 'interactions' WHEN 9 THEN
             (ARRAY['tickets_opened', 'resolution_time', 'deals_won', 'tasks_completed'])[1 + n / 10 % 4]
             ELSE 'contacts_created' END AS kpi
      FROM generate_series({start}, {stop} - 1) n) numbered
"""


def rss_mb() -> float:
    """The process's resident memory now (Linux), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def write_facts(engine, start: int, stop: int, rows: int) -> int:
    """Write the facts `start` <= n < `stop`, recount the rollup from every fact (the event batches keep
    it as they write facts; these are written directly), and return the rollup's rows."""
    with engine.begin() as connection:
        connection.execute(text(FACTS.format(start=start, stop=stop, rows=rows)))
    with Session(engine) as session:
        rollup.rebuild(session)
        session.commit()
        counted = session.scalar(text("SELECT count(*) FROM kpi_rollup"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE kpi_facts"))
        connection.execute(text("VACUUM ANALYZE kpi_rollup"))
    return counted


def time_reports(engine, runs: int) -> dict:
    """Milliseconds per report, by (role, grouping), over `runs` calls each, in turn."""
    shapes = [(role, group_by) for role in ("admin", "manager") for group_by in (None, "day", "department", "user")]
    shapes.append(("admin", "day in Asia/Kolkata"))
    timings: dict = {shape: [] for shape in shapes}
    for _ in range(runs):
        for role, group_by in shapes:
            context = CallContext({SCOPE: (MANAGER if role == "manager" else Scope.system()).encode()})
            query = {**MONTH} | ({"group_by": group_by.split()[0]} if group_by else {})
            query |= {"tz": group_by.rsplit(" ", 1)[1]} if group_by and " in " in group_by else {}
            with Session(engine) as session:
                worker = worker_factory(ReportingService, db=session, context=context)
                started = time.perf_counter()
                report = worker.kpis(query)
                timings[(role, group_by)].append((time.perf_counter() - started) * 1000)
    timings["contacts_created"] = report["kpis"]["contacts_created"]  # the last shape: the admin's, whole month
    return timings


def time_loading(engine) -> dict:
    """What the reports did before they were counted in SQL, up to its first step only: every fact
    of the month loaded as a dict (as an admin), counted in Python."""
    with Session(engine) as session:
        params = load(ReportQuerySchema(), dict(MONTH))
        before, started = rss_mb(), time.perf_counter()
        facts = [dict(row) for row in session.execute(fact_query(session, Scope.system(), params, KPIS)).mappings()]
        counted = Counter(fact["kpi"] for fact in facts)
        seconds = time.perf_counter() - started
    return {"ms": seconds * 1000, "rss_growth": rss_mb() - before, "facts": sum(counted.values())}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="facts in the month (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=20, help="calls of each report shape")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args, _ = parser.parse_known_args()  # `make bench` passes every benchmark the same BENCH_ARGS
    name, url = create_database("crm_bench_reports")
    engine = create_engine(url)
    try:
        upgrade("reporting", url)
        with engine.begin() as connection:
            connection.execute(text(DEPARTMENTS))
            connection.execute(text(USERS))
        tenth = args.rows // 10
        print(f"writing {tenth:,} facts into {name} ...", flush=True)
        rolled_small = write_facts(engine, 0, tenth, args.rows)
        small = time_reports(engine, max(2, args.runs // 4))
        rss_small = rss_mb()
        print(f"writing {args.rows - tenth:,} more ...", flush=True)
        rolled_large = write_facts(engine, tenth, args.rows, args.rows)
        large = time_reports(engine, args.runs)
        rss_large = rss_mb()
        loading = time_loading(engine)
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(name)
    print(f"\n## reports ({args.rows:,} facts in a month, {platform.python_version()}, {os.cpu_count()} CPUs)\n")
    print(f"contacts_created counted: {small['contacts_created']:,} then {large['contacts_created']:,}")
    print(f"rollup rows (UTC hour, KPI, user, department, breakdown): {rolled_small:,} then {rolled_large:,}\n")
    print(f"| report (GET /reports/kpis) | median ms at {tenth:,} | median ms at {args.rows:,} | p95 ms | target |")
    print("| --- | --- | --- | --- | --- |")
    for role, group_by in (key for key in large if isinstance(key, tuple)):
        at_small, at_large = small[(role, group_by)], large[(role, group_by)]
        print(
            f"| {role}, {group_by or 'total'} | {statistics.median(at_small):.0f} | "
            f"{statistics.median(at_large):.0f} | {p95(at_large):.0f} | p95 <= 200 ms |"
        )
    print(
        f"| before: loading the month's {loading['facts']:,} facts into Python and counting them | | "
        f"{loading['ms']:.0f} | | (and {loading['rss_growth']:+.0f} MB) |"
    )
    print(
        f"\nreporting process RSS after the reports: {rss_small:.0f} MB at {tenth:,} facts, {rss_large:.0f} MB at "
        f"{args.rows:,} (growth {rss_large - rss_small:+.0f} MB; flat means the facts never reach Python)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
