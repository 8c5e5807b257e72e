"""Test helpers around localstripe, the stateful Stripe stand-in (a test-only dependency: the
application never imports it; it runs as a separate process).

- ``LocalStripe``: starts ``localstripe --port <free port>``, waits until it answers, stops it.
- ``RecordingProxy``: a tiny threaded HTTP proxy on loopback in front of it that records
  every request (method, path, Idempotency-Key, body) and can drop a response after
  forwarding the request (a timeout whose request did reach Stripe). With
  ``emulate_idempotency`` it replays the first answer for a repeated Idempotency-Key, the
  way Stripe does and localstripe does not.
- ``sign_payload``: the real ``Stripe-Signature`` scheme (``t=...,v1=`` HMAC-SHA256 over
  ``"{t}.{payload}"``).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle on every
# write (shared by every instance on the machine, and O(store size) per request) and reloads
# it at start unless --from-scratch. Test servers start from scratch and keep their state in
# memory only: the boot line below turns the dump off before starting the server.
_BOOT = (
    "import sys; import localstripe.resources as r; r.Store.dump_to_disk = lambda self: None; "
    "from localstripe.server import start; sys.argv[0] = 'localstripe'; sys.exit(start())"
)


class LocalStripe:
    """One localstripe process on a free port, in-memory only and from scratch."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        python = Path(shutil.which("localstripe") or sys.executable).with_name("python")
        executable = str(python) if python.exists() else sys.executable
        return [executable, "-c", _BOOT, "--port", str(self.port), "--from-scratch"]

    def start(self, timeout: float = 20.0) -> LocalStripe:
        self.process = subprocess.Popen(
            self._command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self.process.returncode}")
            try:
                # Any HTTP answer (even a 401 without a key) means the server is up.
                urllib.request.urlopen(f"{self.url}/v1/customers", timeout=1)  # noqa: S310
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("localstripe did not start in time")

    def flush(self) -> None:
        """Forget every object (localstripe keeps its state in memory)."""
        request = urllib.request.Request(f"{self.url}/_config/data", method="DELETE")
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310

    def register_webhook(self, *, name: str, url: str, secret: str) -> None:
        data = f"url={url}&secret={secret}".encode()
        request = urllib.request.Request(
            f"{self.url}/_config/webhooks/{name}", data=data, method="POST"
        )
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


@dataclass
class RecordedRequest:
    method: str
    path: str
    idempotency_key: str | None
    body: str
    replayed: bool = False
    dropped: bool = False


@dataclass
class _ProxyState:
    upstream: str
    emulate_idempotency: bool
    requests: list[RecordedRequest] = field(default_factory=list)
    drop_rules: list[tuple[Callable[[RecordedRequest], bool], list[int]]] = field(
        default_factory=list
    )
    throttle_rules: list[tuple[Callable[[RecordedRequest], bool], list[int]]] = field(
        default_factory=list
    )
    replies: dict[str, tuple[int, list[tuple[str, str]], bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _handle(self) -> None:
        state: _ProxyState = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        key = self.headers.get("Idempotency-Key")
        record = RecordedRequest(self.command, self.path, key, body.decode("utf-8", "replace"))
        with state.lock:
            state.requests.append(record)
            cached = state.replies.get(key) if (key and state.emulate_idempotency) else None
        if self._matches(state.throttle_rules, state, record):
            payload = json.dumps(
                {"error": {"type": "rate_limit_error", "message": "Too many requests"}}
            ).encode()
            self._reply(429, [("Content-Type", "application/json")], payload)
            return
        if cached is not None:
            record.replayed = True
            status, headers, payload = cached
            self._reply(status, [*headers, ("Idempotent-Replayed", "true")], payload)
            return

        upstream = urlsplit(state.upstream)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        forward = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body or None, headers=forward)
        response = conn.getresponse()
        payload = response.read()
        headers = [
            (k, v)
            for k, v in response.getheaders()
            if k.lower() not in ("transfer-encoding", "connection", "content-length")
        ]
        conn.close()
        if key and state.emulate_idempotency and self.command == "POST":
            with state.lock:
                state.replies.setdefault(key, (response.status, headers, payload))
        if self._matches(state.drop_rules, state, record):
            record.dropped = True
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._reply(response.status, headers, payload)

    @staticmethod
    def _matches(
        rules: list[tuple[Callable[[RecordedRequest], bool], list[int]]],
        state: _ProxyState,
        record: RecordedRequest,
    ) -> bool:
        with state.lock:
            for predicate, remaining in rules:
                if remaining[0] > 0 and predicate(record):
                    remaining[0] -= 1
                    return True
        return False

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle
    do_DELETE = _handle


class RecordingProxy:
    """``with RecordingProxy(upstream) as proxy: ... proxy.url ... proxy.requests``."""

    def __init__(self, upstream: str, *, emulate_idempotency: bool = False) -> None:
        self.state = _ProxyState(upstream=upstream, emulate_idempotency=emulate_idempotency)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.daemon_threads = True
        self.server.state = self.state  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    def drop_responses(self, predicate: Callable[[RecordedRequest], bool], times: int = 1) -> None:
        """Forward matching requests, then hang up instead of answering (``times`` times)."""
        with self.state.lock:
            self.state.drop_rules.append((predicate, [times]))

    def answer_429(self, predicate: Callable[[RecordedRequest], bool], times: int = 1) -> None:
        """Answer matching requests with HTTP 429 without forwarding them (``times`` times)."""
        with self.state.lock:
            self.state.throttle_rules.append((predicate, [times]))

    def posts_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.split("?")[0] == path]


def sign_payload(payload: str | bytes, secret: str, *, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value for ``payload``."""
    raw = payload.encode() if isinstance(payload, str) else payload
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event_payload(
    *, event_id: str, type: str, obj: dict[str, Any], created: int | None = None
) -> str:  # noqa: A002
    """A Stripe event envelope around ``obj`` (as Stripe sends it), serialised."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": type,
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": obj},
        }
    )


_shared: LocalStripe | None = None
_shared_lock = threading.Lock()


def shared_localstripe() -> LocalStripe:
    """The one localstripe of this test process: started on first use, stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            import atexit

            _shared = LocalStripe().start()
            atexit.register(_shared.stop)
        return _shared
