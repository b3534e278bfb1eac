"""A use case's refusal of what was asked, with the HTTP status that says so (404 not yours, 409,
422 why): raised in handlers, answered `{"detail": ...}` with that status by every service's app
(`shared.http.service_api`), so no route maps refusals by hand."""


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
