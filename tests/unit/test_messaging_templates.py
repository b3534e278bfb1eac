"""The templates as people read them, and what nobody can inject through them."""

import pytest

from services.messaging import domain
from services.messaging.mail import build
from services.messaging.rendering import SAMPLE, TemplateConfigurationError, Templates
from shared.contract import RejectionReason, Template

templates = Templates()


@pytest.mark.parametrize("template, link", [("ask_to_apply", "https://acme.example/jobs/42/apply"),
                                            ("arrange_interview", "https://acme.example/book/42")])
def test_links_in_both_parts(template, link):
    rendered = templates.render(template, SAMPLE)
    assert link in rendered.text and f'href="{link}"' in rendered.html
    assert "Backend Engineer" in rendered.subject and rendered.text.startswith("Hi Lee,")


def test_not_a_match_is_kind_keeps_the_door_open_and_asks_for_referrals():
    text = templates.render("not_a_match", SAMPLE).text
    assert "Thank you for your interest" in text
    assert "another role" in text and "someone who would be a great fit" in text


def test_prospect_text_cannot_inject_template_code_or_html():
    context = {**SAMPLE, "prospect": {**SAMPLE["prospect"], "first_name": "{{ 7*7 }}<script>alert(1)</script>"},
               "note": "{% for x in range(3) %}x{% endfor %}"}
    rendered = templates.render("ask_to_apply", context)
    assert "{{ 7*7 }}" in rendered.text and "49" not in rendered.text
    assert "&lt;script&gt;" in rendered.html and "<script>" not in rendered.html
    assert "{% for x in range(3) %}" in rendered.html


def test_header_values_cannot_carry_new_headers():
    rendered = templates.render("ask_to_apply", {**SAMPLE, "job": {**SAMPLE["job"], "title": "Dev\r\nBcc: evil@example.com"}})
    message = build(rendered, sender="jobs@acme.example", recruiter_name="Dana\r\nBcc: evil@example.com",
                    recruiter_email="dana@acme.example", to_name="Lee\nX-Evil: 1", to="lee@example.com", message_id="m-1")
    headers = message.as_string().split("\n\n", 1)[0]
    assert "\nBcc:" not in headers and "\nX-Evil" not in headers
    assert message["Subject"].startswith("Next step for the Dev Bcc: evil@example.com role")
    assert message["Message-ID"] == "<m-1@acme.example>" and message["Reply-To"].addresses[0].addr_spec == "dana@acme.example"
    assert message.get_content_type() == "multipart/alternative"


def test_a_broken_replacement_is_refused_at_start(tmp_path):
    (tmp_path / "ask_to_apply.txt").write_text("Hi {{ prospect.nickname }}")
    with pytest.raises(TemplateConfigurationError, match="ask_to_apply"):
        Templates(tmp_path)
    (tmp_path / "ask_to_apply.txt").write_text("Hi {{ prospect.first_name }} {% if %}")
    with pytest.raises(TemplateConfigurationError):
        Templates(tmp_path)


def test_a_good_replacement_wins(tmp_path):
    (tmp_path / "not_a_match.subject.txt").write_text("About {{ job.title }}")
    assert Templates(tmp_path).render(Template.NOT_A_MATCH, SAMPLE).subject == "About Backend Engineer"


def test_rejection_reasons():
    job = {"recruiter": {"recruiter_id": "rec-7"}, "open": True, "apply_url": None, "interview_url": "https://x.example/b"}
    contact = {"name": "Lee", "email": "lee@example.com", "job_id": "j"}
    assert domain.check(None, None, "rec-7", Template.NOT_A_MATCH, False) == RejectionReason.UNKNOWN_PROSPECT
    assert domain.check(contact, job, "rec-8", Template.NOT_A_MATCH, False) == RejectionReason.FORBIDDEN
    assert domain.check(contact, {**job, "open": False}, "rec-7", Template.NOT_A_MATCH, False) == RejectionReason.JOB_CLOSED
    assert domain.check(contact, job, "rec-7", Template.NOT_A_MATCH, True) == RejectionReason.OPTED_OUT
    assert domain.check(contact, job, "rec-7", Template.ASK_TO_APPLY, False) == RejectionReason.MISSING_LINK
    assert domain.check(contact, job, "rec-7", Template.ARRANGE_INTERVIEW, False) is None


def test_an_unsubscribe_token_that_is_not_ours_is_refused_whatever_its_characters():
    from services.messaging.unsubscribe import UnsubscribeLinks

    links = UnsubscribeLinks("a-secret", "http://127.0.0.1:8082")
    good = links.token("lee@example.com")
    assert links.email(good) == "lee@example.com"
    encoded = good.partition(".")[0]
    for forged in (f"{encoded}.é", f"{encoded}.{'x' * 43}", "é.é", ".", f"{encoded}.", "%%.%%"):
        assert links.email(forged) is None, forged
