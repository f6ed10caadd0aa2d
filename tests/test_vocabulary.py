"""The vocabulary is written the way the rules read it."""
import hashlib
import unicodedata

from retrieval import vocabulary as v
from retrieval.textnorm import LEXICAL_TOKENS_VERSION, fold


def _phrases(value):
    """Every string inside a table: keys, values, nested tuples."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, x in value.items():
            yield from _phrases(k)
            yield from _phrases(x)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for x in value:
            yield from _phrases(x)


ACCENTED = [v.STOPWORDS, v.ALIASES, v.FOLLOWUP_LEADS, v.FOLLOWUP_TAILS, v.ANAPHORA, v.FRAME_WORDS, v.UNITS,
            v.LEVEL_WORDS, v.UNIT_WORDS, v.EVENT_NAMES, v.OFFICES, v.MEMBER_TITLES, v.MONEY_CUES, v.PERSON_WORDS, v.PAGE_PERSON_WORDS, v.COUNT_UNITS,
            v.DANGLING]
FOLDED = [v.WHO_CUES, v.WHEN_CUES, v.WHERE_CUES, v.TASK_CUES, v.HOW_MANY_CUES, v.SHARE_CUES, v.CUE_WORDS,
          v.ASKING_WORDS, v.NEW_TERM_WORDS, v.AMBIGUOUS_UNACCENTED_UNITS, v.UNIT_LOOKALIKES, v.LEVEL_SYLLABLES,
          v.UNIT_SECOND_SYLLABLES, v.NOT_THE_OFFICE, v.BODY_STOP, v.NAME_START, v.TITLE_SYLLABLES,
          v.MONEY_UNITS, v.PEOPLE_COUNTERS, v.COUNTER_STOP, v.NOT_A_COUNT, v.MEASURES, v.ONE_SYLLABLE_COUNTERS,
          v.RELATIVE_YEARS, v.PLACE_NAME_STOP, v.NOT_PLACE_HOST_LABELS, list(v.ABBREVIATIONS.items())]


def test_phrases_are_lower_case_nfc_single_spaced():
    # Spellings are compared with lower-cased NFC syllables: "Hội" or a decomposed
    # tone mark here would never match anything, silently.
    for table in ACCENTED + FOLDED:
        for phrase in _phrases(table):
            assert phrase == unicodedata.normalize("NFC", phrase).lower(), phrase
            assert phrase == " ".join(phrase.split()), phrase


def test_folded_lists_carry_no_accents():
    for table in FOLDED:
        for phrase in _phrases(table):
            assert fold(phrase) == phrase, phrase


def test_organisations_are_alias_groups_in_the_same_order():
    assert list(v.ALIASES)[:len(v.ORGANISATIONS)] == list(v.ORGANISATIONS)
    assert v.GOVERNING <= set(v.ORGANISATIONS)


def test_changing_the_aliases_needs_a_lexical_tokens_version_bump():
    # Alias spellings become index terms: an index built with other aliases must be
    # re-tokenised, which only a new LEXICAL_TOKENS_VERSION triggers.  When this
    # fails, bump the version in retrieval/textnorm.py and update both values here.
    fingerprint = hashlib.sha256(repr(list(v.ALIASES.items())).encode()).hexdigest()[:16]
    assert (LEXICAL_TOKENS_VERSION, fingerprint) == ("4", "ea2b9a48a33f0294")


def test_units_folded_tables_follow_the_one_list_of_units():
    # The folded sets answer.py and query.py read cannot be derived here (the
    # vocabulary imports nothing of the project, and folding is textnorm's), so they
    # are checked against ADMINISTRATIVE_UNITS instead.
    spellings = {*v.UNITS, *v.UNIT_NAMES}
    assert v.UNIT_SECOND_SYLLABLES == {fold(s.split()[1]) for s in spellings if len(s.split()) == 2}
    first = {fold(name.split()[0]) for name in v.UNIT_NAMES}
    assert v.LEVEL_SYLLABLES - {"ap", "thon", "khu"} == first - {"quan"}
    assert v.AMBIGUOUS_UNACCENTED_UNITS <= {fold(name) for name in v.UNIT_NAMES}
    assert {w.split()[-1] for w in v.UNIT_LOOKALIKES} <= v.AMBIGUOUS_UNACCENTED_UNITS


def test_pages_and_questions_know_the_same_units():
    import re

    for unit in v.ADMINISTRATIVE_UNITS:
        for spelling in (unit.name, unit.committee, *unit.short):
            if spelling:
                pattern = v.UNIT_PATTERNS[unit.tier]
                assert re.match(rf"(?:{pattern})Lam Hạ", f"{spelling.title()} Lam Hạ", re.IGNORECASE), spelling
                assert v.UNITS[spelling] == unit.name
    # An abbreviation is written with or without its full stop.
    assert re.match(rf"(?:{v.UNIT_PATTERNS[v.DISTRICT]})Ngọc", "TX. Ngọc", re.IGNORECASE)
    # "xã" inside "thị xã" is no commune.
    assert not re.search(rf"(?:{v.UNIT_PATTERNS[v.COMMUNE]})Ngọc", "thị xã Ngọc", re.IGNORECASE)
