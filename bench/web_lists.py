"""The workplace's list and search times with many contacts, in Debian's chromium (not in `make bench`:
it needs chromium and a running RabbitMQ, and the import alone takes minutes on SQLite).

    .venv/bin/python bench/web_lists.py --rows 100000 [--var /tmp/keep-me]   # PYTHONPATH as the Makefile sets it

Starts the system as `make run` does (SQLite, a throw-away RabbitMQ virtual host), imports the
contacts through the API in files of 5,000 rows (skipped when `--var` already holds them), then
times the API's first and second list pages and searches, and in the browser: /contacts opened to its
first 50 rows, "Load more", and a search from the last keystroke to its results.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from system_launcher import ADMIN, launched  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FIRST = ["Anna", "Boris", "Clara", "Dmitri", "Elena", "Fyodor", "Galina", "Hugo", "Irina", "Jonas"]
LAST = ["Ivanova", "Petrov", "Schmidt", "Novak", "Kowalski", "Dubois", "Rossi", "Larsen", "Horvat", "Meyer"]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True)  # noqa: S603, S607 - fixed words


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.0f} ms, max {max(values):.0f} ms (n={len(values)})"


def import_contacts(system, api, rows: int) -> None:
    if api.get(system.url("/api/v1/contacts"), params={"q": f"p{rows - 1}@example", "limit": 1}).json()["items"]:
        return
    lines = [
        f"{FIRST[i % 10]},{LAST[(i // 10) % 10]}{i},p{i}@example{i % 97}.com,+4930{1000000 + i},Company {i % 500}"
        for i in range(rows)
    ]
    started = time.monotonic()
    for start in range(0, rows, 5000):
        body = "\n".join(["first_name,last_name,email,phone,company", *lines[start : start + 5000]]) + "\n"
        for _ in range(5):
            answer = api.post(
                system.url("/api/v1/contacts/import"), data=body.encode(), headers={"Content-Type": "text/csv"}
            )
            if answer.status_code == 200:
                break
            time.sleep(2)
    print(f"imported {rows} contacts in {time.monotonic() - started:.0f} s", flush=True)


def timed(system, api, params: dict) -> float:
    started = time.monotonic()
    answer = api.get(system.url("/api/v1/contacts"), params=params)
    assert answer.status_code == 200, answer.text
    return (time.monotonic() - started) * 1000


def in_browser(system) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768}, base_url=system.base_url)
        page.goto("/signin?next=/desk")
        page.get_by_label("E-mail").fill(ADMIN["email"])
        page.get_by_label("Password").fill(ADMIN["password"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/desk")
        opened = []
        for _ in range(5):
            started = time.monotonic()
            page.goto("/contacts")
            page.locator("table tbody tr td a").first.wait_for()
            opened.append((time.monotonic() - started) * 1000)
        print("browser, /contacts to its first 50 rows:", summary(opened))
        more = []
        for _ in range(3):
            shown = page.locator("table tbody tr").count()
            started = time.monotonic()
            page.get_by_role("button", name="Load more").click()
            page.locator("table tbody tr").nth(shown).wait_for()
            more.append((time.monotonic() - started) * 1000)
        print("browser, Load more:", summary(more))
        page.goto("/desk")
        box = page.get_by_label("Name, e-mail, company or phone")
        answered = []
        for term in ["petrov1", "clara", "example7", "4930100055", "company 12", "meyer3"]:
            box.fill("")
            page.locator("#search-results li").first.wait_for(state="detached")
            box.press_sequentially(term, delay=40)
            started = time.monotonic()
            page.locator(f"#contact-search[data-answered={term!r}]").wait_for(state="attached")
            answered.append((time.monotonic() - started) * 1000)
        print("browser, search from the last keystroke to its results:", summary(answered))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--var", type=Path, help="state directory to keep (and reuse) the imported contacts")
    args = parser.parse_args()
    vhost = f"crm-bench-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    var = args.var or Path(tempfile.mkdtemp(prefix="crm-web-bench-"))
    var.mkdir(parents=True, exist_ok=True)
    try:
        with launched(var, f"amqp://guest:guest@127.0.0.1:5672/{vhost}", CRM_RPC_TIMEOUT="30") as system:
            api = system.client()
            import_contacts(system, api, args.rows)
            print("API, first page of 50:", summary([timed(system, api, {"limit": 50}) for _ in range(10)]))
            cursor = api.get(system.url("/api/v1/contacts"), params={"limit": 50}).json()["next_cursor"]
            print("API, second page:", summary([timed(system, api, {"limit": 50, "cursor": cursor}) for _ in range(5)]))
            queries = ["petrov12", "anna", "example42", "4930100123", "company 33", "schmidt9", "clara", "hugo"]
            print("API, search:", summary([timed(system, api, {"q": q, "limit": 20}) for q in queries]), flush=True)
            in_browser(system)
    finally:
        rabbitmqctl("delete_vhost", vhost)


if __name__ == "__main__":
    main()
