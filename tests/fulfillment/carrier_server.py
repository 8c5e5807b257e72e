"""A stand-in carrier API on 127.0.0.1 (http.server in a thread) for the HTTP adapter."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LABEL_BYTES = b"%PDF-1.4 fake label\n"


@dataclass
class FakeCarrier:
    base_url: str = ""
    api_key: str = "carrier-api-key"
    requests: list[dict[str, Any]] = field(default_factory=list)
    tracking: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail_labels_with: int | None = None
    issued: int = 0


def _handler(state: FakeCarrier) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._send(401, {"error": "bad key"})
                return False
            return True

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append({"method": "POST", "path": self.path, "body": body})
            if not self._authorised():
                return
            if self.path != "/labels":
                self._send(404, {"error": "no such path"})
                return
            if state.fail_labels_with:
                self._send(state.fail_labels_with, {"error": "address not serviceable"})
                return
            state.issued += 1
            number = f"TRK{state.issued:06d}"
            self._send(
                201,
                {
                    "tracking_number": number,
                    "label_url": f"{state.base_url}/labels/{number}.pdf",
                    "label_base64": base64.b64encode(LABEL_BYTES).decode(),
                    "label_format": "pdf",
                },
            )

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append({"method": "GET", "path": self.path, "body": None})
            if not self._authorised():
                return
            if self.path.startswith("/tracking/"):
                number = self.path.removeprefix("/tracking/")
                self._send(200, {"events": state.tracking.get(number, [])})
                return
            self._send(404, {"error": "no such path"})

    return Handler


@contextmanager
def running_carrier() -> Iterator[FakeCarrier]:
    state = FakeCarrier()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
