"""#26 S8: what an erased contact's and person customer's fields become, which values
are searched for elsewhere and how text is scrubbed of them (plain rules, no I/O)."""

from __future__ import annotations

import pytest
from crm_platform import erasure as scrubbing
from crm_platform.errors import ValidationFailed

from services.customer.domain import erasure
from services.customer.events import ContactSnapshot
from services.customer.schemas import Customer


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


# -- a person customer (#26 S8) ------------------------------------------------------------
def test_only_a_person_is_erased_on_request() -> None:
    erasure.check_erasable("person")
    with pytest.raises(ValidationFailed) as refused:
        erasure.check_erasable("company")
    assert refused.value.code == "not_a_person" and refused.value.status == 422


def test_every_identifying_field_of_a_person_customer_is_cleared() -> None:
    fields = erasure.erased_customer_fields()
    assert set(fields) <= set(Customer.model_fields) | {"district"}
    assert fields["name"] == erasure.ERASED_NAME
    assert fields["phones"] == [] and fields["emails"] == []
    for name in ("tax_id", "address", "website", "legal_representative",
                 "business_scope", "credit_note"):
        assert fields[name] is None, name
    assert fields["attributes"] == {} and fields["tags"] == []
    # what is about the business stays: owner, classification, status
    assert not {"owner_id", "status", "classification", "code", "kind"} & set(fields)


def test_an_erased_customer_is_recognised_so_a_second_erasure_changes_nothing() -> None:
    assert erasure.customer_is_erased(erasure.erased_customer_fields())
    assert not erasure.customer_is_erased({**erasure.erased_customer_fields(),
                                           "phones": ["+8613900000000"]})


def test_the_values_searched_for_elsewhere_are_what_identifies_the_person() -> None:
    values = erasure.identifying_values({
        "name": "王伟", "phones": ["+8613912345678"], "emails": ["wang@example.cn"],
        "tax_id": "310101199001021234", "address": "上海市静安区南京西路 1 号",
        "credit_note": "按时付款", "tags": ["VIP"], "attributes": {"level": "金"}})
    assert set(values) == {"王伟", "+8613912345678", "13912345678", "wang@example.cn",
                           "310101199001021234", "上海市静安区南京西路 1 号"}
    # free text, tags and attributes are cleared on the record but never searched for
    assert "按时付款" not in values and "VIP" not in values
    assert erasure.identifying_values(erasure.erased_customer_fields()) == []


# -- scrubbing text by value (crm_platform.erasure) --------------------------------------
def test_values_too_short_to_identify_anyone_are_not_scrubbed() -> None:
    assert scrubbing.erasable(["王", "Li", "王伟", "Lee", "", None, scrubbing.ERASED]) == \
        ["Lee", "王伟"]


def test_a_value_is_scrubbed_wherever_it_occurs_case_ignored() -> None:
    values = scrubbing.erasable(["Wang@Example.cn", "王伟"])
    assert scrubbing.scrub("回电 王伟, wang@example.CN!", values) == \
        "回电 (erased), (erased)!"
    assert scrubbing.mentions("致王伟", values) and not scrubbing.mentions("致王五", values)


def test_the_longer_of_two_overlapping_values_is_scrubbed_whole() -> None:
    values = scrubbing.erasable(["+8613912345678"])
    assert values == ["+8613912345678", "13912345678"]
    assert scrubbing.scrub("tel:+8613912345678 / 13912345678", values) == \
        "tel:(erased) / (erased)"


def test_a_json_documents_strings_are_scrubbed_and_its_keys_kept() -> None:
    document = {"title": "王伟的合同", "lines": [{"note": "王伟签"}, 3], "王伟": True}
    assert scrubbing.scrub_value(document, ["王伟"]) == {
        "title": "(erased)的合同", "lines": [{"note": "(erased)签"}, 3], "王伟": True}


def test_strings_are_taken_from_values_and_lists() -> None:
    assert scrubbing.strings("a", ["b", None, 3], None, {"k": "c"}) == ["a", "b", "c"]
