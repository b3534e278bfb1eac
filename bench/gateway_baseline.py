"""The gateway benchmark's baseline: the least an HTTP endpoint must do for a board's post, on
the same server stack as the services (uvicorn, with uvloop and httptools when installed): read
the body, check its Indeed signature, parse it as intake does, and produce the same
`inquiry.received` event to Kafka (acks=all, idempotent), answering 200 once it is
acknowledged. No framework, no database, no duplicate checks, no metrics.

`python -m bench.gateway_baseline` with BASELINE_PORT, BASELINE_SECRET, BASELINE_TOPIC and
KAFKA_BOOTSTRAP_SERVERS."""

from __future__ import annotations

import json
import os
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer

from services.intake import signatures
from services.intake.boards import indeed
from shared import ids
from shared.contract import InquiryReceived, new_event
from shared.kafka import CLOUDEVENTS_HEADERS, LINGER_MS
from shared.messages import encode_event

SECRET = os.environ.get("BASELINE_SECRET", "")
TOPIC = os.environ.get("BASELINE_TOPIC", "")
producer: AIOKafkaProducer | None = None


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global producer
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], acks="all",
                                        enable_idempotence=True, linger_ms=LINGER_MS)
            await producer.start()
            await send({"type": "lifespan.startup.complete"})
        assert producer is not None
        await producer.stop()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if signatures.check("indeed", [SECRET], body, headers) is not None:
        await _answer(send, 401, b'{"detail":"signature"}')
        return
    application = indeed(json.loads(body))
    data = InquiryReceived.model_validate(application.data)
    event = new_event(event_id=application.event_id, source=application.source, type="inquiry.received", data=data)
    assert producer is not None
    await producer.send_and_wait(TOPIC, encode_event(event), key=str(data.prospect.email).encode(),
                                 headers=CLOUDEVENTS_HEADERS)
    await _answer(send, 200, json.dumps({"id": application.event_id,
                                         "prospect_id": ids.prospect_id(application.job_id, application.email)}).encode())


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BASELINE_PORT"]), log_config=None, access_log=False)
