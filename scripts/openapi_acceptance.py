"""How many requests generated from the OpenAPI document the API accepts, operation by operation.

    .venv/bin/python scripts/openapi_acceptance.py                  # 15 requests per operation
    .venv/bin/python scripts/openapi_acceptance.py --examples 30 --only 'contacts|deals'

Starts the system as `make run` does (`scripts/run_local.py`, SQLite, a RabbitMQ virtual host of its
own), creates one record of each kind so that `{id}` in a path names a record that exists (DELETE
aside), then lets schemathesis generate requests for every operation, valid by the document, sent as
the first admin. The configuration routes (`/auth`, `/plans`, `/sla-policies`, `/contact-fields`) run
after the others, logout last, as in tests/e2e/test_api_contract.py.

"Refused" is a 400 or 422: the API said the input is invalid, which a document that states every
constraint should prevent. A 404 (a generated id naming nothing), 409 or 412 is counted apart: no
OpenAPI keyword can say "an existing record". Prints, per operation, the counts and the commonest
reasons (`field: message` of the problem documents), and how many operations were mostly refused
(more than half of their requests). Each refusal is sorted by its messages: a reference to a record
that does not exist, an opaque cursor, a rule between values (`to` before `from`), a phone number
the numbering plan does not know, a NUL character, or "unstated": a constraint the document could
have stated and did not. With `--real-ids`, every reference a request makes (`contact_id`,
`owner_id`, ...) names a seeded record, as a client that knows its records would send. A 5xx is
listed too: it is a bug.
"""

import argparse
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

import schemathesis  # noqa: E402
from generated_requests import V1, seed_configuration, seed_records, send_generated  # noqa: E402
from leftovers import rabbitmqctl, vhost_name  # noqa: E402
from system_launcher import launched  # noqa: E402

BROKER = "amqp://guest:guest@127.0.0.1:5672"
CONFIGURATION = re.compile(rf"^{V1}/(auth/|contact-fields|sla-policies|plans)")
LOGOUT = f"{V1}/auth/logout"


@contextmanager
def own_vhost():
    name = vhost_name()
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"{BROKER}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


# Why a refusal is one the document cannot prevent, by the words of the API's messages.
INEXPRESSIBLE = {
    "reference": re.compile(
        r"unknown (contact|company|department|deal|ticket|interaction|campaign|custom field)"
        r"|not a user you may (see|hand records to)|: unknown$|does not exist|not found"
        r"|^attributes: "  # the keys of custom fields, which are records too
    ),
    "cursor": re.compile(r"^cursor: "),
    "between values": re.compile(
        r"is before|too long|give |only for|required for|required when|not both"
        r"|transitions route|overlap|not before"
    ),  # fmt: skip
    "phone number": re.compile(r"^phones: "),
    "NUL": re.compile(r"NUL characters"),
}


def reasons_of(response) -> list[str]:
    try:
        problem = response.json()
    except ValueError:
        return [f"{response.status_code} (no JSON)"]
    errors = problem.get("errors") or {}
    if not isinstance(errors, dict) or not errors:
        return [f"{problem.get('detail') or problem.get('title')}"[:120]]
    found = []
    for field, messages in errors.items():
        text = messages if isinstance(messages, str) else " / ".join(map(str, messages))
        text = re.sub(r"'[^']{0,80}'", "'…'", text)  # the generated value quoted says nothing
        found.append(f"{field}: {text[:120]}")
    return found


def kind_of(reasons: list[str]) -> str:
    """`unstated` when one reason is none of the inexpressible kinds: the document could have said it."""
    kinds = [next((kind for kind, words in INEXPRESSIBLE.items() if words.search(r)), "unstated") for r in reasons]
    return "unstated" if "unstated" in kinds else kinds[0]


REFERENCES = {
    "contact_id": "contacts",
    "company_id": "companies",
    "department_id": "departments",
    "deal_id": "deals",
    "ticket_id": "tickets",
    "interaction_id": "interactions",
    "owner_id": "me",
    "user_id": "me",
    "assignee_id": "me",
}


def with_real_ids(seeded: dict, case) -> None:
    """As a client that knows its records: every reference the request makes names a seeded record."""
    for values in (case.body, case.query):
        if isinstance(values, dict):
            for key, collection in REFERENCES.items():
                if isinstance(values.get(key), str):
                    values[key] = seeded[collection]


def measure(system, operations, examples: int, seeded: dict, tally: dict, real_ids: bool) -> None:
    prepare = partial(with_real_ids, seeded) if real_ids else None
    headers = {"Authorization": f"Bearer {system.token()}"}
    for operation in operations:
        entry = tally[f"{operation.method.upper()} {operation.path}"]
        check = partial(count, entry["counts"], entry["reasons"])
        started = time.perf_counter()
        send_generated(system, headers, operation, examples, seeded, check, prepare=prepare)
        entry["seconds"] = time.perf_counter() - started


def count(counts: Counter, reasons: Counter, case, response) -> None:
    status = response.status_code
    kind = "2xx" if status < 300 else "refused" if status in (400, 422) else str(status)
    counts[kind] += 1
    if kind == "refused":
        found = reasons_of(response)
        reasons.update(found)
        counts[f"refused: {kind_of(found)}"] += 1
    elif status >= 500:  # a bug: what was sent, to reproduce it
        reasons[f"{status} after query={case.query} body={str(case.body)[:300]}"] += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=15, help="generated requests per operation")
    parser.add_argument("--only", default="", help="a regular expression the operation's path must match")
    parser.add_argument("--reasons", type=int, default=3, help="reasons shown per operation")
    parser.add_argument("--real-ids", action="store_true", help="references in bodies and queries name seeded records")
    args = parser.parse_args(argv)
    tally = defaultdict(lambda: {"counts": Counter(), "reasons": Counter()})
    vhost, var = own_vhost(), tempfile.TemporaryDirectory(prefix="openapi-acceptance-")
    with vhost as amqp, var as var_dir, launched(Path(var_dir), amqp) as system:
        schema = schemathesis.openapi.from_url(system.url(f"{V1}/openapi.json"))
        operations = [result.ok() for result in schema.get_all_operations()]
        operations = [op for op in operations if re.search(args.only, op.path)]
        admin = system.client()
        seeded = seed_records(admin, system.url) | {"me": admin.get(system.url(f"{V1}/users/me")).json()["id"]}
        ordinary = [op for op in operations if not CONFIGURATION.match(op.path)]
        configuration = [op for op in operations if CONFIGURATION.match(op.path) and op.path != LOGOUT]
        last = [op for op in operations if op.path == LOGOUT]  # it revokes the token
        measure(system, ordinary, args.examples, seeded, tally, args.real_ids)
        seeded |= seed_configuration(admin, system.url, seeded["departments"])
        measure(system, configuration, args.examples, seeded, tally, args.real_ids)
        measure(system, last, args.examples, seeded, tally, args.real_ids)
    report(tally, args.reasons)
    return 0


def report(tally: dict, shown: int) -> None:
    mostly, unstated = [], []
    print("| operation | sent | 2xx | refused (400/422) | other | commonest reasons | seconds |")
    print("| --- | ---: | ---: | ---: | --- | --- | ---: |")
    for name, entry in sorted(tally.items(), key=lambda item: item[0].split(" ", 1)[::-1]):
        counts = entry["counts"]
        sent = sum(n for kind, n in counts.items() if not kind.startswith("refused: "))
        other = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if k not in ("2xx", "refused"))
        why = "; ".join(f"{reason} ({n})" for reason, n in entry["reasons"].most_common(shown))
        seconds = entry.get("seconds", 0)
        print(f"| {name} | {sent} | {counts['2xx']} | {counts['refused']} | {other} | {why} | {seconds:.1f} |")
        if sent and counts["refused"] * 2 > sent:
            mostly.append(name)
        if sent and counts["refused: unstated"] * 2 > sent:
            unstated.append(name)

    def outside(names):
        return [name for name in names if not CONFIGURATION.match(name.split(" ", 1)[1])]

    for title, names in [
        ("mostly refused", mostly),
        ("mostly refused for a reason the document could state", unstated),
    ]:
        print(f"\n{title}: {len(names)} of {len(tally)} operations", end=" ")
        print(f"({len(outside(names))} of {len(outside(tally))} outside the configuration routes)")
        for name in names:
            print(f"  {name}")
    print(f"seconds sending: {sum(entry.get('seconds', 0) for entry in tally.values()):.0f}")
    errors = [name for name, entry in tally.items() if any(k.startswith("5") for k in entry["counts"])]
    print(f"5xx: {len(errors)} operations {errors}")


if __name__ == "__main__":
    sys.exit(main())
