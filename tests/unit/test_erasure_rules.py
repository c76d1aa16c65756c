"""#26 S8: what an erased contact's personal fields become (plain rules, no I/O)."""

from __future__ import annotations

from services.customer.domain import erasure
from services.customer.events import ContactSnapshot


def test_every_personal_field_of_the_contact_event_is_cleared() -> None:
    fields = erasure.erased_contact_fields()
    personal = {"name", "phones", "emails", "birthday", "wechat_openid"}
    assert personal <= set(ContactSnapshot.model_fields) and personal <= set(fields)
    assert fields["name"] == erasure.ERASED_NAME and erasure.is_erased(fields["name"])
    assert fields["phones"] == [] and fields["emails"] == []
    assert fields["birthday"] is None and fields["wechat_openid"] is None
    assert fields["notes"] is None and fields["hobbies"] is None and fields["title"] is None


def test_an_erased_person_is_not_written_to() -> None:
    assert erasure.erased_contact_fields()["marketing_opt_out"] is True


def test_a_real_name_is_not_taken_for_an_erased_one() -> None:
    assert not erasure.is_erased("王伟")
