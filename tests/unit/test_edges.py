"""Issue 27's smaller findings, as pure functions: which errors are outages, and what a mail
looks like on the wire."""

from __future__ import annotations

import errno
import socket

from services.messaging.mail import _flatten, build
from services.messaging.rendering import Rendered
from shared.retry import is_infrastructure_error


def test_only_the_networks_oserrors_are_outages():
    """An OSError of one message (a file, a permission) was retried forever, stopping its partition."""
    for outage in (ConnectionRefusedError(), OSError(errno.EHOSTUNREACH, "no route"), socket.gaierror(-2, "x"),
                   TimeoutError()):
        assert is_infrastructure_error(outage), outage
    for own_fault in (FileNotFoundError(errno.ENOENT, "x"), PermissionError(errno.EACCES, "x"), OSError("odd"),
                      UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x"), ValueError("x")):
        assert not is_infrastructure_error(own_fault), own_fault


def _mail(to: str) -> bytes:
    rendered = Rendered(subject="Next step", text="Hello", html="<p>Hello</p>")
    url = "https://jobs.acme.example/unsubscribe/" + "a" * 60 + "." + "b" * 43
    message = build(rendered, sender="jobs@acme.example", recruiter_name="Dana", recruiter_email="dana@acme.example",
                    to_name="Jörg", to=to, message_id="2f1c9a7e-4b3d-5e8f-9a0b-1c2d3e4f5a6b", unsubscribe_url=url)
    sender, recipients, flat, options = _flatten(message, "bounce+x@inbound.example")
    assert (sender, recipients) == ("bounce+x@inbound.example", [to])
    return flat if options == (["SMTPUTF8"] if not to.isascii() else []) else b""


def test_the_unsubscribe_link_goes_out_as_a_link():
    """Folded at 78, the one-word header became RFC 2047 encoded words no mail client reads."""
    flat = _mail("lee@example.com")
    assert b"List-Unsubscribe: <https://jobs.acme.example/unsubscribe/" + b"a" * 60 in flat
    assert b"=?utf-8?" not in flat.split(b"\r\n\r\n", 1)[0].split(b"List-Unsubscribe:", 1)[1].split(b"\r\n", 1)[0]


def test_an_internationalised_address_goes_out_in_utf8_with_smtputf8():
    flat = _mail("jörg@example.com")
    assert "To: \"Jörg\" <jörg@example.com>".encode() in flat


def test_made_up_signing_keys_do_not_make_us_fetch_the_providers_keys_each_time():
    """With a JWKS URL, every unknown `kid` fetched the JWKS again (blocking a worker each time)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import jwt
    import pytest
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from shared.auth import InvalidToken, TokenVerifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "real", "use": "sig", "alg": "RS256"}
    fetches = []

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            fetches.append(self.path)
            body = json.dumps({"keys": [jwk]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        verifier = TokenVerifier(jwks_url=f"http://127.0.0.1:{server.server_address[1]}/jwks")
        claims = {"sub": "rec-7", "exp": 4_000_000_000, "aud": "prospectflow-api"}
        assert verifier.recruiter(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "real"})) == "rec-7"
        for n in range(30):
            with pytest.raises(InvalidToken):
                verifier.recruiter(jwt.encode(claims, key, algorithm="RS256", headers={"kid": f"made-up-{n}"}))
        assert len(fetches) <= 2, fetches  # the first read, and one look again for an unknown kid
        assert verifier.recruiter(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "real"})) == "rec-7"
    finally:
        server.shutdown()


async def test_an_application_not_noted_is_a_503_for_the_board_to_retry():
    """A failed `mark_posted` was logged and answered 200: Indeed's duplicate detection lost it for good."""
    from services.intake.boards import indeed
    from services.intake.handlers import Gateway, Unavailable

    class Store:
        async def job(self, job_id):
            return {"_id": job_id, "open": True}

        async def posted_for(self, prospect_id):
            return []

        async def registered_by_other(self, prospect_id, event_id):
            return False

        async def mark_posted(self, *args):
            raise ConnectionRefusedError("the database went away")

    gateway = Gateway(Store(), None, {}, max_bytes=1 << 20, resume_max_bytes=1 << 20,  # type: ignore[arg-type]
                      concurrency=4, publish_timeout_s=1)
    published = []

    async def publish(items):
        published.extend(items)

    gateway._publish = publish  # type: ignore[method-assign]
    import json
    from pathlib import Path

    sample = json.loads((Path(__file__).parents[2] / "prospectflow/samples/boards/indeed.json").read_text())
    sample["applicant"].pop("resume", None)
    import pytest

    with pytest.raises(Unavailable, match="could not be noted"):
        await gateway.take("indeed", [indeed(sample)])
    assert len(published) == 1  # in Kafka: the board's retry is the same event, registered once


def test_no_store_upserts():
    """Two upserts of the same new `_id` at once lose a write on the local engine: every first
    write goes through `shared.db.write_by_id` (see tests/integration/test_first_writes.py)."""
    from pathlib import Path

    root = Path(__file__).parents[2]
    found = [f"{path.relative_to(root)}:{n}" for folder in ("services", "shared") for path in (root / folder).rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if "upsert=True" in line]
    assert found == []
