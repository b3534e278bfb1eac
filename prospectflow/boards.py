"""Posting to the job-board gateway as a board does: its own format, signed with its secret.

`prospectflow board-post indeed FILE` signs FILE (or the board's sample) with the local secret
(INTAKE_BOARD_SECRETS, or the local stack's `.devstack/board-secrets.json`) and posts it to
intake, so anyone can try each board's format by hand before a board is pointed at us.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from prospectflow.errors import CliError
from services.intake.signatures import sign_headers

SAMPLES = Path(__file__).parent / "samples" / "boards"
BOARDS = ("indeed", "linkedin", "ziprecruiter", "cloudevents")
ROUTES = {"indeed": "/v1/boards/indeed/applications", "linkedin": "/v1/boards/linkedin/applications",
          "ziprecruiter": "/v1/boards/ziprecruiter/applications", "cloudevents": "/v1/inquiries"}
CONTENT_TYPES = {"cloudevents": "application/cloudevents+json"}


def load_sample(board: str) -> dict[str, Any]:
    """The board's sample application, shaped as the board documents it."""
    return dict(json.loads((SAMPLES / f"{board}.json").read_text()))


def for_job(board: str, payload: Any, job_id: str, *, at_ms: int | None = None) -> Any:
    """The same application, for another job (each board names the job in its own place), and
    applied at `at_ms` (milliseconds since the epoch) when given."""
    payload = copy.deepcopy(payload)
    if not isinstance(payload, dict):
        return payload
    if at_ms is not None:
        if board == "indeed":
            payload["appliedOnMillis"] = at_ms
        elif board == "linkedin":
            payload["appliedAt"] = at_ms
        elif board == "cloudevents":
            payload.setdefault("data", {})["inquired_at"] = datetime.fromtimestamp(at_ms / 1000, timezone.utc).isoformat()
    if board == "indeed":
        payload.setdefault("job", {})["jobId"] = job_id
    elif board == "linkedin":
        payload["externalJobPostingId"] = job_id
    elif board == "ziprecruiter":
        payload["job_id"] = job_id
    else:
        payload.setdefault("data", {})["job_id"] = job_id
    return payload


def board_secrets(state_dir: Path) -> dict[str, list[str]]:
    """INTAKE_BOARD_SECRETS (what intake reads), else the local stack's board-secrets.json."""
    raw = os.environ.get("INTAKE_BOARD_SECRETS")
    path = state_dir / "board-secrets.json"
    if not raw:
        if not path.exists():
            raise CliError(f"no board secrets: set INTAKE_BOARD_SECRETS (what intake reads), or run `make run` "
                           f"once, which writes the local ones to {path}")
        raw = path.read_text()
    try:
        secrets = json.loads(raw)
    except ValueError:
        raise CliError("INTAKE_BOARD_SECRETS (or board-secrets.json) is not JSON") from None
    return {board: [values] if isinstance(values, str) else list(values) for board, values in secrets.items()}


def signed_post(intake_url: str, board: str, body: bytes, secret: str, timeout_s: float = 30) -> httpx.Response:
    """POST `body` to the board's route, signed with `secret` as the board signs."""
    headers = {"Content-Type": CONTENT_TYPES.get(board, "application/json"),
               **sign_headers(board, secret, body, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=time.time())}
    try:
        return httpx.post(intake_url.rstrip("/") + ROUTES[board], content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise CliError(f"intake's gateway at {intake_url} did not answer ({type(exc).__name__}); is intake "
                       f"running? (set PROSPECTFLOW_INTAKE_URL)") from None


async def post_samples(intake_url: str, state_dir: Path, job_id: str, *, wait_s: float = 20) -> dict[str, int]:
    """One sample application from each board to `job_id`, answered code by board. A job just
    opened may not have reached intake yet (404): tried again until `wait_s`."""
    secrets = board_secrets(state_dir)
    answers: dict[str, int] = {}
    for board in BOARDS:
        if not secrets.get(board):
            continue
        at_ms = int((time.time() - 3600 * (1 + BOARDS.index(board))) * 1000)  # the last hours, as a morning's
        payload = for_job(board, load_sample(board), job_id, at_ms=at_ms)
        # The board's application id, of this job: the same sample for another job is another application.
        key = {"indeed": "id", "linkedin": "jobApplicationId", "ziprecruiter": "response_id", "cloudevents": "id"}[board]
        payload[key] = f"{payload[key]}-{job_id}"[:128]
        if board == "cloudevents":
            payload["data"]["board_inquiry_id"] = f"{payload['data']['board_inquiry_id']}-{job_id}"[:128]
        body = json.dumps(payload).encode()
        deadline = time.monotonic() + wait_s
        while True:
            response = await asyncio.to_thread(signed_post, intake_url, board, body, secrets[board][0])
            if response.status_code not in (404, 503) or time.monotonic() > deadline:  # a job just opened
                break
            await asyncio.sleep(0.5)
        answers[board] = response.status_code
    return answers
