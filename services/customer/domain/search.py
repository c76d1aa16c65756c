"""Search text for customers: Chinese names are found by characters, full pinyin and
pinyin initials (``zhsm`` or ``zhangsan`` finds 张三木)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
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


# search_text's windows, by column: the characters of a run, the window a run is cut
# into (two for non-ASCII text — Chinese words —, four for digits and Latin letters —
# numbers, pinyin, Latin names), the alphabet of a run one shorter than its window
# (``zsm``, ``ibm``, ``163``), which is kept whole so that a term of three is found
# too, and whether a term is looked up by every window of a run or by its two ends
# (``term_lookup``)
_RUNS = (("search_bigrams", r"[^\x00-\x7f]", 2, "", False),
         ("search_digit_grams", r"[0-9]", 4, string.digits, True),
         ("search_letter_grams", r"[a-z]", 4, string.ascii_lowercase, False))
# runs of a text with windows (a run of three kept whole counts) and all runs of a term
_WINDOW_RUNS = tuple((column, re.compile(f"{chars}{{{size - 1 if alphabet else size},}}"), size)
                     for column, chars, size, alphabet, _ in _RUNS)
_TERM_RUNS = tuple((column, re.compile(f"{chars}+"), size, alphabet, every)
                   for column, chars, size, alphabet, every in _RUNS)


def search_windows(text: str) -> dict[str, list[str]]:
    """The windows of a search text the search indexes look up (PostgreSQL), by column:
    every two-character window of each run of non-ASCII characters, every
    four-character window of each run of ASCII digits and of lower-case Latin letters,
    and each run of exactly three digits or letters whole; distinct, sorted. A term found
    in the text has all its windows there, so a lookup of the term's windows finds every
    match (and some near misses, tested after).

    Made here, once per write, rather than by SQL functions in generated columns: those
    cost PostgreSQL 10-21 µs per row each, a tenth of an import's time in the database."""
    # a run shorter than the window (three) gives one slice: the run itself
    return {column: sorted({run[i:i + size] for run in pattern.findall(text)
                            for i in range(max(1, len(run) - size + 1))})
            for column, pattern, size in _WINDOW_RUNS}


def _windows(run: str, size: int) -> list[str]:
    """The windows of one run of a term, in order (runs as long as the window at least)."""
    return [run[i:i + size] for i in range(len(run) - size + 1)]


def search_columns(names: Iterable[str], others: Iterable[str]) -> dict[str, object]:
    """A customer's search columns: ``search_text`` (``search_document``) and its
    windows (``search_windows``). Every write of a customer's searchable fields sets
    them together."""
    text = search_document(names, others)
    return {"search_text": text, **search_windows(text)}


@dataclass(frozen=True)
class TermLookup:
    """How the window arrays find the customers whose search text may contain a term:
    ``contains`` — per array, windows every match has (``@>``); ``overlaps`` — per
    array, windows of which every match has at least one (``&&``). Every match passes;
    so do a few near misses, which the test of the whole term on each candidate drops."""

    contains: tuple[tuple[str, tuple[str, ...]], ...]
    overlaps: tuple[tuple[str, tuple[str, ...]], ...]


def term_lookup(term: str) -> TermLookup | None:
    """The window lookup of a normalized search ``term`` (no spaces), or None when no run
    of it makes a window (one Chinese character, two letters, ``li@qq``: those terms are
    tested on the customers in order instead).

    - a run of two or more non-ASCII characters: its first and its last two-character
      window;
    - a run of four or more letters: its first and its last four-letter window, which
      together cover a run of up to twice the window's length, so the customers having
      both are about the term's matches (``hait`` and ``tong``: 725 of a million for
      ``haitong``'s 700);
    - a run of four or more digits: all of its four-digit windows (each is in about 0.3%
      of customers, so all of them together are about the term's matches);
    - a run of three letters or digits: where the text has it, the text's run either is
      those three (kept whole by ``search_windows``) or is longer, and then one of its
      four-character windows starts or ends with them: the three and the windows that
      add one letter (digit) before or after them, any of which will do; looked up only
      when no longer run of the term is, and only one such run (digits before letters).
    """
    contains: dict[str, set[str]] = {}
    threes: list[tuple[str, str, str]] = []  # (column, run, alphabet) of runs of three
    for column, pattern, size, alphabet, every in _TERM_RUNS:
        for run in pattern.findall(term):
            if len(run) >= size:
                windows = _windows(run, size)
                contains.setdefault(column, set()).update(
                    windows if every else (windows[0], windows[-1]))
            elif alphabet and len(run) == size - 1:
                threes.append((column, run, alphabet))
    if contains:  # enough: a run of three adds a long list of windows for little
        return TermLookup(tuple((c, tuple(sorted(w))) for c, w in sorted(contains.items())),
                          ())
    if threes:
        column, run, alphabet = threes[0]
        return TermLookup((), ((column, (run, *(run + c for c in alphabet),
                                             *(c + run for c in alphabet))),))
    return None


def name_matches(term: str, name: str, others: Iterable[str] = ()) -> bool:
    """Whether a search term finds this name (or phone, e-mail…) the way customer search
    does: part of the characters, of the full pinyin or of the initials (``zs``,
    ``zhangsan``, ``张三`` all find 张三). The directory tests its candidates with it."""
    wanted = normalize_query(term).replace(" ", "")
    return bool(wanted) and any(wanted in part
                                for part in search_document([name], others).split(" "))
