"""The run grid of ``jobctl report``, served live by ``jobctl dev`` on its own loopback port.

The emulator's port serves only SigV4-signed requests, which a browser cannot make; this page
has a door of its own, shaped for a browser and as strict:

- a random token per session, in the URL printed at start-up (like Jupyter's), compared in
  constant time: another local user, or a web page the developer has open, does not know it;
- ``Host`` must name this loopback port (a DNS-rebinding page sends its own name);
- a cross-origin request is refused (``Origin`` other than this page's, or ``Sec-Fetch-Site``
  other than same-origin / none);
- GET and HEAD only, and nothing it serves changes anything: it reads the history table.

The page polls ``/report/data`` every few seconds and redraws when the runs changed. It is the
same page as ``jobctl report --html`` (the CLI hands its renderer in: ``ReportViews``), with a
Content-Security-Policy header that lets it call its own origin and nothing else."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from cronplane.local.auth import loopback_hosts
from cronplane.local.invoke_http import header
from cronplane.local.server import listen
from cronplane.ops.report import Grid

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer

PAGE_PATH = "/report"
DATA_PATH = "/report/data"
REFRESH_S = 5.0  # how often the page asks for fresh data
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values of our own page and a typed URL


class ReportViews(Protocol):
    """What renders the grid (``cronplane.cli.views.report_html``)."""

    def render(self, grid: Grid, *, live: dict[str, Any] | None = None) -> str: ...

    def model(self, grid: Grid, live: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def data_json(self, data: dict[str, Any]) -> str: ...

    def content_security_policy(self, live: bool) -> str: ...


class ReportPage:
    """``start()`` binds ``host:port`` (0: a free port); ``url`` is what to open."""

    def __init__(
        self,
        build: Callable[[], Grid],
        views: ReportViews,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        min_interval_s: float = 2.0,
        token: str | None = None,
    ) -> None:
        self.build = build
        self.views = views
        self.host = host
        self.requested_port = port
        self.token = token or secrets.token_urlsafe(24)
        self.min_interval_s = min_interval_s  # a burst of polls (several tabs) reads the table once
        self._cached: tuple[float, Grid] | None = None
        self._lock = threading.Lock()
        self._hosts: frozenset[str] = frozenset()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ReportPage:
        self._server = listen(self.host, self.requested_port, self)
        self._hosts = loopback_hosts(self.host, self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="report-page", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ReportPage.start() has not been called")
        return int(self._server.server_port)

    @property
    def origin(self) -> str:
        address = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}{PAGE_PATH}?token={self.token}"

    # -- the door ------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        refused = self.refusal(environ)
        if refused is not None:
            status, reason = refused
            return _send(start_response, status, "text/plain; charset=utf-8", reason.encode(), self._headers(False))
        path = environ.get("PATH_INFO", "")
        head = environ.get("REQUEST_METHOD") == "HEAD"
        try:
            grid = self.grid()
        except Exception as exc:  # the history may not be there yet (first deploy): say so
            body = f"the run grid cannot be built right now: {type(exc).__name__}: {exc}".encode()
            return _send(start_response, "503 Service Unavailable", "text/plain; charset=utf-8", body, [])
        live = {"url": f"{DATA_PATH}?token={self.token}", "interval": int(REFRESH_S * 1000)}
        if path == PAGE_PATH:
            page = self.views.render(grid, live=live).encode()
            return _send(start_response, "200 OK", "text/html; charset=utf-8", page, self._headers(True), head)
        data = self.views.data_json(self.views.model(grid, live)).encode()
        return _send(start_response, "200 OK", "application/json", data, self._headers(False), head)

    def refusal(self, environ: WSGIEnvironment) -> tuple[str, str] | None:
        """(HTTP status, reason) when the request may not be answered, else None."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "the run grid is read-only: GET only"
        host = (header(environ, "host") or "").lower()
        if host not in self._hosts:
            return "403 Forbidden", f"Host {host[:100]!r} refused: open {self.origin}{PAGE_PATH}"
        origin = header(environ, "origin")
        if origin is not None and origin.lower() not in {f"http://{name}" for name in self._hosts}:
            return "403 Forbidden", "cross-origin request refused"
        site = header(environ, "sec-fetch-site")
        if site is not None and site not in SAME_SITE:
            return "403 Forbidden", "cross-site request refused"
        token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [""])[0]
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return "403 Forbidden", "wrong or missing token: open the URL jobctl dev printed"
        if environ.get("PATH_INFO", "") not in (PAGE_PATH, DATA_PATH):
            return "404 Not Found", f"nothing here: the run grid is at {PAGE_PATH}"
        return None

    def grid(self) -> Grid:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.min_interval_s:
                self._cached = (now, self.build())
            return self._cached[1]

    def _headers(self, page: bool) -> list[tuple[str, str]]:
        headers = [
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),  # the token is in the URL
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ]
        if page:
            policy = self.views.content_security_policy(True) + "; frame-ancestors 'none'"
            headers.append(("Content-Security-Policy", policy))
        return headers


def _send(
    start_response: StartResponse,
    status: str,
    content_type: str,
    body: bytes,
    headers: list[tuple[str, str]],
    head: bool = False,
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
    return [] if head else [body]
