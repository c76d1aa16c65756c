"""Search text for customers: Chinese names are found by characters, full pinyin and
pinyin initials (``zhsm`` or ``zhangsan`` finds 张三木)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin


def pinyin_forms(text: str) -> tuple[str, str, str]:
    """(full pinyin, initials, first letters) of the CJK part of ``text``.

    张三木 → ("zhangsanmu", "zhsm", "zsm"): people type either kind of abbreviation.
    """
    syllables = [s for s in lazy_pinyin(text, errors="ignore") if s.strip()]
    initials = lazy_pinyin(text, style=Style.INITIALS, strict=False, errors="ignore")
    firsts = [s[0] for s in syllables]
    shengmu = [i or f for i, f in zip(initials, firsts, strict=False)]
    return "".join(syllables).lower(), "".join(shengmu).lower(), "".join(firsts).lower()


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
