"""Search text for customers: Chinese names are found by characters, full pinyin and
pinyin initials (``zhsm`` or ``zhangsan`` finds 张三木)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers
from pypinyin import Style
from pypinyin.converter import DefaultConverter
from pypinyin.core import Pinyin

_CONVERTER = DefaultConverter()
_PINYIN = Pinyin(_CONVERTER)


@lru_cache(maxsize=50_000)
def _word_pinyin(word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(syllables, initials) of one segmented word, exactly as ``lazy_pinyin`` converts it
    inside a longer text. Names repeat their words (城市, 科技, 有限公司, surnames), so an
    import converts each word once instead of every time: pinyin was a third of the
    import's CPU."""
    syllables = _CONVERTER.convert(word, Style.NORMAL, False, "ignore", strict=True)
    initials = _CONVERTER.convert(word, Style.INITIALS, False, "ignore", strict=False)
    return (tuple(s for item in syllables for s in item),
            tuple(i for item in initials for i in item))


def pinyin_forms(text: str) -> tuple[str, str, str]:
    """(full pinyin, initials, first letters) of the CJK part of ``text``.

    张三木 → ("zhangsanmu", "zhsm", "zsm"): people type either kind of abbreviation.
    Same result as ``lazy_pinyin`` over the whole text (one segmentation, then word by
    word), but each distinct word is converted once per process.
    """
    all_syllables: list[str] = []
    initials: list[str] = []
    for word in _PINYIN.seg(text):
        word_syllables, word_initials = _word_pinyin(word)
        all_syllables.extend(word_syllables)
        initials.extend(word_initials)
    syllables = [s for s in all_syllables if s.strip()]
    firsts = [s[0] for s in syllables]
    shengmu = [i or f for i, f in zip(initials, firsts, strict=False)]
    return "".join(syllables).lower(), "".join(shengmu).lower(), "".join(firsts).lower()


# what may separate the digits of a phone number as people type it
_PHONE_SEPARATORS = str.maketrans("", "", " -().")


def whole_phone_number(q: str) -> str | None:
    """The E.164 form of ``q`` when it is a whole phone number (at least 11 digits, in any
    usual format: ``187 1559 5679``, ``+86-187-1559-5679``, ``021-6888-9999``), else None.

    Such a query finds customers by their recorded number, exactly: a substring match of
    eleven digits in the trigram index was the slowest phone search (3-4 ms of database
    time at a million customers), and did not find ``187-1559-5679`` typed with dashes."""
    text = unicodedata.normalize("NFKC", q).strip().translate(_PHONE_SEPARATORS)
    digits = text[1:] if text.startswith("+") else text
    if len(digits) < 11 or not digits.isdigit():
        return None
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_query(q: str) -> str:
    return unicodedata.normalize("NFKC", q).casefold().strip()


def search_document(names: Iterable[str], others: Iterable[str]) -> str:
    """One lower-case text holding every searchable form, words separated by spaces."""
    parts: list[str] = []
    for name in names:
        if not name:
            continue
        base = normalize_query(name)
        parts.append(base.replace(" ", ""))
        parts.extend(pinyin_forms(name))
    parts.extend(normalize_query(o) for o in others if o)
    seen: dict[str, None] = {}
    for part in parts:
        if part:
            seen.setdefault(part, None)
    return " ".join(seen)
