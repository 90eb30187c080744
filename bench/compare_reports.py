"""Two versions of the KPI report code on one database, run in turn: the ratio of their times in one run.

    .venv/bin/python bench/bench_reports.py --keep          # prints the database it leaves
    git worktree add --detach /tmp/before <commit>           # the code to compare with
    .venv/bin/python bench/compare_reports.py --database crm_bench_reports_xxxx --before /tmp/before

Each version runs in a process of its own (both import a package named `reporting`), every report
shape of `bench_reports.py` three times per process (the first call of a shape compiles its SQL and is
not timed), the two versions alternating `--runs` times so that the machine's load falls on both alike.
Prints each shape's contacts counted by both, whether the two versions' whole reports (every KPI, group,
median and p90) are identical, and a Markdown table of medians.
Connection: CRM_BENCH_PG_USER / _HOST / _PORT (default postgres@127.0.0.1:5432).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import hashlib, json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/services/reporting"]
from nameko.testing.services import worker_factory
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from crm_kernel.context import CallContext
from crm_kernel.scope import SCOPE, Scope
from reporting.service import ReportingService
MANAGER = Scope("bench-manager", "manager", "d1", ("d1", "d2", "d3", "d4"))
engine = create_engine(sys.argv[2])
out = {}
for role, group_by, tz in json.loads(sys.argv[3]) * 3:
    context = CallContext({SCOPE: (MANAGER if role == "manager" else Scope.system()).encode()})
    query = {"from": "2026-03-01", "to": "2026-03-31", "tz": tz} | ({"group_by": group_by} if group_by else {})
    with Session(engine) as session:
        worker = worker_factory(ReportingService, db=session, context=context)
        started = time.perf_counter()
        report = worker.kpis(query)
        whole = json.dumps({k: v for k, v in report.items() if k != "fresh_as_of"}, sort_keys=True, default=str)
        out.setdefault(f"{role}, {group_by or 'total'}, {tz}", []).append(
            [(time.perf_counter() - started) * 1000, report["kpis"]["contacts_created"],
             hashlib.sha256(whole.encode()).hexdigest()[:16]]
        )
print("RESULT" + json.dumps(out))
"""
SHAPES = [[role, group_by, "UTC"] for role in ("admin", "manager") for group_by in (None, "day", "department", "user")]
SHAPES.append(["admin", "day", "Asia/Kolkata"])


def run(tree: str, url: str) -> dict:
    python = Path(tree) / ".venv" / "bin" / "python"
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [str(python if python.exists() else sys.executable), "-c", CHILD, tree, url, json.dumps(SHAPES)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    if not lines:
        sys.exit(done.stderr[-3000:])
    return json.loads(lines[0].removeprefix("RESULT"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a database left by bench_reports.py --keep")
    parser.add_argument("--before", required=True, help="a checkout of the code to compare with")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    user = os.environ.get("CRM_BENCH_PG_USER", "postgres")
    host, port = os.environ.get("CRM_BENCH_PG_HOST", "127.0.0.1"), os.environ.get("CRM_BENCH_PG_PORT", "5432")
    url = f"postgresql+psycopg2://{user}@{host}:{port}/{args.database}"
    times: dict = {"before": {}, "now": {}}
    digests: dict = {"before": {}, "now": {}}
    for turn in range(args.runs):
        for label, tree in (("before", args.before), ("now", str(ROOT))):
            for shape, calls in run(tree, url).items():
                times[label].setdefault(shape, []).extend(ms for ms, *_ in calls[1:])
                digests[label].setdefault(shape, set()).update(digest for *_, digest in calls)
                if turn == 0:
                    print(f"{label}: {shape}: contacts_created {calls[0][1]:,}")
    for shape, before in digests["before"].items():
        same = "identical" if before == digests["now"][shape] and len(before) == 1 else "DIFFERENT"
        print(f"{shape}: whole reports {same} (before {sorted(before)}, now {sorted(digests['now'][shape])})")
    print("\n| report | before, median ms | now, median ms | now, p95 ms | before / now |")
    print("| --- | --- | --- | --- | --- |")
    for shape, before in times["before"].items():
        now = sorted(times["now"][shape])
        p95 = now[max(0, round(0.95 * len(now)) - 1)]
        was, is_ = statistics.median(before), statistics.median(now)
        print(f"| {shape} | {was:,.0f} | {is_:,.0f} | {p95:,.0f} | x{was / is_:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
