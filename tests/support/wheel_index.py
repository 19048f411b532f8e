"""A package index on 127.0.0.1 for tests that run real pip: a hand-built pure-Python wheel
served PEP 503 style, and a server that records every request it gets (path and headers), so
a test can prove which index pip asked and with which credentials."""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RecordingIndex:
    url: str  # the simple index: pass as --index-url
    wheel_sha256: str  # hex digest of the served wheel, for --hash=sha256:...
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def build_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal valid ``{name}-{version}-py3-none-any.whl`` holding ``files``."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: cronplane-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in contents.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


@contextmanager
def serving_index(root: Path, name: str = "", wheel: Path | None = None) -> Iterator[RecordingIndex]:
    """Serve ``wheel`` as project ``name`` (or nothing at all) from a thread on 127.0.0.1."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    digest = ""
    if wheel is not None:
        data = wheel.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        (root / "files" / wheel.name).write_bytes(data)
        project = root / "simple" / name
        project.mkdir(parents=True)
        link = f'<a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a>'
        (project / "index.html").write_text(f"<!DOCTYPE html><html><body>{link}</body></html>\n")
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            seen.append((self.path, dict(self.headers.items())))
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        index = RecordingIndex(f"http://127.0.0.1:{server.server_address[1]}/simple", digest, seen)
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
