"""Blueprint: the admin console, static files packaged with the app and served at /api/console/ (no build step, no
other host). The page talks only to the management API with the admin token the admin pastes in; the headers keep
it to this origin: a Content-Security-Policy without inline script or third-party origins, no framing."""

from __future__ import annotations

from pathlib import Path

import azure.functions as func

bp = func.Blueprint()

FILES = Path(__file__).resolve().parent.parent / "console"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def console_file(path: str) -> tuple[bytes, str] | None:
    """The file for a console path (`""` is the page itself), or None: only the files shipped, never a path out."""
    name = path.strip("/") or "index.html"
    if "/" in name or name.startswith(".") or Path(name).suffix not in TYPES:
        return None
    candidate = FILES / name
    if not candidate.is_file():
        return None
    return candidate.read_bytes(), TYPES[candidate.suffix]


@bp.route(route="console/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console(req: func.HttpRequest) -> func.HttpResponse:
    found = console_file(req.route_params.get("path") or "")
    if found is None:
        return func.HttpResponse(b"Not found", status_code=404, headers={"Content-Type": "text/plain",
                                                                         **SECURITY_HEADERS})
    body, content_type = found
    return func.HttpResponse(body, status_code=200, headers={"Content-Type": content_type, **SECURITY_HEADERS})
