"""Search text for customers: Chinese names are found by characters, full pinyin and
pinyin initials (``zhsm`` or ``zhangsan`` finds 张三木)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
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


# search_text's windows: runs of non-ASCII text by two characters (Chinese words), runs
# of digits and of Latin letters by four (numbers, pinyin, Latin names)
_WINDOW_RUNS = (("search_bigrams", re.compile(r"[^\x00-\x7f]{2,}"), 2),
                ("search_digit_grams", re.compile(r"[0-9]{4,}"), 4),
                ("search_letter_grams", re.compile(r"[a-z]{4,}"), 4))


def search_windows(text: str) -> dict[str, list[str]]:
    """The windows of a search text the search indexes look up (PostgreSQL), by column:
    every two-character window of each run of non-ASCII characters, and every
    four-character window of each run of ASCII digits and of lower-case Latin letters;
    distinct, sorted. A term found in the text has all its windows there, so a lookup of
    the term's windows finds every match (and some near misses, tested after).

    Made here, once per write, rather than by SQL functions in generated columns: those
    cost PostgreSQL 10-21 µs per row each, a tenth of an import's time in the database."""
    return {column: sorted({run[i:i + size] for run in pattern.findall(text)
                            for i in range(len(run) - size + 1)})
            for column, pattern, size in _WINDOW_RUNS}


def search_columns(names: Iterable[str], others: Iterable[str]) -> dict[str, object]:
    """A customer's search columns: ``search_text`` (``search_document``) and its
    windows (``search_windows``). Every write of a customer's searchable fields sets
    them together."""
    text = search_document(names, others)
    return {"search_text": text, **search_windows(text)}


# A trigram in at least this share of customers is left out of a search's index lookup
# (see ``index_fragment``); the share a list must reach before leaving it out pays.
FREQUENT_TRIGRAM_SHARE = 0.10
# ... and the fragment looked up instead must itself be this rare, or the planner may
# rather walk the customers by date and test each one
RARE_FRAGMENT_SHARE = 0.01


def index_fragment(term: str, share: Callable[[str], float]) -> str | None:
    """The part of ``term`` to look up in the trigram index instead of all of it, or None.

    The trigram index intersects the posting lists of every trigram of the term, and a
    trigram found in most customers has a list of most customers: every company's pinyin
    ends in ``youxiangongsi``, so ``ong`` is in 70% of them, and ``haitong`` spent 3.7 of
    its 4.4 ms in the index on that list. The longest run of the term's trigrams that are
    all rarer than ``FREQUENT_TRIGRAM_SHARE`` (``haiton``) finds the same candidates in a
    quarter of the time; the whole term is then tested on each candidate.

    ``share(text)`` estimates the share of customers whose search text contains
    ``text``. Only letters and digits make trigrams in the index: a window with anything
    else is neither left out nor looked up. None when no trigram is frequent, when every
    one is, or when the fragment would not be rare itself.
    """
    windows = [term[i:i + 3] for i in range(len(term) - 2)]
    frequent = [w.isalnum() and share(w) >= FREQUENT_TRIGRAM_SHARE for w in windows]
    if not any(frequent):
        return None
    kept = [w.isalnum() and not f for w, f in zip(windows, frequent, strict=True)]
    best: tuple[int, int] | None = None  # (first, last) window of the longest kept run
    first: int | None = None
    for i, keep in enumerate([*kept, False]):
        if keep and first is None:
            first = i
        elif not keep and first is not None:
            if best is None or i - 1 - first > best[1] - best[0]:
                best = (first, i - 1)
            first = None
    if best is None:
        return None
    fragment = term[best[0]:best[1] + 3]
    return fragment if share(fragment) < RARE_FRAGMENT_SHARE else None


# a term of at least this many Latin letters is looked up by its four-letter windows
LETTER_WINDOW = 4
# a window in at least this share of customers is not looked up if another will do
FREQUENT_WINDOW_SHARE = 0.02


def is_letter_term(term: str) -> bool:
    """At least four Latin letters and nothing else: found by its letter windows."""
    return len(term) >= LETTER_WINDOW and term.isascii() and term.isalpha()


def letter_lookup_windows(term: str, share: Callable[[str], float]) -> list[str]:
    """The (one or two) four-letter windows of a letter term (``is_letter_term``) to look
    up in ``search_letter_grams``: its first and its last, which together cover a term of
    up to eight letters, so the customers having both are about the term's matches
    (``hait`` and ``tong``: 725 for ``haitong``'s 700, where the overlapping ``aito`` and
    ``iton`` had 1,258). An end in ``FREQUENT_WINDOW_SHARE`` or more of the customers
    (``tong`` is in 4%) would add a long posting list to the lookup: the rarest other
    window stands in for it. ``share(text)`` estimates the share of customers whose
    search text contains ``text``."""
    windows = [term[i:i + LETTER_WINDOW] for i in range(len(term) - LETTER_WINDOW + 1)]
    chosen = [windows[0], windows[-1]]
    others = sorted((w for w in dict.fromkeys(windows) if w not in chosen), key=share)
    for k, window in enumerate(chosen):
        if others and share(window) >= FREQUENT_WINDOW_SHARE:
            chosen[k] = others.pop(0)
    return sorted(set(chosen))
