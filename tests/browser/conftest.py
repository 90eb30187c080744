"""The workplace in a real browser: Debian's chromium driven by Playwright, on the system that
`make run` starts (SQLite only: the engines are the e2e suite's concern, the browser's are the pages).

Playwright's synchronous API runs an asyncio loop on greenlets; under the eventlet monkey-patching
that the root conftest needs, it hangs. So Playwright is imported with the standard library's own
modules and runs in one real OS thread that owns it (`BrowserThread`); tests drive it from their own
thread through `InThread` wrappers (the API calls they make with requests stay eventlet's).
"""

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

import eventlet.patcher
import pytest
from system_launcher import ADMIN, ROOT, launched

CHROMIUM = os.environ.get("CRM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
SCREENSHOTS = Path(os.environ.get("CRM_SCREENSHOTS", ROOT / "var" / "screenshots"))
UNPATCHED = ("os", "socket", "select", "selectors", "subprocess", "threading", "time", "signal", "queue", "_thread")
real_threading = eventlet.patcher.original("threading")
real_queue = eventlet.patcher.original("queue")


def import_unpatched(name: str):
    """Imports `name` (and asyncio under it) against the unpatched standard library."""
    saved = {module: sys.modules.get(module) for module in UNPATCHED}
    prefixes = ("asyncio", "concurrent", "playwright")
    dropped = {key: module for key, module in sys.modules.items() if key.split(".")[0] in prefixes}
    for key in dropped:
        del sys.modules[key]
    for module in UNPATCHED:
        sys.modules[module] = eventlet.patcher.original(module)
    try:
        return importlib.import_module(name)
    finally:
        for module, value in saved.items():
            if value is None:
                sys.modules.pop(module, None)
            else:
                sys.modules[module] = value
        for key, module in dropped.items():
            sys.modules.setdefault(key, module)


class BrowserThread:
    """One OS thread that runs every call touching Playwright, one after the other."""

    def __init__(self):
        self.jobs = real_queue.Queue()
        self.thread = real_threading.Thread(target=self._serve, name="playwright", daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            job, done, outcome = self.jobs.get()
            if job is None:
                return
            try:
                outcome.append((True, job()))
            except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread as is
                outcome.append((False, exc))
            done.set()

    def call(self, job):
        done, outcome = real_threading.Event(), []
        self.jobs.put((job, done, outcome))
        done.wait()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def stop(self):
        self.jobs.put((None, None, None))
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def browser_thread():
    thread = BrowserThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def system(make_vhost, tmp_path_factory):
    """The system as `make run` starts it, on SQLite."""
    with launched(tmp_path_factory.mktemp("browser-system"), make_vhost()) as running:
        yield running


@pytest.fixture(scope="session")
def browser(browser_thread):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: `apt-get install chromium` (.ci/run does), or set CRM_TEST_CHROMIUM")

    def start():
        sync_api = import_unpatched("playwright.sync_api")
        playwright = sync_api.sync_playwright().start()
        return playwright, playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    playwright, chromium = browser_thread.call(start)
    yield chromium
    browser_thread.call(lambda: (chromium.close(), playwright.stop()))


@pytest.fixture
def web(browser_thread, browser, system):
    """A fresh browser (no session, English, Berlin time) on the system: `web.page`, `web.expect`,
    and the helpers every journey uses."""
    session = Web(browser_thread, browser, system)
    yield session
    browser_thread.call(session.context.close)


AXE = Path(importlib.util.find_spec("axe_playwright_python").submodule_search_locations[0]) / "axe.min.js"


class InThread:
    """A Playwright object used from the test's thread: every attribute and call runs in the browser
    thread, and the Playwright objects they return come back wrapped the same way."""

    def __init__(self, target, thread: BrowserThread):
        self._target = target
        self._thread = thread

    def __getattr__(self, name):
        value = self._thread.call(lambda: getattr(self._target, name))
        if not callable(value):
            return self._wrap(value)
        return lambda *args, **kwargs: self._wrap(
            self._thread.call(lambda: value(*map(unwrap, args), **{k: unwrap(v) for k, v in kwargs.items()}))
        )

    def _wrap(self, value):
        return InThread(value, self._thread) if type(value).__module__.startswith("playwright") else value


def unwrap(value):
    return value._target if isinstance(value, InThread) else value


class Web:
    """A browser context on the system, driven from the test's thread."""

    def __init__(self, thread: BrowserThread, browser, system, timezone: str = "Europe/Berlin"):
        self.thread = thread
        self.system = system

        def open_page():
            context = browser.new_context(
                viewport=WIDTHS["desktop"], locale="en-US", timezone_id=timezone, base_url=system.base_url
            )
            context.set_default_timeout(15_000)
            page = context.new_page()
            return context, page

        self.context, raw_page = thread.call(open_page)
        self.raw_page = raw_page
        self.page = InThread(raw_page, thread)
        expect = sys.modules["playwright.sync_api"].expect  # the unpatched import's, like the page
        self.expect = lambda subject: InThread(thread.call(lambda: expect(unwrap(subject))), thread)

    def sign_in(self, email: str = ADMIN["email"], password: str = ADMIN["password"], then: str = "/"):
        page = self.page
        page.goto(f"/signin?next={then}")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        # a pattern, not a Python predicate: callbacks into Python from the browser thread would need
        # greenlet switches that eventlet's hub in this process intercepts
        page.wait_for_url(re.compile(r"^(?!.*/signin).*$"))

    def check(self, name: str) -> None:
        """The page as it is now: no serious or critical axe finding; screenshots at both widths."""
        self.thread.call(lambda: self._check(name))

    def _check(self, name: str) -> None:
        page = self.raw_page
        page.wait_for_load_state("networkidle")
        assert_accessible(page, name)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, size in WIDTHS.items():
            page.set_viewport_size(size)
            # the bytes, written here: with `path=` Playwright writes through an executor thread that
            # never reports back in this process
            (SCREENSHOTS / f"{name}-{label}.png").write_bytes(page.screenshot(full_page=True))
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], f"{name} is {width}px wide at {label} width {size['width']}px"
        page.set_viewport_size(WIDTHS["desktop"])


def assert_accessible(page, name: str) -> None:
    """axe-core over the page (evaluated over the DevTools protocol, so the page's CSP does not apply)."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{name}: " + "; ".join(serious)


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")
