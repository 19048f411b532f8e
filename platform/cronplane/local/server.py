"""The HTTP server ``jobctl dev``'s emulator listens with: werkzeug, threaded, on one address of
this machine, with moto's request handler minus the access log, and a busy port reported as one
clear error instead of werkzeug's own message and exit."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from cronplane.errors import CronplaneError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler


def listen(host: str, port: int, app: WSGIApplication) -> BaseWSGIServer:
    """Bind ``host:port`` (0: a free port) for ``app``; ``serve_forever`` starts serving."""
    from werkzeug.serving import make_server

    # werkzeug answers a busy port with its own message and sys.exit(1): check first.
    check_port_free(host, port)
    try:
        return make_server(host, port, app, threaded=True, request_handler=_quiet_handler())
    except (OSError, SystemExit) as exc:
        raise _port_error(host, port, exc) from exc


def check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _port_error(host, port, exc) from exc


def _port_error(host: str, port: int, exc: BaseException) -> CronplaneError:
    reason = getattr(exc, "strerror", None) or "address already in use"
    return CronplaneError(
        f"cannot listen on {host}:{port}: {reason}; is another `jobctl dev` running? "
        "Stop it, or pick another port with --port."
    )


def _quiet_handler() -> type[WSGIRequestHandler]:
    """moto's request handler without werkzeug's one-line-per-request access log."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):  # type: ignore[misc]  # moto is not analysed (pyproject): Any here
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return QuietHandler
