"""A Slack-compatible HTTP server for tests (127.0.0.1), driven through slack-sdk's base_url.

It implements chat.postMessage, chat.update, conversations.history and an incoming webhook,
records every request, keeps the channel's messages (with metadata and threads), and can be
told to answer the next calls to a method with: a 429 with Retry-After, a 500, a timeout
(the message is still stored: "it reached Slack but the answer was lost"), or an error code
such as invalid_auth.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    payload: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeSlack:
    requests: list[Request] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # in order of posting
    webhook_posts: list[dict[str, Any]] = field(default_factory=list)
    _faults: dict[str, deque[tuple[str, float]]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: float = 1_800_000_000.0
    base_url: str = ""
    webhook_url: str = ""

    def fail_next(self, method: str, kind: str, times: int = 1, seconds: float = 1.0) -> None:
        """kind: '429' (Retry-After: seconds), '500', 'timeout' (sleep seconds), or a Slack error code."""
        for _ in range(times):
            self._faults[method].append((kind, seconds))

    def calls(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    def parents(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if not m.get("thread_ts")]

    def replies(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("thread_ts")]

    def next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"{self._ts:.6f}"


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = (json.dumps(body) if not isinstance(body, str) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _payload(self) -> dict[str, Any]:
            parts = urlsplit(self.path)
            payload: dict[str, Any] = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if raw:
                if "json" in (self.headers.get("Content-Type") or ""):
                    payload.update(json.loads(raw))
                else:
                    payload.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            for k in ("blocks", "metadata"):
                if isinstance(payload.get(k), str):
                    payload[k] = json.loads(payload[k])
            return payload

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            path = urlsplit(self.path).path
            payload = self._payload()
            if path.startswith("/webhook"):
                fake.requests.append(Request("webhook", payload, dict(self.headers)))
                if self._fault("webhook"):
                    return
                fake.webhook_posts.append(payload)
                self._send(200, "ok")
                return
            method = path.rsplit("/", 1)[-1]
            fake.requests.append(Request(method, payload, dict(self.headers)))
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                self._send(200, {"ok": False, "error": "not_authed"})
                return
            if self._fault(method):
                return
            if method == "chat.postMessage":
                ts = fake.next_ts()
                fake.messages.append({"ts": ts, "channel": "C0TEST", **payload})
                self._send(200, {"ok": True, "channel": "C0TEST", "ts": ts, "message": {"ts": ts}})
            elif method == "chat.update":
                for m in fake.messages:
                    if m["ts"] == payload.get("ts"):
                        m["text"], m["blocks"], m["updated"] = payload.get("text"), payload.get("blocks"), True
                self._send(200, {"ok": True, "channel": "C0TEST", "ts": payload.get("ts")})
            elif method == "conversations.history":
                oldest = float(payload.get("oldest") or 0)
                msgs = [{"ts": m["ts"], "text": m.get("text"), "metadata": m.get("metadata")}
                        for m in reversed(fake.messages) if float(m["ts"]) >= oldest and not m.get("thread_ts")]
                self._send(200, {"ok": True, "messages": msgs, "has_more": False})
            else:
                self._send(200, {"ok": False, "error": "unknown_method"})

        def _fault(self, method: str) -> bool:
            q = fake._faults.get(method)
            if not q:
                return False
            kind, seconds = q.popleft()
            if kind == "429":
                self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(int(seconds))})
            elif kind == "500":
                self._send(500, {"ok": False, "error": "internal_error"})
            elif kind == "timeout":
                if method == "chat.postMessage":  # it reached Slack; only the answer is lost
                    fake.messages.append({"ts": fake.next_ts(), "channel": "C0TEST", **self._last_payload()})
                time.sleep(seconds)
                try:
                    self._send(200, {"ok": True, "channel": "C0TEST", "ts": fake.messages[-1]["ts"]})
                except OSError:
                    pass
            else:
                self._send(200, {"ok": False, "error": kind})
            return True

        def _last_payload(self) -> dict[str, Any]:
            return fake.requests[-1].payload

    return Handler


class SlackServer:
    """Context manager: a running FakeSlack on 127.0.0.1."""

    def __enter__(self) -> FakeSlack:
        self.fake = FakeSlack()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.fake))
        self.httpd.daemon_threads = True
        port = self.httpd.server_address[1]
        self.fake.base_url = f"http://127.0.0.1:{port}/api/"
        self.fake.webhook_url = f"http://127.0.0.1:{port}/webhook/T000/B000/XXXX"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
