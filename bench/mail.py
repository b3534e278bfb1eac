"""Sending 1,000 rendered mails to a local SMTP sink: our Mailer with reused connections and
without, against a plain aiosmtplib loop over one connection (the baseline)."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aiosmtplib

from devstack.stack import ROOT, smtp_ready
from services.messaging.mail import Mailer, build
from services.messaging.rendering import SAMPLE, Templates
from shared.settings import SmtpSettings
from tests.support import free_port
from bench.common import summary


def messages(count: int) -> list:
    templates = Templates()
    rendered = templates.render("not_a_match", SAMPLE)
    return [build(rendered, sender="jobs@acme.example", recruiter_name="Dana Smith", recruiter_email="dana@acme.example",
                  to_name=f"Person {n}", to=f"bench{n}@example.com", message_id=f"bench-{n}") for n in range(count)]


async def with_mailer(port: int, batch: list, reuse: bool, connections: int) -> float:
    mailer = Mailer(SmtpSettings(host="127.0.0.1", port=port), connections, reuse=reuse)
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(connections)

    async def one(message) -> None:
        async with semaphore:
            await mailer.send(message)

    await asyncio.gather(*(one(m) for m in batch))
    elapsed = time.perf_counter() - started
    await mailer.close()
    return len(batch) / elapsed


async def baseline(port: int, batch: list) -> float:
    started = time.perf_counter()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    for message in batch:
        await client.send_message(message)
    await client.quit()
    return len(batch) / (time.perf_counter() - started)


@contextmanager
def private_sink() -> Iterator[int]:
    """A local SMTP sink of the benchmark's own, writing to a temporary maildir; its port."""
    port = free_port()
    with tempfile.TemporaryDirectory() as maildir:
        sink = subprocess.Popen([sys.executable, "-m", "devstack.smtp_sink", "--port", str(port), "--maildir", maildir],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not smtp_ready("127.0.0.1", port):
                time.sleep(0.1)
            yield port
        finally:
            sink.terminate()
            sink.wait()


async def main(count: int = 1000, runs: int = 3) -> list[str]:
    with private_sink() as port:
        batch = messages(count)
        base = [await baseline(port, batch) for _ in range(runs)]
        reused = [await with_mailer(port, batch, True, 4) for _ in range(runs)]
        single = [await with_mailer(port, batch, True, 1) for _ in range(runs)]
        fresh = [await with_mailer(port, batch, False, 4) for _ in range(runs)]
    b = statistics.median(base)
    return [
        f"mail to the local sink, {count:,} rendered mails, {runs} runs, mails/s:",
        f"  baseline, plain aiosmtplib loop on one connection: {summary(base)}",
        f"  Mailer, 4 reused connections: {summary(reused)}; ratio {statistics.median(reused) / b:.2f}",
        f"  Mailer, 1 reused connection: {summary(single)}; ratio {statistics.median(single) / b:.2f}",
        f"  Mailer, a new connection per mail (4 at a time): {summary(fresh)}; ratio {statistics.median(fresh) / b:.2f}",
    ]
