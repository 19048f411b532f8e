"""A webhook receiver on 127.0.0.1 for the alert tests: a tiny ``http.server`` in a thread that
keeps every JSON body POSTed to it (the Slack-compatible alerts) and answers 200."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str
    bodies: list[Any] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Any]:
        with self._lock:
            return list(self.bodies)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Any]:
        """The bodies once ``count`` have arrived (a deadline, not a fixed sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise TimeoutError(f"the webhook receiver got {len(self.received())} of {count} POSTs in {timeout}s")


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            with receiver._lock:
                receiver.bodies.append(body)
                receiver.content_types.append(self.headers.get("Content-Type") or "")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
