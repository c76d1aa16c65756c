"""Customer domain rules without I/O."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from crm_platform.auth import Caller
from crm_platform.errors import Conflict, Forbidden, ValidationFailed
from pypinyin import Style, lazy_pinyin

from services.customer.domain import customers, ownership, search
from services.customer.domain.identity_keys import (
    identity_keys,
    normalize_company_name,
    normalize_phone,
)
from services.customer.domain.search import pinyin_forms, search_document, whole_phone_number


@pytest.mark.parametrize("a,b", [
    ("ＡＢＣ 科技有限公司", "abc科技"),
    ("ABC Tech Co., Ltd.", "abc tech"),
    ("华为技术（深圳）有限公司", "华为技术(深圳)有限公司"),
    ("深圳 腾讯 计算机系统 有限公司", "深圳腾讯计算机系统"),
    ("Acme Inc.", "ACME"),
])
def test_company_names_that_are_the_same_company(a: str, b: str) -> None:
    assert normalize_company_name(a) == normalize_company_name(b)


def test_different_companies_stay_different() -> None:
    assert normalize_company_name("华为技术") != normalize_company_name("华为终端")
    # a latin suffix must be a word of its own: "Disco" is not "Dis" + "co"
    assert normalize_company_name("Disco") == "disco"


@pytest.mark.parametrize("raw", ["138 0013 8000", "+86-138-0013-8000", "(+86)13800138000",
                                 "１３８００１３８０００"])
def test_phone_formats_normalize_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+8613800138000"


def test_invalid_phone_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        normalize_phone("not a phone")


def test_people_do_not_collide_on_name_but_do_on_phone() -> None:
    a = identity_keys("person", "张三", None, [], [])
    b = identity_keys("person", "张三", None, [], [])
    assert a == set() and b == set()
    assert identity_keys("person", "张三", None, ["13800138000"], []) & identity_keys(
        "company", "其他公司", None, ["+86 138 0013 8000"], [])


def test_company_keys_include_name_and_tax_id() -> None:
    keys = identity_keys("company", "北京测试有限公司", "91110000-MA01", [], ["A@B.cn"])
    assert keys == {"name:北京测试", "tax:91110000MA01", "email:a@b.cn"}


def test_pinyin_full_and_both_initial_styles() -> None:
    full, initials, firsts = pinyin_forms("张三木")
    assert (full, initials, firsts) == ("zhangsanmu", "zhsm", "zsm")
    doc = search_document(["张三木"], ["+8613800138000"])
    for fragment in ("张三", "zhsm", "zhangsan", "zsm", "13800138000"):
        assert fragment in doc


def _phonenumbers_e164(raw: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_mobile_fast_path_agrees_with_phonenumbers() -> None:
    """Every 11-digit number starting with 1, in the ways people type them: the fast
    path must give phonenumbers' answer (carrier prefixes 11xx, 12xx, 179xx included)."""
    rng = random.Random(11)
    for _ in range(5000):
        d = f"1{rng.randrange(10**10):010d}"
        raw = rng.choice([d, f"{d[:3]} {d[3:7]} {d[7:]}", f"{d[:3]}-{d[3:7]}-{d[7:]}",
                          f"+86 {d[:3]}-{d[3:7]}-{d[7:]}", f"+86{d}", f" {d} "])
        try:
            ours: str | None = normalize_phone(raw)
        except ValidationFailed:
            ours = None
        assert ours == _phonenumbers_e164(raw.strip()), raw


def _lazy_pinyin_forms(text: str) -> tuple[str, str, str]:
    """The forms as two whole-text ``lazy_pinyin`` calls give them."""
    syllables = [s for s in lazy_pinyin(text, errors="ignore") if s.strip()]
    initials = lazy_pinyin(text, style=Style.INITIALS, strict=False, errors="ignore")
    firsts = [s[0] for s in syllables]
    shengmu = [i or f for i, f in zip(initials, firsts, strict=False)]
    return "".join(syllables).lower(), "".join(shengmu).lower(), "".join(firsts).lower()


@pytest.mark.parametrize("text", [
    "重庆重工机械有限公司", "长沙银行行长", "女绿律", "呣嗯哦", "ABC Tech Co., Ltd.",
    "华为技术（深圳）有限公司", "单于", "曾经的曾先生", "", "  ", "x中y文 z",
])
def test_word_by_word_pinyin_equals_whole_text_pinyin(text: str) -> None:
    assert pinyin_forms(text) == _lazy_pinyin_forms(text)
    assert pinyin_forms(text) == _lazy_pinyin_forms(text)  # again, from the word cache


def test_claim_rules() -> None:
    ownership.check_claim(None, owned=3, limit=10)
    with pytest.raises(Conflict) as owned:
        ownership.check_claim("u1", owned=0, limit=10)
    assert owned.value.code == "already_owned"
    with pytest.raises(Conflict) as limit:
        ownership.check_claim(None, owned=10, limit=10)
    assert limit.value.code == "claim_limit_reached"


def test_release_by_someone_else_with_own_scope_is_forbidden() -> None:
    rep = Caller(user_id="u2", scope="own")
    with pytest.raises(Forbidden):
        ownership.check_release("u1", rep)
    ownership.check_release("u1", Caller(user_id="m", scope="team", member_ids=["u1"]))


def _staff(id_: str, owned: int = 0, new: bool = False,
           last: datetime | None = None) -> ownership.StaffLoad:
    return ownership.StaffLoad(id_, True, new, owned, last)


def test_assignment_default_is_the_collector() -> None:
    assert ownership.choose_owner("c", None, [], []) == "c"


def test_assignment_by_region_then_round_robin() -> None:
    rules = [ownership.AssignmentRule("region", {"province": "广东", "owner_id": "gd"}, 1),
             ownership.AssignmentRule("round_robin", {}, 2)]
    now = datetime.now(UTC)
    staff = [_staff("gd"), _staff("n1", new=True, last=now),
             _staff("n2", new=True, last=now - timedelta(days=1))]
    assert ownership.choose_owner("c", "广东", rules, staff) == "gd"
    assert ownership.choose_owner("c", "北京", rules, staff) == "n2"


def test_round_robin_limited_to_a_team() -> None:
    rule = [ownership.AssignmentRule("round_robin", {"team_id": "t1"})]
    now = datetime.now(UTC)
    staff = [ownership.StaffLoad("never", True, True, 0, None, "t2"),
             ownership.StaffLoad("mine", True, True, 0, now, "t1")]
    assert ownership.choose_owner("c", None, rule, staff) == "mine"
    # nobody of the team is new staff: the next rule, or the collector
    assert ownership.choose_owner("c", None, rule, staff[:1]) == "c"


def test_a_rule_configuration_is_typed_and_unknown_keys_are_refused() -> None:
    from crm_platform.errors import ValidationFailed

    from services.customer.schemas import rule_config

    assert rule_config("round_robin", {}) == {}
    assert rule_config("capacity", {"max": 3}) == {"max": 3}
    for kind, config in (("capacity", {"max": 3, "maxx": 4}), ("region", {"province": "粤"}),
                         ("collector", {"x": 1}), ("round_robin", {"team": "t"})):
        with pytest.raises(ValidationFailed) as refused:
            rule_config(kind, config)
        assert refused.value.code == "invalid_rule"


def test_assignment_by_capacity() -> None:
    rule = [ownership.AssignmentRule("capacity", {"max": 2})]
    assert ownership.choose_owner("c", None, rule, [_staff("c", 1), _staff("x", 0)]) == "c"
    assert ownership.choose_owner("c", None, rule, [_staff("c", 2), _staff("x", 1)]) == "x"
    assert ownership.choose_owner("c", None, rule, [_staff("c", 2), _staff("x", 2)]) is None


def test_pool_return_after_configured_days() -> None:
    now = datetime.now(UTC)
    assert ownership.pool_return_due(now - timedelta(days=30), now, 30)
    assert not ownership.pool_return_due(now - timedelta(days=29), now, 30)


def test_diff_records_only_real_changes() -> None:
    current = {"name": "A", "tags": ["x"], "phones": []}
    changes = customers.flatten_fields({"name": "A", "tags": ["x", "y", " y "]})
    assert customers.diff(current, changes) == {"tags": {"from": ["x"], "to": ["x", "y"]}}


def test_region_object_is_flattened() -> None:
    out = customers.flatten_fields({"region": {"province": "浙江", "city": "杭州"},
                                    "phone": "1", "phones": ["2"]})
    assert out["province"] == "浙江" and out["city"] == "杭州" and out["phones"] == ["1", "2"]


@pytest.mark.parametrize(("typed", "e164"), [
    ("18715595679", "+8618715595679"),
    ("187 1559 5679", "+8618715595679"),
    ("+86-187-1559-5679", "+8618715595679"),
    ("(021) 6888-9999", "+862168889999"),
    ("71559567", None),  # a fragment: substring search
    ("155956", None),
    ("19999999999999999", None),  # digits, but no number
    ("zhangsan", None),
])
def test_whole_phone_number(typed: str, e164: str | None) -> None:
    assert whole_phone_number(typed) == e164


LETTER_SHARES = {"wei": 0.05, "com": 0.6, "163": 0.01,
                 "hait": 0.0022, "aito": 0.0013, "iton": 0.0037, "tong": 0.04,
                 "zhan": 0.05, "hang": 0.06, "angs": 0.001, "ngsa": 0.001, "gsan": 0.002,
                 "sanm": 0.0005, "anmu": 0.0005, "gong": 0.7, "ongs": 0.6, "ngsi": 0.6}


def _windows(run: str) -> list[str]:
    return [run[i:i + 4] for i in range(len(run) - 3)]


@pytest.mark.parametrize(("term", "windows"), [
    ("haitong", ["aito", "hait"]),  # the frequent end "tong" stands aside for "aito"
    ("haiton", ["hait", "iton"]),  # both ends rare: both ends
    ("zhangsanmu", ["anmu", "sanm"]),  # "zhan" is frequent: the rarest other instead
    ("htxn", ["htxn"]),  # one window: the whole term
    ("gongsi", ["ngsi", "ongs"]),  # everything frequent: the rarer ones (gong: 70%)
    ("abcdefgh", ["abcd", "efgh"]),  # nothing known: the two ends
])
def test_lookup_windows(term: str, windows: list[str]) -> None:
    assert search.lookup_windows(_windows(term), lambda t: LETTER_SHARES.get(t, 0.0)) == windows


def test_lookup_windows_are_windows_of_the_run() -> None:
    rng = random.Random(11)
    for _ in range(500):
        term = "".join(rng.choice("haitong") for _ in range(rng.randint(4, 12)))
        windows = search.lookup_windows(_windows(term), lambda t: rng.random())
        assert 1 <= len(windows) <= 2
        assert all(len(w) == 4 and w in term for w in windows)


def _lookup(term: str) -> dict[str, object]:
    found = search.term_lookup(term, lambda t: LETTER_SHARES.get(t, 0.0))
    assert found is not None
    return {**{f"{c} @>": list(w) for c, w in found.contains},
            **{f"{c} &&": len(w) for c, w in found.overlaps}}


def test_term_lookup_by_kind_of_term() -> None:
    assert _lookup("haitong") == {"search_letter_grams @>": ["aito", "hait"]}
    assert _lookup("155956") == {"search_digit_grams @>": ["1559", "5595", "5956"]}
    assert _lookup("海同") == {"search_bigrams @>": ["海同"]}
    assert _lookup("南通海同") == {"search_bigrams @>": ["南通", "海同"]}  # the two ends
    # three letters or digits: the run itself or a window starting or ending with it
    assert _lookup("zsm") == {"search_letter_grams &&": 53}
    assert _lookup("163") == {"search_digit_grams &&": 21}
    # a mixed term by the windows of its longer runs ("zhan" is frequent)
    assert _lookup("zhangwei@163.com") == {"search_letter_grams @>": ["angw", "gwei"]}
    assert _lookup("wei@163.com") == {"search_digit_grams &&": 21}  # the rarest of three
    assert _lookup("海同a") == {"search_bigrams @>": ["海同"]}
    # nothing to look up: tested on the customers in order
    for term in ("张", "hp", "li@qq", "a1b2", ""):
        assert search.term_lookup(term, lambda t: 0.0) is None


def test_every_match_passes_its_lookup() -> None:
    """Whatever the term and the shares: when a search text contains the term, its
    windows (search_windows) satisfy the term's lookup — no match is ever left out."""
    rng = random.Random(5)
    alphabet = "haiton15 科技海同@.-zs"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        start = rng.randrange(len(text))
        term = text[start:start + rng.randint(1, 10)].replace(" ", "")
        if not term or term not in text:
            continue
        lookup = search.term_lookup(term, lambda t: rng.random())
        if lookup is None:
            continue
        stored = {column: set(windows) for column, windows in search.search_windows(text).items()}
        for column, windows in lookup.contains:
            assert set(windows) <= stored[column], (text, term, column)
        for column, windows in lookup.overlaps:
            assert set(windows) & stored[column], (text, term, column)


def test_search_windows_keep_runs_of_three_whole() -> None:
    windows = search.search_windows("杭州云帆 hzyf zsm c20260000001 a@163.com 12 ab")
    assert windows["search_letter_grams"] == ["com", "hzyf", "zsm"]
    assert windows["search_digit_grams"] == [
        "0000", "0001", "0260", "163", "2026", "2600", "6000"]
    assert windows["search_bigrams"] == ["云帆", "州云", "杭州"]


def test_an_import_says_whether_the_valid_rows_were_kept() -> None:
    from services.customer.domain.customers import import_outcome

    assert import_outcome(3, 0, 0) == ("all_created", "all 3 rows were imported")
    outcome, summary = import_outcome(2, 1, 1)
    assert outcome == "valid_rows_created"
    assert summary.startswith("2 of 4 rows were imported and are kept; 1 duplicate, "
                              "1 invalid left out")
    assert import_outcome(0, 2, 0)[0] == "none_created"
    assert import_outcome(0, 0, 0)[0] == "none_created"


def test_normalizing_a_phone_refuses_letters_instead_of_dropping_them() -> None:
    from crm_platform.errors import ValidationFailed

    from services.customer.domain.identity_keys import normalize_phone

    assert normalize_phone("（010）8888-6666") == "+861088886666"
    for typed in ("138 0013 8000x", "+86 10 FLOWERS1"):
        with pytest.raises(ValidationFailed) as refused:
            normalize_phone(typed)
        assert refused.value.code == "invalid_phone"
