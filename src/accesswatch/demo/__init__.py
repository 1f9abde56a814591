"""The bundled offline demo: a sample news site served on 127.0.0.1.

``site/`` holds four fictional outlets' feeds and article pages written for this project;
``{{BASE}}`` in any served file is replaced by the server's base URL. The server answers
conditional GETs (ETag / Last-Modified -> 304) like a real site, so a second demo run
exercises the not-modified path.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import mimetypes
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

SITE_DIR = Path(str(resources.files("accesswatch.demo"))) / "site"
FEEDS_TEMPLATE = Path(str(resources.files("accesswatch.demo"))) / "feeds.toml"
DEFAULT_PORT = 8765
# A fixed Last-Modified for every file: the site's content only changes with a release.
LAST_MODIFIED = "Wed, 25 Nov 2026 12:00:00 GMT"
_TYPES = {".xml": "application/rss+xml; charset=utf-8", ".atom": "application/atom+xml; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".json": "application/json"}


def manifest() -> list[dict[str, Any]]:
    """The site's article list with the expected verdicts (used by tests and the demo report)."""
    return json.loads((SITE_DIR / "manifest.json").read_text(encoding="utf-8"))


class _Handler(BaseHTTPRequestHandler):
    server_version = "accesswatch-demo/1"
    base_url = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
        target = (SITE_DIR / path).resolve()
        if not str(target).startswith(str(SITE_DIR.resolve())) or not target.is_file():
            self.send_error(404, "Not Found")
            return
        body = target.read_bytes().replace(b"{{BASE}}", self.base_url.encode())
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        if self.headers.get("If-None-Match") == etag or (
                self.headers.get("If-Modified-Since") == LAST_MODIFIED and not self.headers.get("If-None-Match")):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        ctype = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.name == "atom.xml":
            ctype = _TYPES[".atom"]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        self.end_headers()
        self.wfile.write(body)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def serve_site(port: int | None = DEFAULT_PORT) -> Iterator[str]:
    """Serve the sample site on 127.0.0.1 in a thread; yields the base URL.

    The demo prefers a fixed port so that article URLs (and so the database's dedupe keys)
    stay the same from one ``make demo`` to the next; when the whole range is taken, any free
    port is used. ``port=None``: any free port (tests).
    """
    # the first free port of a small fixed range, so that a busy 8765 still gives the same
    # address (and article URLs) from one demo run to the next
    port = next((p for p in range(port, port + 10) if _port_free(p)), 0) if port is not None else 0
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    handler.base_url = base
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def write_demo_config(config_dir: Path, out_dir: Path, base_url: str) -> Path:
    """A copy of ``config_dir`` whose feeds.toml lists the sample site's feeds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("accesswatch.toml", "vendors.toml"):
        src = config_dir / name
        if src.exists():
            (out_dir / name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    (out_dir / "feeds.toml").write_text(FEEDS_TEMPLATE.read_text(encoding="utf-8").replace("{{BASE}}", base_url),
                                        encoding="utf-8")
    return out_dir
