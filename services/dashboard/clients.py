"""Rating's read API and messaging's preview, as the dashboard calls them: with the recruiter's
own token, so each API applies its own rules (a recruiter sees only their prospects)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class Unavailable(Exception):
    """An API did not answer, or answered with a server error: the page says which and where."""

    def __init__(self, service: str, url: str, detail: str) -> None:
        super().__init__(f"{service} at {url}: {detail}")
        self.service = service
        self.url = url
        self.detail = detail


class SessionExpired(Exception):
    """The API refused the recruiter's token."""


class NotFound(Exception):
    pass


def segment(value: str) -> str:
    """An id as one path segment, never a path: quoted, and "." or ".." (which an HTTP client
    folds into the path: `/v1/sequences/.` is the list) is nothing there (found by Schemathesis)."""
    if value in (".", ".."):
        raise NotFound(value)
    return quote(value, safe="")


class Refused(Exception):
    """The API refused what was asked (400, 422): a bad link or parameter, not an outage."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Api:
    def __init__(self, service: str, base_url: str, timeout_s: float, variable: str) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.variable = variable
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s,
                                       limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        """The response, or the exception that says what went wrong (the same for every API)."""
        try:
            response = await self._http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(self.service, self.base_url, f"{type(exc).__name__} (set {self.variable})") from None
        if response.status_code == 401:
            raise SessionExpired()
        if response.status_code == 404:
            raise NotFound()
        if response.status_code in (400, 422):  # found by Schemathesis: a bad cursor read as "rating is down"
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = None
            raise Refused(detail if isinstance(detail, str) else "a parameter is not valid")
        if response.status_code >= 400:
            raise Unavailable(self.service, self.base_url, f"answered {response.status_code}")
        return response

    async def call(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        return (await self.send(method, path, token, **kwargs)).json()


class RatingApi(Api):
    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__("the rating service", base_url, timeout_s, "DASHBOARD_RATING_API_URL")

    async def page(self, token: str, view: str, job_id: str | None, cursor: str | None, limit: int = 50) -> Any:
        params = {k: v for k, v in {"view": view, "job_id": job_id, "cursor": cursor, "limit": limit}.items() if v}
        return await self.call("GET", "/prospects", token, params=params)

    async def jobs(self, token: str) -> list[dict[str, Any]]:
        """The recruiter's jobs (`job_id`, `title`, `open`), by title."""
        return list(await self.call("GET", "/jobs", token))

    async def ids(self, token: str, view: str, job_id: str | None) -> list[str]:
        params = {k: v for k, v in {"view": view, "job_id": job_id}.items() if v}
        return list((await self.call("GET", "/prospect-ids", token, params=params))["ids"])

    async def prospect(self, token: str, prospect_id: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"/prospects/{segment(prospect_id)}", token))

    async def history(self, token: str, prospect_id: str, most: int = 5_000) -> list[dict[str, Any]]:
        """The prospect's timeline, oldest first, page after page (rating's `Next-Cursor`), up to
        `most` lines."""
        lines: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(lines) < most:
            answer = await self.send("GET", f"/prospects/{segment(prospect_id)}/history", token,
                                     params={"cursor": cursor} if cursor else None)
            lines += answer.json()
            cursor = answer.headers.get("Next-Cursor")
            if not cursor:
                break
        return lines[:most]

    async def summary(self, token: str) -> dict[str, Any]:
        return dict(await self.call("GET", "/summary", token))


class MessagingApi(Api):
    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__("the messaging service", base_url, timeout_s, "DASHBOARD_MESSAGING_API_URL")

    async def preview(self, token: str, template: str, prospect_ids: list[str], note: str | None) -> dict[str, Any]:
        body = {"template": template, "prospect_ids": prospect_ids, "note": note or None}
        return dict(await self.call("POST", "/preview", token, json=body))

    async def progress(self, token: str, send_id: str) -> dict[str, Any] | None:
        """Where a send stands, read back from messaging; None when it has taken none of it yet."""
        try:
            return dict(await self.call("GET", f"/sends/{segment(send_id)}", token))
        except NotFound:
            return None

    async def recent_sends(self, token: str) -> list[dict[str, Any]]:
        return list(await self.call("GET", "/sends", token))

    async def templates(self, token: str) -> list[dict[str, Any]]:
        """The recruiter's own templates."""
        return list(await self.call("GET", "/v1/templates", token))


class IntakeApi(Api):
    """Intake's résumé downloads, with the recruiter's token (intake checks the job is theirs)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__("the intake service", base_url, timeout_s, "DASHBOARD_INTAKE_API_URL")

    async def resume(self, token: str, resume_id: str) -> httpx.Response:
        return await self.send("GET", f"/v1/resumes/{segment(resume_id)}", token)


class WebhooksApi(Api):
    """The webhooks service's endpoints API, with the recruiter's token (their own endpoints only)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__("the webhooks service", base_url, timeout_s, "DASHBOARD_WEBHOOKS_API_URL")

    async def endpoints(self, token: str) -> list[dict[str, Any]]:
        return list(await self.call("GET", "/v1/endpoints", token))

    async def add(self, token: str, url: str, events: list[str]) -> dict[str, Any]:
        return dict(await self.call("POST", "/v1/endpoints", token, json={"url": url, "events": events}))

    async def deliveries(self, token: str, endpoint_id: str) -> list[dict[str, Any]]:
        return list(await self.call("GET", f"/v1/endpoints/{segment(endpoint_id)}/deliveries", token))

    async def delete(self, token: str, endpoint_id: str) -> None:
        await self.send("DELETE", f"/v1/endpoints/{segment(endpoint_id)}", token)


class SequencesApi(Api):
    """The sequences service's API, with the recruiter's token (their own sequences only)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__("the sequences service", base_url, timeout_s, "DASHBOARD_SEQUENCES_API_URL")

    async def sequences(self, token: str) -> list[dict[str, Any]]:
        return list(await self.call("GET", "/v1/sequences", token))

    async def sequence(self, token: str, sequence_id: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"/v1/sequences/{segment(sequence_id)}", token))

    async def create(self, token: str, definition: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.call("POST", "/v1/sequences", token, json=definition))

    async def new_version(self, token: str, sequence_id: str, definition: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.call("PUT", f"/v1/sequences/{segment(sequence_id)}", token, json=definition))

    async def archive(self, token: str, sequence_id: str) -> None:
        await self.send("DELETE", f"/v1/sequences/{segment(sequence_id)}", token)

    async def all_enrollments(self, token: str, prospect_id: str) -> list[dict[str, Any]]:
        return list(await self.call("GET", "/v1/enrollments", token, params={"prospect_id": prospect_id}))

    async def enrollments(self, token: str, prospect_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each prospect's latest enrollment (200 ids a call)."""
        latest: dict[str, dict[str, Any]] = {}
        for start in range(0, len(prospect_ids), 200):
            chunk = prospect_ids[start:start + 200]
            for e in await self.call("GET", "/v1/enrollments", token, params=[("prospect_id", i) for i in chunk]):
                latest[e["prospect_id"]] = e  # oldest first: the last one wins
        return latest


class InsightsApi(Api):
    """The insights service's API, with the recruiter's token (their own figures only)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__("the insights service", base_url, timeout_s, "DASHBOARD_INSIGHTS_API_URL")

    @staticmethod
    def _params(start: str, end: str, job_id: str | None, reading: str, format: str = "json") -> dict[str, str]:
        return {"from": start, "to": end, "reading": reading, "format": format, **({"job_id": job_id} if job_id else {})}

    async def figures(self, token: str, start: str, end: str, *, job_id: str | None = None,
                      reading: str = "activity") -> dict[str, Any]:
        return dict(await self.call("GET", "/v1/insights", token, params=self._params(start, end, job_id, reading)))

    async def csv(self, token: str, start: str, end: str, *, job_id: str | None = None,
                  reading: str = "activity") -> str:
        return (await self.send("GET", "/v1/insights", token, params=self._params(start, end, job_id, reading, "csv"))).text
