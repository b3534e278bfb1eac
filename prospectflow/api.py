"""The rating service's read API, as the tool reads it (a recruiter's views)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

from prospectflow.errors import CliError
from shared.views import VIEWS  # the contract's views, defined once

__all__ = ["VIEWS", "RatingApi"]



class RatingApi:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail")
            except ValueError:
                detail = exc.reason
            raise CliError(f"the rating API at {self.base_url} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach the rating API at {self.base_url} (PROSPECTFLOW_API_URL): {reason}. "
                           "Is the rating service running (`make run`)?") from None

    async def get(self, path: str, **params: Any) -> Any:
        return await asyncio.to_thread(self._get, path, params)

    async def prospects(self, view: str, *, job_id: str | None = None, limit: int | None = None,
                        page_size: int = 500) -> AsyncIterator[dict[str, Any]]:
        """The view's prospects, oldest waiting first, page after page (all, or the first `limit`)."""
        cursor, seen = None, 0
        while True:
            size = page_size if limit is None else min(page_size, limit - seen)
            page = await self.get("/prospects", view=view, job_id=job_id, limit=size, cursor=cursor)
            for item in page["items"]:
                yield item
                seen += 1
            cursor = page.get("next_cursor")
            if cursor is None or (limit is not None and seen >= limit):
                return

    async def summary(self) -> dict[str, Any]:
        return await self.get("/summary")
