"""The dashboard's errors: what can go wrong, by name, and the answers the OpenAPI document lists.
How each reads to the recruiter is in `problems.py`."""

from __future__ import annotations

from typing import Any



class SignedOut(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


class Forbidden(Exception):
    """A POST without the session's CSRF token, or from another site."""


class Problem(Exception):
    """Something the recruiter can act on, said in words."""

    def __init__(self, title: str, detail: str, status_code: int = 400) -> None:
        self.title = title
        self.detail = detail
        self.status_code = status_code


RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "not signed in, or done: to the sign-in or next page"},
    400: {"description": "a problem with what was asked, in words"},
    401: {"description": "a sign-in link that does not work"},
    403: {"description": "a form without this session's CSRF token or from another origin"},
    404: {"description": "no such prospect among yours"},
    503: {"description": "rating, messaging or Kafka cannot be reached (named)"},
    504: {"description": "no answer to a command in time (it may still be done)"},
}
for _code, _response in RESPONSES.items():
    if _code != 303:  # a redirect has no body
        _response["content"] = {"text/html": {}}
