"""`/healthz` is answered by the process's web server without a worker: it costs no dependency and
still answers when every worker is busy."""

import eventlet
import requests
from eventlet.event import Event
from nameko import config
from nameko.constants import WEB_SERVER_CONFIG_KEY
from nameko.extensions import DependencyProvider

from crm_kernel.health import Observable
from crm_kernel.http import route

release = Event()
workers_made = []


class Counted(DependencyProvider):
    def get_dependency(self, worker_ctx):
        workers_made.append(worker_ctx.entrypoint.method_name)
        return None


class Busy(Observable):
    name = "busy"
    counted = Counted()

    @route("GET", "/hold")
    def hold(self, request):
        release.wait()
        return "released"


def test_healthz_answers_with_no_worker_while_every_worker_is_busy(container_factory, web_config):
    with config.patch({"max_workers": 1}):
        container_factory(Busy).start()
    base = f"http://{config[WEB_SERVER_CONFIG_KEY]}"
    held = eventlet.spawn(requests.get, f"{base}/hold", timeout=30)
    while workers_made != ["hold"]:
        eventlet.sleep(0)  # until the one worker is taken (a handoff between green threads, not a delay)

    alive = requests.get(f"{base}/healthz", timeout=5)

    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert workers_made == ["hold"]  # no worker, no dependency for the probe
    release.send(True)
    assert held.wait().text == "released"
