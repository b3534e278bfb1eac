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

from jinja2 import FileSystemLoader, nodes, StrictUndefined, TemplateError, TemplateSyntaxError, select_autoescape
from jinja2.exceptions import SecurityError
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
    "refer_url": "https://prospectflow.example/refer/sample",
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


MOST_REPEATED = 10_000  # "x" * n, [..] * n, 10 ** n in a template: bounded, or one template takes the memory
MOST_RENDERED = 100_000  # characters a recruiter's template may render to


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, with `*` and `**` bounded: a recruiter's template may not
    build a gigabyte string or a huge number (the sandbox bounds only `range`)."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and (not isinstance(right, (int, float)) or abs(right) > 100 or
                                 (isinstance(left, (int, float)) and abs(left) > 10 ** 6)):
            raise SecurityError("a power that large is not allowed in a template")
        if operator == "*":
            for value, times in ((left, right), (right, left)):
                if isinstance(value, (str, list, tuple)) and isinstance(times, int) and \
                        len(value) * max(times, 0) > MOST_REPEATED:
                    raise SecurityError(f"a repetition over {MOST_REPEATED:,} is not allowed in a template")
        return super().call_binop(context, operator, left, right)


# A recruiter's own template is text with variables: no loops, calls, arithmetic or assignments
# (any of them can make one render take a minute or a gigabyte), only what a letter needs.
CUSTOM_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
                nodes.Const, nodes.If, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.CondExpr,
                nodes.Concat, nodes.Filter, nodes.Test)
CUSTOM_FILTERS = frozenset({"default", "upper", "lower", "title", "capitalize", "trim", "e", "escape", "striptags",
                            "first", "last", "length", "d"})


NODE_WORDS = {"For": "a {% for %} loop", "Call": "calling a function or method", "Assign": "{% set %}",
              "AssignBlock": "{% set %}", "Macro": "{% macro %}", "CallBlock": "{% call %}", "Include": "{% include %}",
              "Extends": "{% extends %}", "Import": "{% import %}", "FromImport": "{% import %}", "With": "{% with %}",
              "FilterBlock": "{% filter %}", "Add": "arithmetic", "Sub": "arithmetic", "Mul": "arithmetic",
              "Div": "arithmetic", "FloorDiv": "arithmetic", "Mod": "arithmetic", "Pow": "arithmetic",
              "List": "a list", "Dict": "a dict", "Tuple": "a tuple", "Slice": "a slice"}


def _beyond_variables(tree: nodes.Node) -> tuple[int, str] | None:
    """The first construct of a recruiter's template that is more than text with variables."""
    for node in [tree, *tree.find_all(nodes.Node)]:
        if not isinstance(node, CUSTOM_NODES):
            return node.lineno, NODE_WORDS.get(type(node).__name__, type(node).__name__.lower())
        if isinstance(node, nodes.Filter) and (node.name not in CUSTOM_FILTERS or len(node.args) > 1
                                               or node.kwargs or node.dyn_args or node.dyn_kwargs):
            return node.lineno, f"the filter {node.name!r}" + (" with those arguments" if node.name in CUSTOM_FILTERS
                                                              else "")
    return None


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
        self.env = Sandbox(
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
        rendered_text = self.env.from_string(text).render(context).strip()[:MOST_RENDERED]
        paragraphs = [p.strip() for p in rendered_text.split("\n\n") if p.strip()]
        return Rendered(
            subject=" ".join(self.env.from_string(subject).render(context).split()),
            text=rendered_text + "\n",
            html=self.env.get_template("custom.html").render({**context, "paragraphs": paragraphs}),
        )

    def custom_problem(self, subject: str, text: str) -> str | None:
        """Why a recruiter's template cannot be saved (it does not render, uses a variable that does
        not exist, or more than variables, `if` and simple filters), with the line; None when it
        renders with and without a note."""
        for part, source in (("subject", subject), ("text", text)):
            try:
                beyond = _beyond_variables(self.env.parse(source))
            except TemplateSyntaxError as exc:
                return f"the {part}, line {exc.lineno}: {exc.message}"
            if beyond is not None:
                return f"the {part}, line {beyond[0]}: {beyond[1]} is not allowed in your templates (variables, " \
                       "{% if %} and the filters " + ", ".join(sorted(CUSTOM_FILTERS)) + " are)"
            for sample in (SAMPLE, {**SAMPLE, "note": None}):
                try:
                    self.env.from_string(source).render(sample)
                except TemplateSyntaxError as exc:
                    return f"the {part}, line {exc.lineno}: {exc.message}"
                except Exception as exc:  # noqa: BLE001 - any error a template raises ({{ 1/0 }}, a bound) refuses it
                    line = next((f"line {frame.lineno}, " for frame in reversed(traceback.extract_tb(exc.__traceback__))
                                 if frame.filename == "<template>"), "")
                    return f"the {part}, {line}{getattr(exc, 'message', None) or exc or type(exc).__name__}"
        return None

    def render(self, template: Template | str, context: dict[str, Any]) -> Rendered:
        name = DIGEST if template == DIGEST else Template(template).value
        subject = self.env.get_template(f"{name}.subject.txt").render(context)
        return Rendered(
            subject=" ".join(subject.split()),  # one line: no CR/LF can reach the header
            text=self.env.get_template(f"{name}.txt").render(context).strip() + "\n",
            html=self.env.get_template(f"{name}.html").render(context),
        )
