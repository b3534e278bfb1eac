"""Recruiters' own templates: refused when saved if they do not render (with the line), sent as
`custom:<id>` by their recruiter only, the HTML escaped, a queued mail kept as it was."""

from __future__ import annotations

import pytest

from services.messaging.handlers import CustomTemplates, TemplateRefused
from services.messaging.rendering import SAMPLE, Templates
from tests.fakes import MemoryDatabase
from tests.unit.test_handlers import event, job, messaging, registered

TEMPLATES = Templates()


@pytest.mark.parametrize("subject,text,says", [
    ("Hi {{ prospect.first_name }}", "Hello,\n\nthe {{ job.titel }} role", "the text, line 3"),
    ("Hi {{ prospect.first_name", "Hello", "the subject, line 1"),
    ("Hi", "Hello\n{% for x in job %}", "the text, line 2"),
    ("Hi {{ nobody }}", "Hello", "'nobody' is undefined"),
])
def test_a_template_that_does_not_render_is_refused_with_the_line(subject, text, says):
    assert says in (TEMPLATES.custom_problem(subject, text) or "")


def test_a_good_template_renders_with_the_built_ins_variables_and_its_html_is_escaped():
    assert TEMPLATES.custom_problem("The {{ job.title }} role", "Hi {{ prospect.first_name }},\n\n{{ note }}") is None
    rendered = TEMPLATES.render_custom("The {{ job.title }} role", "Hi {{ prospect.first_name }},\n\n<b>{{ note }}</b>",
                                       {**SAMPLE, "note": "<script>alert(1)</script>"})
    assert rendered.subject == "The Backend Engineer role"
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert rendered.text.startswith("Hi Lee,\n\n<b><script>")  # plain text is plain


async def test_a_recruiter_sends_their_own_template_and_nobody_else_can():
    database = MemoryDatabase()
    handle, publisher, mailer = messaging(database)
    custom = CustomTemplates(handle.store, TEMPLATES)
    with pytest.raises(TemplateRefused) as refused:
        await custom.create("rec-7", "Bad", "Hi", "{{ job.nope }}")
    assert refused.value.status == 422 and "line 1" in refused.value.detail
    mine = await custom.create("rec-7", "Short note", "About {{ job.title }}", "Hi {{ prospect.first_name }}, still keen?")
    lee = registered("lee@example.com")
    await handle([job(), lee])
    pid = lee.data.prospect_id  # type: ignore[attr-defined]
    await handle([event("messaging-commands", "messages.send", {
        "recruiter_id": "rec-8", "template": f"custom:{mine['_id']}", "prospect_ids": [pid]}, "theirs")])
    await handle([event("messaging-commands", "messages.send", {
        "recruiter_id": "rec-7", "template": f"custom:{mine['_id']}", "prospect_ids": [pid]}, "mine")])
    results = {r["data"]["command_id"]: r["data"] for r in publisher.of_type("command.completed")}
    assert results["theirs"]["rejected"] == [{"prospect_id": pid, "reason": "unknown_template"}]
    assert results["mine"]["accepted"] == [pid]
    [mail] = mailer.sent
    assert mail["Subject"] == "About Backend Engineer"
    assert "Hi Lee, still keen?" in mail.get_body(("plain",)).get_content()
    [sent] = publisher.of_type("message.sent")
    assert sent["data"]["template"] == f"custom:{mine['_id']}"


@pytest.mark.parametrize("text,says", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "a {% for %} loop"),
    ("{{ 'x' * 1000000000 }}", "arithmetic"),
    ("{{ job.title.center(1000000000) }}", "calling a function"),
    ("{{ job.title|center(1000000000) }}", "the filter 'center'"),
    ("{% set x = job %}", "{% set %}"),
])
def test_a_template_that_could_take_the_service_down_is_refused_at_once(text, says):
    """Found by hand before release: nested loops rendered for minutes, a repeated string took
    gigabytes. A recruiter's template is text, variables, {% if %} and simple filters."""
    problem = TEMPLATES.custom_problem("Hi", text) or ""  # refused before it is rendered (else: no answer)
    assert says in problem and "line 1" in problem
