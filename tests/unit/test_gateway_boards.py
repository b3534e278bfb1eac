"""The gateway's pure parts: each board's payload (shaped as the board documents it, in
prospectflow/samples/boards) → `inquiry.received`, each board's signature, and what a résumé is
by its bytes."""

from __future__ import annotations

import base64
import copy
import io
import json
import time
import struct
import tracemalloc
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from services.intake import boards, resumes, signatures
from services.intake.boards import Refused
from services.intake.settings import IntakeSettings
from shared import ids
from shared.contract import InquiryReceived

SAMPLES = Path(__file__).parents[2] / "prospectflow" / "samples" / "boards"


def sample(board: str) -> dict:
    return json.loads((SAMPLES / f"{board}.json").read_text())


def test_indeed_application_becomes_an_inquiry():
    application = boards.indeed(sample("indeed"))
    data = InquiryReceived.model_validate(application.data)
    assert (data.job_id, data.board) == ("dana-backend", "indeed")
    assert data.board_inquiry_id == "b05c30b6e89ef153602adaa9f073674128b4b838806bfdaf0cace3277f6b99df"
    assert (data.prospect.name, data.prospect.email, data.prospect.phone) == (
        "Ines Moreau", "ines.moreau@example.com", "+33 6 12 34 56 78")
    assert data.message == "I build event-driven back ends in Python."
    assert data.inquired_at == datetime(2025, 12, 1, 9, 29, tzinfo=timezone.utc)
    assert application.resume is not None and application.resume.data.startswith(b"%PDF-")
    assert application.resume.filename == "Ines Moreau CV.pdf"


def test_linkedin_application_becomes_an_inquiry():
    application = boards.linkedin(sample("linkedin"))
    data = InquiryReceived.model_validate(application.data)
    assert (data.job_id, data.board, data.board_inquiry_id) == (
        "dana-backend", "linkedin", "urn:li:jobApplication:7331457298001")
    assert (data.prospect.name, data.prospect.email) == ("Omar Haddad", "omar.haddad@example.com")
    assert (data.prospect.location, data.prospect.headline) == ("Hamburg, Germany", "Backend engineer, Java and Kafka")
    assert data.prospect.profile_url == "https://www.linkedin.com/in/omar-haddad-example"
    assert application.resume is not None and application.resume.filename == "omar-haddad.pdf"


def test_ziprecruiter_application_becomes_an_inquiry_with_its_answers():
    application = boards.ziprecruiter(sample("ziprecruiter"))
    data = InquiryReceived.model_validate(application.data)
    assert (data.job_id, data.board, data.board_inquiry_id) == ("dana-backend", "ziprecruiter", "b9f5a3e2c1d04e0f")
    assert (data.prospect.name, data.prospect.email, data.prospect.phone) == (
        "Chloe Martin", "chloe.martin@example.com", "+1 415 555 0100")
    assert data.message == "years_python: 6\nwork_authorization: US citizen"
    assert application.resume is not None and application.resume.data.startswith(b"Chloe Martin")


def test_a_retry_is_the_same_event_and_another_application_another():
    first, again = boards.indeed(sample("indeed")), boards.indeed(sample("indeed"))
    other = sample("indeed")
    other["id"] = "another-apply-id"
    assert first.event_id == again.event_id != boards.indeed(other).event_id
    # The same id on another board is another application.
    assert boards.indeed({**sample("indeed"), "id": "b9f5a3e2c1d04e0f"}).event_id != \
        boards.ziprecruiter(sample("ziprecruiter")).event_id


def test_unknown_fields_are_ignored():
    payload = sample("ziprecruiter")
    payload["new_field"] = {"anything": [1, 2]}
    assert boards.ziprecruiter(payload).data["prospect"]["email"] == "chloe.martin@example.com"


@pytest.mark.parametrize("board,drop,named", [
    ("indeed", ("applicant", "email"), "`applicant.email` is required"),
    ("indeed", ("job", "jobId"), "`job.jobId` is required"),
    ("indeed", ("id",), "`id` is required"),
    ("linkedin", ("jobApplicationId",), "`jobApplicationId` is required"),
    ("linkedin", ("applicant", "emailAddress"), "`applicant.emailAddress` is required"),
    ("ziprecruiter", ("email",), "`email` is required"),
    ("ziprecruiter", ("job_id",), "`job_id` is required"),
])
def test_a_missing_required_field_is_a_400_naming_it(board, drop, named):
    payload = copy.deepcopy(sample(board))
    target = payload
    for part in drop[:-1]:
        target = target[part]
    del target[drop[-1]]
    with pytest.raises(Refused) as refused:
        boards.ADAPTERS[board](payload)
    assert (refused.value.status, refused.value.reason) == (400, named)


def test_a_missing_name_names_both_ways_of_giving_it():
    payload = sample("ziprecruiter")
    for key in ("name", "first_name", "last_name"):
        del payload[key]
    with pytest.raises(Refused, match="`name` \\(or `first_name` and `last_name`\\) is required"):
        boards.ziprecruiter(payload)


def test_an_invalid_field_is_a_422_in_the_boards_words():
    payload = sample("indeed")
    payload["applicant"]["email"] = "not an address"
    with pytest.raises(Refused) as refused:
        boards.indeed(payload)
    assert refused.value.status == 422 and refused.value.reason.startswith("`applicant.email`:")
    payload = sample("linkedin")
    payload["externalJobPostingId"] = "job with spaces"
    with pytest.raises(Refused, match="`externalJobPostingId`"):
        boards.linkedin(payload)
    payload = sample("ziprecruiter")
    payload["resume"] = 42
    with pytest.raises(Refused, match="`resume` must be base64 text"):
        boards.ziprecruiter(payload)


def test_a_body_that_is_not_an_object_is_a_400():
    with pytest.raises(Refused) as refused:
        boards.indeed([1, 2, 3])
    assert refused.value.status == 400


# --- CloudEvents --------------------------------------------------------------------------------


def test_cloudevents_structured_binary_and_batch():
    event = sample("cloudevents")
    (structured,) = boards.cloudevents("application/cloudevents+json; charset=utf-8", {}, event)
    assert structured.event_id == ids.derive("gateway", "cloudevents", "cloudevents", "jobs-weekly-A-4471")
    assert structured.source == "jobboard/jobs-weekly"
    assert structured.data["board"] == "jobs-weekly"
    headers = {"ce-specversion": "1.0", "ce-id": "bin-1", "ce-source": "jobboard/x", "ce-type": "inquiry.received",
               "ce-traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    (binary,) = boards.cloudevents("application/json", headers, event["data"])
    assert binary.event_id == ids.derive("gateway", "cloudevents", "cloudevents", "bin-1")
    assert binary.extra["traceparent"].startswith("00-0af7")
    second = {**event, "id": "jobs-weekly-A-4472"}
    batch = boards.cloudevents("application/cloudevents-batch+json", {}, [event, second])
    assert [a.event_id for a in batch] == [ids.derive("gateway", "cloudevents", "cloudevents", i)
                                           for i in ("jobs-weekly-A-4471", "jobs-weekly-A-4472")]


def test_a_cloudevents_board_speaks_only_for_itself():
    """Issue 27, 3: a CloudEvents sender claimed `board: indeed` and Indeed's application id, so
    the real Indeed application vanished as a duplicate and dispositions went to Indeed."""
    event = sample("cloudevents")
    claim = {**event, "data": {**event["data"], "board": "indeed", "board_inquiry_id": "1d2b3c4e5f"}}
    with pytest.raises(Refused) as refused:
        boards.cloudevents(boards.STRUCTURED, {}, claim, reserved={"indeed", "linkedin"})
    assert refused.value.status == 403 and "indeed posts through its own endpoint" in refused.value.reason
    with pytest.raises(Refused, match="signs for 'jobs-weekly' only"):  # a named sender, another board
        boards.cloudevents(boards.STRUCTURED, {}, {**event, "data": {**event["data"], "board": "acme"}},
                           signer="jobs-weekly")
    (named,) = boards.cloudevents(boards.STRUCTURED, {}, {**event, "data": {k: v for k, v in event["data"].items()
                                                                             if k != "board"}}, signer="jobs-weekly")
    assert named.data["board"] == "jobs-weekly"  # the signer is the board, said or not
    # the same id from two senders, or an id crafted as Indeed's derived one, is another event
    indeed_id = boards.indeed(sample("indeed")).event_id
    (crafted,) = boards.cloudevents(boards.STRUCTURED, {}, {**event, "id": indeed_id})
    (other,) = boards.cloudevents(boards.STRUCTURED, {}, event, signer="jobs-weekly")
    assert crafted.event_id != indeed_id and other.event_id != boards.cloudevents(boards.STRUCTURED, {}, event)[0].event_id


def test_cloudevents_refusals_say_which_event_and_why():
    event = sample("cloudevents")
    with pytest.raises(Refused, match="`type` must be inquiry.received"):
        boards.cloudevents("application/cloudevents+json", {}, {**event, "type": "job.opened"})
    bad = copy.deepcopy(event)
    del bad["data"]["prospect"]["email"]
    with pytest.raises(Refused, match="^event 1: `data.prospect.email`"):
        boards.cloudevents("application/cloudevents-batch+json", {}, [event, bad])
    with pytest.raises(Refused, match="gateway's to set"):
        boards.cloudevents("application/cloudevents+json", {}, {**event, "data": {**event["data"], "resume": {}}})
    for origin in ({"referred_by": {"person_id": "x", "prospect_id": "y", "name": "Dana"}},
                   {"referred_from": {"job_id": "j", "prospect_id": "p"}}):  # a board may not label its own
        with pytest.raises(Refused, match="is Prospectflow's to set"):
            boards.cloudevents("application/cloudevents+json", {}, {**event, "data": {**event["data"], **origin}})
    with pytest.raises(Refused) as refused:
        boards.cloudevents("application/json", {}, event["data"])
    assert refused.value.status == 400 and "ce-* headers" in refused.value.reason


def test_a_cloudevent_may_carry_a_resume_file():
    event = sample("cloudevents")
    event["data"]["resume_file"] = {"filename": "cv.txt", "data": base64.b64encode(b"Yuki Tanaka\n").decode()}
    (application,) = boards.cloudevents("application/cloudevents+json", {}, event)
    assert application.resume is not None and application.resume.data == b"Yuki Tanaka\n"
    assert "resume_file" not in application.data


# --- signatures ---------------------------------------------------------------------------------

BODY = b'{"id":"x","caf\xc3\xa9":1}'


@pytest.mark.parametrize("board", ["indeed", "linkedin", "ziprecruiter"])
def test_each_boards_signature_is_checked_on_the_raw_bytes(board):
    headers = {k.lower(): v for k, v in signatures.sign_headers(board, "current", BODY).items()}
    assert signatures.check(board, ["current"], BODY, headers) is None
    assert signatures.check(board, ["old", "current"], BODY, headers) is None  # rotation: both active
    assert signatures.check(board, ["other"], BODY, headers) == f"{signatures.SIGNATURE_HEADERS[board]} does not match"
    assert signatures.check(board, ["current"], BODY + b" ", headers) is not None  # one byte more
    assert signatures.check(board, ["current"], BODY, {}) == f"no {signatures.SIGNATURE_HEADERS[board]} header"
    assert signatures.check(board, [], BODY, headers) is not None


def test_the_documented_formats_of_the_signatures():
    assert signatures.indeed_signature("secret", b"body") == "oYmR/35FE6HC0u5R46jpnKiR2c0="  # base64 HMAC-SHA1 (openssl dgst)
    assert signatures.linkedin_signature("secret", b"body") == (
        "hmacsha256=dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355")


WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_standard_webhooks_signature_and_its_time_tolerance():
    now = time.time()
    headers = signatures.standard_webhooks_headers(WHSEC, "msg_1", BODY, now)
    assert signatures.check("cloudevents", [WHSEC], BODY, headers) is None
    stale = signatures.standard_webhooks_headers(WHSEC, "msg_1", BODY, now - 6 * 60)
    assert "outside the 5-minute tolerance" in str(signatures.check("cloudevents", [WHSEC], BODY, stale))
    assert signatures.check("cloudevents", [WHSEC], BODY, {**headers, "webhook-id": "msg_2"}) == \
        "webhook-signature does not match"
    assert signatures.check("cloudevents", [WHSEC], BODY, {"webhook-id": "x"}) is not None
    assert signatures.check("cloudevents", [WHSEC], BODY, {**headers, "webhook-signature": "garbage"}) is not None


def test_the_linkedin_validation_challenge():
    assert signatures.linkedin_challenge("secret", "890e4665-4dfe-4ab1-b689-ed553bceeed0") == (
        "9585d359e64d6a2013e0cf377f702b7141313246286c6891f22e3bfcc3938f65")  # openssl dgst -sha256 -hmac


def test_the_challenge_is_no_signing_oracle():
    """Issue 27, 1: the challenge answered HMAC(secret, anything), which is what X-LI-Signature
    is checked against: an application sent as the challenge came back signed."""
    application = b'{"jobApplicationId":"x","externalJobPostingId":"j","applicant":{"emailAddress":"a@b.c"}}'
    with pytest.raises(ValueError, match="UUID"):
        signatures.linkedin_challenge("secret", application.decode())
    code = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
    answer = signatures.linkedin_challenge("secret", code)
    headers = {"x-li-signature": "hmacsha256=" + answer}
    assert "challenge code" in str(signatures.check("linkedin", ["secret"], code.encode(), headers))


def test_board_secrets_setting_names_what_is_wrong():
    assert IntakeSettings(board_secrets='{"indeed": ["a", "b"], "cloudevents": "' + WHSEC + '"}').secrets() == {
        "indeed": ["a", "b"], "cloudevents": [WHSEC]}
    named = IntakeSettings(board_secrets='{"cloudevents": {"jobs-weekly": ["' + WHSEC + '"]}}').secrets()
    assert named == {"cloudevents:jobs-weekly": [WHSEC]}
    for value, says in (("{not json", "not JSON"), ('{"monster": ["a"]}', "names 'monster'"),
                        ('{"cloudevents": {"indeed": ["' + WHSEC + '"]}}', "may not be called"),
                        ('{"indeed": [""]}', "non-empty strings"), ('{"cloudevents": ["plain"]}', "whsec_")):
        with pytest.raises(ValueError, match=says):
            IntakeSettings(board_secrets=value).secrets()


# --- résumés ------------------------------------------------------------------------------------


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


DOCX = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
ODT = _zip({"mimetype": resumes.ODT.encode(), "content.xml": b"<office:document-content/>"})


@pytest.mark.parametrize("data,expected", [
    (b"%PDF-1.7\n...", resumes.PDF),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, resumes.DOC),
    (DOCX, resumes.DOCX),
    (ODT, resumes.ODT),
    (b"{\\rtf1\\ansi Lee Park}", resumes.RTF),
    ("Lee Park\nIngénieur logiciel\n".encode(), resumes.TXT),
])
def test_a_resume_is_known_by_its_bytes(data, expected):
    assert resumes.sniff(data) == expected


@pytest.mark.parametrize("data,says", [
    (b"MZ\x90\x00\x03" + b"\x00" * 200, "a Windows executable"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 50, "a Linux executable"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (_zip({"payload.exe": b"MZ"}), "a ZIP archive, not a DOCX or ODT"),
    (b"PK\x03\x04broken", "damaged ZIP"),
    (b"\x00\x01\x02\x03binary", "binary data"),
    (b"", "empty"),
])
def test_anything_else_is_refused_saying_what_it_is(data, says):
    with pytest.raises(resumes.NotAResume, match=says):
        resumes.sniff(data)


def _lying_zip(real_size: int, claimed: int) -> bytes:
    """An ODT-shaped archive whose `mimetype` member inflates to `real_size` bytes but claims
    `claimed` in both its local header and the central directory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("mimetype", resumes.ODT.encode() + b" " * (real_size - len(resumes.ODT)))
        archive.writestr("content.xml", b"<office:document-content/>")
    data = bytearray(out.getvalue())
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, claimed)
    struct.pack_into("<I", data, central + 24, claimed)
    return bytes(data)


def test_a_zip_bomb_is_refused_without_inflating_it():
    """Issue 27, 4: a 200 KB archive whose `mimetype` claims 39 bytes and inflates to 200 MB
    took +390 MiB while its type was sniffed."""
    bomb = _lying_zip(64 * 1024 * 1024, len(resumes.ODT))
    assert len(bomb) < 100 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(resumes.NotAResume, match="lie about their sizes|damaged"):
            resumes.sniff(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"sniffing took {peak / 1e6:.0f} MB"


def test_a_member_claiming_more_than_it_holds_is_refused():
    with pytest.raises(resumes.NotAResume, match="lie about their sizes|damaged"):
        resumes.sniff(_lying_zip(len(resumes.ODT), 10_000))


def test_file_names_are_made_safe_and_say_what_the_file_is():
    assert resumes.safe_filename("../../etc/Lee CV.PDF", resumes.PDF) == "Lee CV.pdf"
    assert resumes.safe_filename("C:\\Users\\lee\\cv.docx", resumes.DOCX) == "cv.docx"
    assert resumes.safe_filename("evil\r\nname.exe", resumes.PDF) == "evilname.pdf"
    assert resumes.safe_filename(None, resumes.TXT) == "resume.txt"
    assert len(resumes.safe_filename("x" * 1000 + ".pdf", resumes.PDF)) == 255
