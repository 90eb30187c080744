"""The staff workplace: the browser application under `web/`, served by the gateway.

Its files are static (plain ES modules, no build step); every page is the same `index.html`, which
routes in the browser and talks only to `/api/v1`. The pages get a Content-Security-Policy of their
own: scripts, styles, images and connections from this origin only (the API keeps `default-src 'none'`).
"""

import mimetypes
from pathlib import Path

from werkzeug.security import safe_join
from werkzeug.utils import send_file

from crm_kernel.config import ROOT, env
from crm_kernel.errors import NotFound
from crm_kernel.http import api

# `blob:` images: charts drawn to a canvas for their PNG download; nothing leaves this origin.
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# The paths the browser application routes itself; each answers with `index.html`.
PAGES = "any(signin, desk, contacts, tickets, deals, documents, imports, manager, admin, account)"
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def web_dir() -> Path:
    return Path(env("CRM_WEB_DIR", str(ROOT / "web")))


def web_file(request, name: str):
    """The file `name` under `web/` (never outside it), revalidated by the browser on each use."""
    path = safe_join(str(web_dir()), name)
    if path is None or not Path(path).is_file():
        raise NotFound(f"no file /web/{name}")
    mimetype = TYPES.get(Path(path).suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = send_file(path, environ=request.environ, mimetype=mimetype, max_age=0, conditional=True)
    response.headers["Content-Security-Policy"] = WEB_CSP
    response.headers["Cache-Control"] = "no-cache"
    return response


class WebApp:
    """Routes of the browser application (outside `/api/v1`, so not in the OpenAPI document)."""

    @api("GET", "/")
    def web_home(self, request):
        return web_file(request, "index.html")

    @api("GET", f"/<{PAGES}:page>")
    def web_page(self, request, page):
        return web_file(request, "index.html")

    @api("GET", f"/<{PAGES}:page>/<path:rest>")
    def web_subpage(self, request, page, rest):
        return web_file(request, "index.html")

    @api("GET", "/web/<path:name>")
    def web_asset(self, request, name):
        return web_file(request, name)
