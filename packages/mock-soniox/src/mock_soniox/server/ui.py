"""The dashboard at ``/__admin/ui``, and the index page at ``/`` that links to it.

Static files shipped in the package (``static/``: HTML, CSS and one vanilla script), served to
loopback clients only, like the admin API they speak to. The page holds no logic the admin API
does not have: it reads ``GET /__admin/...`` and ``/__admin/events`` and acts through the same
routes ``curl`` would.
"""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from ..protocol import STT_PATH, TTS_PATH
from ..version import __version__
from . import admin

STATIC_DIR = Path(__file__).parent / "static"
UI_PATH = f"{admin.PREFIX}/ui"
# The only files served, and as what: nothing else under static/ is reachable.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The page loads nothing from anywhere else, cannot be framed, and runs only its own script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> web.FileResponse:
    return web.FileResponse(
        STATIC_DIR / name, headers={"Content-Type": ASSETS[name], **SECURITY_HEADERS}
    )


@admin.guarded
async def _index(request: web.Request) -> web.StreamResponse:
    return _asset("index.html")


@admin.guarded
async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise admin.AdminError(404, f"no dashboard file {name!r}")
    return _asset(name)


async def _root(request: web.Request) -> web.Response:
    """What is served here, for a developer who opens the port in a browser."""
    host = html.escape(request.host)
    rows = [
        ("STT", f"ws://{host}{STT_PATH}"),
        ("TTS", f"ws://{host}{TTS_PATH}"),
        ("Health", '<a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>'),
        ("Admin API", f"<code>{admin.PREFIX}/</code> (loopback only)"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>mock-soniox {__version__}</title></head><body>"
        f"<h1>mock-soniox {__version__}</h1>"
        f'<p><a id="dashboard" href="{UI_PATH}">Open the dashboard</a> (loopback only)</p>'
        f"<table>{body}</table></body></html>"
    )
    return web.Response(text=page, content_type="text/html", headers=SECURITY_HEADERS)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", _root)
    r.add_get(UI_PATH, _index)
    r.add_get(f"{UI_PATH}/{{name}}", _static)
