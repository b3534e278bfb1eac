"""Issue 27, 10, on the real stack: an endpoint that trickles its answer is cut at one deadline
per attempt (it held a delivery 30 s against a 10 s timeout, past the lease), its answer is read
only in part, and a recruiter cannot register endpoints without end."""

from __future__ import annotations

import socket
import threading

from tests.integration.test_webhooks import Hooks, rated
from tests.support import Kafka, Namespace, eventually


class Trickler:
    """An HTTP server that answers 200 with a 1 MB body announced, then sends a byte a second."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self.requests += 1
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                for _ in range(60):
                    if self.stopped.wait(1):
                        return
                    conn.sendall(b"x")
            except OSError:
                return

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


async def test_a_trickling_endpoint_is_cut_at_one_deadline(ns: Namespace, kafka: Kafka):
    trickler = Trickler()
    hooks = Hooks(ns, kafka, WEBHOOKS_TIMEOUT_S="2", WEBHOOKS_MAX_ENDPOINTS="2")
    try:
        await hooks.ready()
        created = hooks.api("POST", "/v1/endpoints", json={"url": trickler.url + "/hook", "events": ["prospect.rated"]})
        assert created.status_code == 201, created.text
        endpoint = created.json()
        await kafka.send_event(ns.topic("assessments"), rated("p1"), key="p1")

        def attempted() -> list[dict]:
            log = hooks.log(endpoint["id"])
            return log[0]["attempts"] if log and log[0]["attempts"] else []

        attempts = await eventually(attempted, timeout_s=30)
        assert attempts[0]["error"] == "no answer within 2 s", attempts
        assert attempts[0]["duration_ms"] < 10_000  # the deadline, not the trickle's 60 s
        # A recruiter's endpoints are bounded.
        second = hooks.api("POST", "/v1/endpoints", json={"url": trickler.url + "/2", "events": ["*"]})
        assert second.status_code == 201
        third = hooks.api("POST", "/v1/endpoints", json={"url": trickler.url + "/3", "events": ["*"]})
        assert third.status_code == 409 and "at most 2 endpoints" in third.json()["detail"]
        assert hooks.api("POST", "/v1/endpoints", "rec-8",
                         json={"url": trickler.url + "/4", "events": ["*"]}).status_code == 201
    finally:
        hooks.receiver.close()
        trickler.close()
