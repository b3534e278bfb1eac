"""A small, fixed sample for a recruiter: what `make run` publishes so the dashboard has a
morning's prospects to work through. Event ids and board inquiry ids are derived from the
recruiter, so publishing it twice changes nothing (intake ignores repeats)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prospectflow import ops
from prospectflow.bus import Bus
from shared import ids, topics
from shared.contract import InquiryReceived

PEOPLE = [  # name, board, hours ago, headline, message
    ("Lee Park", "acme-board", 70, "Go and Python engineer", "I'd love to hear more about this role."),
    ("Sam Rivera", "jobs-weekly", 52, "Backend developer, Kafka and PostgreSQL", "Is the position open to remote work?"),
    ("Alex Kim", "acme-board", 30, "Site reliability engineer", "I have run Kafka in production for four years."),
    ("Jo Chen", "jobs-weekly", 26, "Student, looking for a first job", "Do you also hire juniors?"),
    ("Maria Lopez", "acme-board", 20, "Senior Python developer", "Happy to share my portfolio."),
    ("Noah Schmidt", "jobs-weekly", 9, "Data engineer", "When would the role start?"),
    ("Priya Nair", "acme-board", 5, "Platform engineer, Kubernetes", "Looking forward to hearing from you."),
    ("Tom Becker", "jobs-weekly", 2, "Frontend developer", "Is there a frontend part to this job?"),
]
DESIGNERS = [
    ("Emma Rossi", "acme-board", 40, "Product designer", "I attached my portfolio."),
    ("Kenji Sato", "jobs-weekly", 12, "UX researcher", "Could we talk this week?"),
]


def jobs(recruiter_id: str, email_domain: str) -> list[dict[str, object]]:
    recruiter = {"recruiter_id": recruiter_id, "name": "Dana Smith", "email": f"{recruiter_id}@{email_domain}",
                 "timezone": "Europe/Berlin", "reminder_hour": 8}
    return [
        {"job_id": f"{recruiter_id}-backend", "title": "Backend Engineer", "company": "Acme", "location": "Berlin",
         "apply_url": "https://acme.example/jobs/42/apply", "interview_url": "https://acme.example/book/42",
         "recruiter": recruiter},
        {"job_id": f"{recruiter_id}-designer", "title": "Product Designer", "company": "Acme", "location": "Remote",
         "apply_url": "https://acme.example/jobs/43/apply", "recruiter": recruiter},
    ]


async def publish_sample(bus: Bus, recruiter_id: str, email_domain: str) -> tuple[int, int]:
    opened = jobs(recruiter_id, email_domain)
    job_topic, inquiry_topic = await bus.require(topics.JOBS, topics.INQUIRIES)
    job_events = [ops.envelope("job.opened", job, event_id=ids.derive("sample-job", str(job["job_id"]))) for job in opened]
    await bus.publish_many(job_topic, [(str(e["data"]["job_id"]), e, None) for e in job_events])
    now = datetime.now(timezone.utc)
    messages = []
    for job, people in ((opened[0], PEOPLE), (opened[1], DESIGNERS)):
        for name, board, hours, headline, message in people:
            email = f"{name.lower().replace(' ', '.')}@{email_domain}"
            data = InquiryReceived.model_validate({
                "job_id": job["job_id"], "board": board, "board_inquiry_id": ids.derive("sample", recruiter_id, email)[:12],
                "prospect": {"name": name, "email": email, "location": "Berlin", "headline": headline},
                "message": message, "inquired_at": (now - timedelta(hours=hours)).isoformat()})
            event = ops.envelope("inquiry.received", data, source=f"jobboard/{board}",
                                 event_id=ids.derive("sample-inquiry", recruiter_id, str(job["job_id"]), email))
            messages.append((email, event, None))
    await bus.publish_many(inquiry_topic, messages)
    return len(job_events), len(messages)
