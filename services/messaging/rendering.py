"""The templates: Jinja2, sandboxed, HTML auto-escaped, strict about undefined variables.

Each template has three files: `<name>.subject.txt`, `<name>.txt` and `<name>.html`. A folder
given in MESSAGING_TEMPLATES_DIR is searched first, so a deployment replaces any file it
provides. Every template is rendered once at start with sample data: a broken replacement
stops the service with a clear error instead of failing at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import traceback
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shared.contract import Template
from shared.service import ConfigurationError

BUILT_IN = Path(__file__).parent / "templates"

SAMPLE = {
    "prospect": {"name": "Lee Park", "first_name": "Lee", "email": "lee.park@example.com"},
    "job": {"job_id": "job-42", "title": "Backend Engineer", "company": "Acme", "location": "Berlin",
            "apply_url": "https://acme.example/jobs/42/apply", "interview_url": "https://acme.example/book/42"},
    "recruiter": {"recruiter_id": "rec-7", "name": "Dana Smith", "email": "dana@acme.example"},
    "note": "Looking forward to hearing from you.",
    "unsubscribe_url": "https://prospectflow.example/unsubscribe/sample",
}
"""The variables every template gets (documented in docs/messaging.md), with sample values."""

DIGEST = "daily_digest"
DIGEST_SAMPLE: dict[str, Any] = {
    "recruiter": SAMPLE["recruiter"], "note": None,
    "job": {"job_id": "", "title": "", "company": "Prospectflow", "location": None, "apply_url": None, "interview_url": None},
    "reminder": {"pending_total": 2, "date": "2026-11-25", "counts": {"unrated": 1, "shortlist": 1, "not_a_fit": 0},
                 "jobs": [{"job_id": "job-42", "title": "Backend Engineer", "pending": 2}],
                 "prospects": [{"prospect_id": "p1", "job_id": "job-42", "name": "Lee Park", "rating": "shortlist",
                                "waiting_since": "2026-11-20T09:29:00Z"}], "replied": 1},
}
"""The digest's variables: `recruiter`, and `reminder` (the `follow_up.reminder_due` data)."""


class TemplateConfigurationError(ConfigurationError):
    """A template is missing or broken; the message names it and says what is wrong."""


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class Templates:
    def __init__(self, replacements: Path | None = None) -> None:
        folders = [str(replacements)] if replacements else []
        if replacements is not None and not replacements.is_dir():
            raise TemplateConfigurationError(f"MESSAGING_TEMPLATES_DIR {replacements} is not a folder")
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader([*folders, str(BUILT_IN)]),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )
        self.check()

    def check(self) -> None:
        cases = [(t.value, sample) for t in Template for sample in (SAMPLE, {**SAMPLE, "note": None})]
        for template, sample in [*cases, (DIGEST, DIGEST_SAMPLE)]:
            try:
                self.render(template, sample)
            except TemplateError as exc:
                raise TemplateConfigurationError(
                    f"template {template!r} cannot be rendered: {type(exc).__name__}: {exc}"
                ) from None

    def render_custom(self, subject: str, text: str, context: dict[str, Any]) -> Rendered:
        """A recruiter's own template (subject and text, Jinja2 in the same sandbox, the same
        variables): the HTML is the text's paragraphs in the common layout, escaped."""
        rendered_text = self.env.from_string(text).render(context).strip()
        paragraphs = [p.strip() for p in rendered_text.split("\n\n") if p.strip()]
        return Rendered(
            subject=" ".join(self.env.from_string(subject).render(context).split()),
            text=rendered_text + "\n",
            html=self.env.get_template("custom.html").render({**context, "paragraphs": paragraphs}),
        )

    def custom_problem(self, subject: str, text: str) -> str | None:
        """Why a recruiter's template cannot be saved (it does not render, or uses a variable that
        does not exist), with the line; None when it renders with and without a note."""
        for part, source in (("subject", subject), ("text", text)):
            for sample in (SAMPLE, {**SAMPLE, "note": None}):
                try:
                    self.env.from_string(source).render(sample)
                except TemplateSyntaxError as exc:
                    return f"the {part}, line {exc.lineno}: {exc.message}"
                except TemplateError as exc:
                    line = next((f"line {frame.lineno}, " for frame in reversed(traceback.extract_tb(exc.__traceback__))
                                 if frame.filename == "<template>"), "")
                    return f"the {part}, {line}{exc.message or type(exc).__name__}"
        return None

    def render(self, template: Template | str, context: dict[str, Any]) -> Rendered:
        name = DIGEST if template == DIGEST else Template(template).value
        subject = self.env.get_template(f"{name}.subject.txt").render(context)
        return Rendered(
            subject=" ".join(subject.split()),  # one line: no CR/LF can reach the header
            text=self.env.get_template(f"{name}.txt").render(context).strip() + "\n",
            html=self.env.get_template(f"{name}.html").render(context),
        )
