"""Issue 25: a person reached by one event under several audiences (Maya, the applicant and the architect)
sees it once, on the page and in the API alike."""

from __future__ import annotations

from services.common.database import Database
from usecases.construction_permit import notifications
from usecases.construction_permit.app import HERE
from usecases.construction_permit.models import Notification
from usecases.construction_permit.settings import ConstructionPermitSettings


def test_an_event_addressed_to_two_of_a_persons_audiences_is_listed_once(db_fields, tmp_path):
    settings = ConstructionPermitSettings(**db_fields, data_dir=tmp_path / "permit", im_client=None)
    db = Database(*settings.resolved_database())
    db.migrate(HERE / "migrations")
    with db.session() as session:
        for event, audience in (("e1", "sub:maya"), ("e1", "vid:5006"), ("e2", "vid:5006"), ("e3", "sub:omar")):
            session.add(Notification(event_id=event, audience=audience, application_id="APP-1", text=event))
    with db.session() as session:
        listed = notifications.for_user(session, ["sub:maya", "vid:5006"])
        assert [n.event_id for n in listed] == ["e2", "e1"]  # newest first, each once
        assert [n.event_id for n in notifications.for_user(session, ["sub:maya", "vid:5006"], limit=1)] == ["e2"]
    db.dispose()
