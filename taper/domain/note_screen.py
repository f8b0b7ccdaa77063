"""Screen a patient's free text for red-flag meaning, in English and Spanish.

Rule-based, no model download: a blank spaCy tokenizer, medspaCy's ``TargetMatcher`` for the
phrases and medspaCy's ``ConText`` for what surrounds them (negation, hypotheticals, other
people, time). The phrases and context rules are data, in medspaCy's own JSON rule formats,
under ``taper/data/red_flag_phrases/``; a clinic can add a file of its own in the same format
(``extra_rules``). The pipeline is built once per process for each extra-rules file and reused.

What counts: a red-flag phrase the patient says happened to them, now or in the past.
What does not: negated ("no fits since Monday"), hypothetical or asked about ("what if I have
a seizure", "the nurse asked if I'd thought of hurting myself"), about someone else ("my
brother had seizures"), long ago ("as a child"), and figures of speech ("fit as a fiddle").
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taper.domain.red_flags import RED_FLAGS

RED_FLAG_KEYS: tuple[str, ...] = tuple(flag.key for flag in RED_FLAGS)
# A target of this category matches a figure of speech ("threw a fit"); it never counts, and
# because medspaCy keeps the longest of overlapping matches it hides the red-flag phrase in it.
FIGURE_OF_SPEECH = "FIGURE_OF_SPEECH"

# ConText categories. The first four exclude a match; PAST marks it as in the past.
NEGATED = "NEGATED_EXISTENCE"
HYPOTHETICAL = "HYPOTHETICAL"
OTHER_PERSON = "OTHER_PERSON"
LONG_AGO = "LONG_AGO"
PAST = "PAST"
# AFFIRMED ("...; I have") overrides HYPOTHETICAL (a question someone asked).
AFFIRMED = "AFFIRMED"
# These modify nothing themselves; they only end the scope of others (see _TERMINATING).
PRESENT = "PRESENT"
SELF = "SELF"
CONJUNCTION = "CONJUNCTION"
TERMINATE = "TERMINATE"
CONTEXT_CATEGORIES = frozenset(
    {
        NEGATED,
        HYPOTHETICAL,
        OTHER_PERSON,
        LONG_AGO,
        PAST,
        AFFIRMED,
        PRESENT,
        SELF,
        CONJUNCTION,
        TERMINATE,
    }
)
_EXCLUDING = frozenset({NEGATED, HYPOTHETICAL, OTHER_PERSON, LONG_AGO})
# "my brother had a fit and I ..." : a first-person word ends "my brother"; "now" ends
# "yesterday"; "and" ends a negation ("I didn't sleep and had a fit").
# A question or a fear ends it too: "the doctor asked about chest pain" is about the patient.
_TERMINATING = {OTHER_PERSON: [SELF, HYPOTHETICAL], PAST: [PRESENT], NEGATED: [CONJUNCTION]}
_TERMINATORS = frozenset({SELF, PRESENT, CONJUNCTION, TERMINATE})

PHRASES_DIR = Path(__file__).resolve().parent.parent / "data" / "red_flag_phrases"
_RULE_KEYS = frozenset(
    {"target_rules", "context_rules", "spelling_variants", "fuzzy_words", "clause_starts"}
)
# A negation before a comma (or semicolon, dash) does not reach past it when the next word
# starts a clause ("I did not sleep, had a seizure"); before a list it does ("no fits, chest
# pain or fainting"). The words that start a clause are data (clause_starts).
_CLAUSE_BREAKS = frozenset({",", ";", "-", "–", "—"})
# Number words for phrases that compare two amounts ("took four instead of two").
_EN_NUMBERS = "one two three four five six seven eight nine ten"
_ES_NUMBERS = "uno dos tres cuatro cinco seis siete ocho nueve diez"
_NUMBER_WORDS = {"half": 0.5, "medio": 0.5, "media": 0.5, "una": 1.0} | {
    word: float(n)
    for words in (_EN_NUMBERS, _ES_NUMBERS)
    for n, word in enumerate(words.split(), 1)
}
# Lines are screened separately (a line break ends every context), and a very long line in
# pieces of about this many characters, cut at a sentence end where there is one, so the
# cost grows with the length of the note and not with its square.
_CHUNK = 300
# ConText costs up to a few milliseconds a piece with red-flag phrases in it. A note with more
# such pieces than this (a huge paste) has its later phrases counted without their context, so
# the cost stays bounded and the screen errs towards asking the patient.
_CONTEXT_BUDGET = 100
_SENTENCE_END = re.compile(r"[.!?]\s")
_GROUP = "medspacy_spans"  # medspaCy's default span group, where the phrases go
_MAX_PHRASES = 2000  # a pattern is turned into at most this many phrases (see _expand)


@dataclass(frozen=True)
class Hit:
    """A red flag the patient describes."""

    key: str  # a red-flag key (RED_FLAG_KEYS)
    phrase: str  # the words matched, as the patient wrote them
    past: bool  # True when the text places it in the past ("last night", "esta mañana")


def keys(hits: Iterable[Hit]) -> tuple[str, ...]:
    """The red-flag keys of ``hits``, in order."""
    return tuple(hit.key for hit in hits)


def screen(text: str, extra_rules: str | Path | None = None) -> tuple[Hit, ...]:
    """Red flags the patient describes in ``text``: hits in text order, at most one per key
    (the first that counts), ``()`` for empty text. ``extra_rules`` is the path of a clinic's
    own rule file, merged with ours."""
    if not text or text.isspace():
        return ()
    # Lone surrogates (from a broken form post) cannot be encoded, and spaCy encodes.
    text = text.encode("utf-8", "replace").decode("utf-8")
    pipeline = load(extra_rules)
    hits: dict[str, Hit] = {}
    budget = _CONTEXT_BUDGET
    for chunk in _chunks(text):
        doc = pipeline.doc(chunk, skip=hits.keys(), context=budget > 0)
        if doc._.context_graph is not None:
            budget -= 1
        for hit in pipeline.hits(doc, skip=hits.keys()):
            hits.setdefault(hit.key, hit)
    return tuple(hits.values())


def load(extra_rules: str | Path | None = None) -> _Pipeline:
    """The pipeline for ``extra_rules`` (built on first use, then reused). Call it at start-up
    to pay the load time (2-3 s: importing spaCy and medspaCy, building the rules) there, and
    to find a broken rule file (``RuleFileError``) before a patient's note does."""
    return _pipeline(str(Path(extra_rules).resolve()) if extra_rules else None)


class RuleFileError(ValueError):
    """A rule file that cannot be read, named in the message."""


def _chunks(text: str) -> Iterator[str]:
    for line in text.splitlines():
        line = " ".join(line.split())  # runs of spaces would split phrases into tokens
        while len(line) > _CHUNK:
            cut = _cut(line)
            yield line[:cut]
            line = line[cut:].lstrip()
        if line:
            yield line


def _cut(line: str) -> int:
    ends = [m.end() for m in _SENTENCE_END.finditer(line, _CHUNK // 2, _CHUNK)]
    if ends:
        return ends[-1]
    space = line.rfind(" ", _CHUNK // 2, _CHUNK)
    return space + 1 if space > 0 else _CHUNK


# --- rules -----------------------------------------------------------------------------------


def _strip_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    # Mn: combining accents; Cf: invisible format characters such as a zero-width space
    return "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf"))


_TARGET_KEYS = frozenset({"literal", "category", "pattern", "metadata", "attributes"})
_CONTEXT_KEYS = _TARGET_KEYS - {"attributes"} | {
    "direction",
    "allowed_types",
    "excluded_types",
    "max_scope",
    "max_targets",
}
_DIRECTIONS = frozenset({"FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"})


@dataclass
class _Rules:
    """Every rule file merged; each rule is kept with the file it came from."""

    targets: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    context: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    spelling: dict[str, str] = field(default_factory=dict)
    fuzzy: list[str] = field(default_factory=list)
    clause_starts: set[str] = field(default_factory=set)

    def read(self, path: Path) -> None:
        """Add one rule file's rules (a RuleFileError when it cannot be used)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RuleFileError(f"{path}: {error}") from error
        # Keys starting with "_" are comments.
        names = {key for key in data if not key.startswith("_")} if isinstance(data, dict) else {}
        if not names or not names <= _RULE_KEYS:
            raise RuleFileError(f"{path}: expected an object with some of {sorted(_RULE_KEYS)}")
        for rule in _list(path, data, "target_rules"):
            _check(path, rule, _TARGET_KEYS, (*RED_FLAG_KEYS, FIGURE_OF_SPEECH))
            self.targets.append((path, rule))
        for rule in _list(path, data, "context_rules"):
            _check(path, rule, _CONTEXT_KEYS, CONTEXT_CATEGORIES, upper=True)
            if str(rule.get("direction", "BIDIRECTIONAL")).upper() not in _DIRECTIONS:
                raise RuleFileError(f"{path}: {rule!r}: direction is one of {sorted(_DIRECTIONS)}")
            self.context.append((path, rule))
        spelling = data.get("spelling_variants", {})
        fuzzy = _list(path, data, "fuzzy_words")
        clause_starts = _list(path, data, "clause_starts")
        if not isinstance(spelling, dict) or not all(
            isinstance(word, str) and word
            for word in [*spelling, *spelling.values(), *fuzzy, *clause_starts]
        ):
            message = (
                "spelling_variants maps words to words; fuzzy_words and clause_starts are lists "
                "of words"
            )
            raise RuleFileError(f"{path}: {message}")
        for wrong, right in spelling.items():
            self.spelling[_strip_accents(wrong.lower())] = _strip_accents(right.lower())
        self.fuzzy += [_strip_accents(word.lower()) for word in fuzzy]
        self.clause_starts.update(_strip_accents(word.lower()) for word in clause_starts)


def _list(path: Path, data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise RuleFileError(f"{path}: {key} is a list")
    return value


def _check(
    path: Path, rule: Any, allowed: frozenset[str], categories: Collection[str], upper=False
) -> None:
    if not isinstance(rule, dict) or not isinstance(rule.get("literal"), str):
        raise RuleFileError(f"{path}: {rule!r}: a rule is an object with a literal")
    if not set(rule) <= allowed:
        raise RuleFileError(f"{path}: {rule!r}: unknown keys {sorted(set(rule) - allowed)}")
    category = rule.get("category")
    if not isinstance(category, str) or (category.upper() if upper else category) not in categories:
        raise RuleFileError(f"{path}: {rule!r}: unknown category {category!r}")


def _read_rules(extra: str | None) -> _Rules:
    rules = _Rules()
    for path in sorted(PHRASES_DIR.glob("*.json")):
        rules.read(path)
    if extra:
        rules.read(Path(extra))
    return rules


class _Normalizer:
    """Sets each token's NORM, which every rule matches on: lower case without accents
    ("convulsión" and "convulsion" alike), known misspellings mapped to the right word
    ("siezure"), and near misses of a few long words too ("hallucinateing")."""

    def __init__(self, spelling: dict[str, str], fuzzy: Iterable[str], known: set[str]):
        from spacy.matcher.levenshtein import levenshtein

        self._levenshtein = levenshtein
        self._spelling = spelling
        self._known = known | set(fuzzy)
        self._fuzzy: dict[str, list[str]] = {}
        for word in sorted(set(fuzzy)):
            self._fuzzy.setdefault(word[0], []).append(word)
        self.word = functools.lru_cache(maxsize=20_000)(self._word)

    def _word(self, norm: str) -> str:
        norm = _strip_accents(norm)
        if norm in self._spelling:
            return self._spelling[norm]
        if norm in self._known or len(norm) < 6:
            return norm
        for word in self._fuzzy.get(norm[0], ()):
            if self._near(norm, word):
                return word
        return norm

    def _near(self, typed: str, word: str) -> bool:
        # One edit, or one swap of neighbours ("siezure", "convulsoin"); two edits only in
        # words of 13 letters or more ("halucinatoins"). Checked against English and Spanish
        # word lists: two edits in shorter words turn "confusing" into "convulsing".
        if abs(len(typed) - len(word)) > 2:
            return False
        allowed = 2 if len(word) >= 13 else 1
        if self._levenshtein(typed, word, allowed) <= allowed:
            return True
        if len(typed) != len(word):
            return False
        diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and typed[diff[0]] == word[diff[1]]

    def __call__(self, doc):
        for token in doc:
            norm = self.word(token.norm_)
            if norm != token.norm_:
                token.norm_ = norm
        return doc


def _normalize_pattern(pattern: Any) -> Any:
    """Token patterns match NORM: write their NORM values as the normalizer does."""
    if not isinstance(pattern, list):
        return pattern
    out = []
    for token in pattern:
        token = dict(token)
        value = token.get("NORM")
        if isinstance(value, str):
            token["NORM"] = _strip_accents(value.lower())
        elif isinstance(value, dict):
            token["NORM"] = {
                op: [_strip_accents(v.lower()) for v in vs] if isinstance(vs, list) else vs
                for op, vs in value.items()
            }
        out.append(token)
    return out


def _expand(
    rule: dict[str, Any], fits: Callable[[str], bool] = lambda phrase: True
) -> Iterator[dict[str, Any]]:
    """Speed, same matches: spaCy checks phrases and plain values in compiled code, but calls
    Python at every word of a note for each set of words ("IN") or optional word a pattern
    starts with, and checks every pattern at every word. So a pattern of words, sets of words
    and optional words becomes its phrases (if each one ``fits``: reads back as the same
    words), an optional first word becomes two patterns, and a set of first words one pattern
    per word (together about ten times faster)."""
    pattern = rule.get("pattern")
    if not isinstance(pattern, list) or not pattern:
        yield rule
        return
    choices = [_choices(token) for token in pattern]
    if all(choices) and math.prod(len(c) for c in choices) <= _MAX_PHRASES:
        phrases = dict.fromkeys(
            " ".join(filter(None, words)) for words in itertools.product(*choices)
        )
        phrases.pop("", None)
        if all(map(fits, phrases)):
            for phrase in phrases:
                yield {**rule, "pattern": None, "literal": phrase}
            return
    first, rest = pattern[0], pattern[1:]
    if first.get("OP") == "?" and rest:
        yield from _expand({**rule, "pattern": rest}, fits)
        yield from _expand({**rule, "pattern": [_without(first, "OP"), *rest]}, fits)
        return
    value = first.get("NORM") if set(first) == {"NORM"} else None
    if isinstance(value, dict) and set(value) == {"IN"}:
        for word in dict.fromkeys(value["IN"]):
            yield {**rule, "pattern": [{"NORM": word}, *rest]}
        return
    yield rule


def _without(token: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in token.items() if k != key}


def _choices(token: dict[str, Any]) -> list[str]:
    """The words a pattern token matches, if it matches NORM against words only; with "" for
    an optional word, which may be absent."""
    if set(token) - {"OP"} != {"NORM"} or token.get("OP", "?") != "?":
        return []
    value = token["NORM"]
    words: list[str] = []
    if isinstance(value, str):
        words = [value]
    elif isinstance(value, dict) and set(value) == {"IN"}:
        words = list(dict.fromkeys(value["IN"]))
    return words + [""] if words and "OP" in token else words


def _pattern_words(pattern: Any) -> Iterator[str]:
    if isinstance(pattern, list):
        for token in pattern:
            value = token.get("NORM")
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                for values in value.values():
                    if isinstance(values, list):
                        yield from (v for v in values if isinstance(v, str))


# --- the pipeline ----------------------------------------------------------------------------


class _Pipeline:
    """The spaCy pipeline: NORM set by _Normalizer, medspaCy's target matcher, spaCy's
    rule-based sentencizer and medspaCy's ConText, called one by one so that ConText (the
    costly part) runs only when a phrase matched."""

    def __init__(self, rules: _Rules):
        with warnings.catch_warnings():
            # medspaCy switches all warnings off when imported (catch_warnings keeps that to
            # this block), and spaCy's import trips Click deprecation warnings that are not ours.
            warnings.simplefilter("ignore")
            import medspacy  # noqa: F401  (registers the medspaCy pipeline factories)
            import spacy
            from medspacy.context import ConTextRule
            from medspacy.target_matcher import TargetRule
            from spacy.attrs import LIKE_NUM
            from spacy.lang.en.lex_attrs import like_num as en_like_num
            from spacy.lang.es.lex_attrs import like_num as es_like_num
        try:
            from loguru import logger

            logger.disable("PyRuSH")  # imported by medspaCy; it logs every sentence it splits
        except ImportError:  # pragma: no cover
            pass

        self.nlp = spacy.blank("en")  # English tokenizer exceptions; Spanish needs none
        # LIKE_NUM knows Spanish number words too ("tomé cuatro en vez de dos"); set before
        # any word of ours is read, since spaCy keeps a word's attributes once it has seen it.
        self.nlp.vocab.lex_attr_getters[LIKE_NUM] = lambda text: (
            en_like_num(text) or es_like_num(text)
        )
        tokenizer = self.nlp.tokenizer

        known: set[str] = set(rules.spelling.values())
        for _, rule in rules.targets + rules.context:
            known.update(_strip_accents(w) for w in _pattern_words(rule.get("pattern")))
            if rule.get("pattern") is None:
                known.update(_strip_accents(t.norm_) for t in tokenizer(rule["literal"]))
        self.normalize = _Normalizer(rules.spelling, rules.fuzzy, known)
        self.clause_starts = frozenset(self.normalize.word(word) for word in rules.clause_starts)

        def prepared(rule: dict[str, Any]) -> dict[str, Any]:
            rule = dict(rule)
            if rule.get("pattern") is None:
                # Phrases are matched on NORM too: write each one as the normalizer would.
                words = [self.normalize.word(t.norm_) for t in tokenizer(rule["literal"])]
                rule["literal"] = " ".join(words)
            else:
                rule["pattern"] = _normalize_pattern(rule["pattern"])
            terminator = str(rule.get("direction", "")).upper() == TERMINATE or (
                str(rule["category"]).upper() in _TERMINATORS
            )
            if terminator and rule.get("max_scope") is None:
                # medspaCy 1.3.1 sees two scopes overlap only when one starts or ends inside the
                # other, so a terminator scoped to the whole sentence never cuts a narrower scope
                # inside it ("no" limited to 6 words): give terminators a one-word window.
                rule["max_scope"] = 1
            return rule

        @functools.cache
        def fits_word(word: str) -> bool:
            return [t.norm_ for t in tokenizer(word)] == [word]

        def fits(phrase: str) -> bool:
            # A phrase matches on the NORM of its words, so each must read back as itself (spaCy
            # splits at spaces first, so a phrase reads back as its words do one by one).
            return all(map(fits_word, phrase.split(" ")))

        def add(component, kind, source: list[tuple[Path, dict[str, Any]]]) -> None:
            # medspaCy runs the whole pipeline on each phrase it adds; tokenizing is all it needs.
            with self.nlp.select_pipes(disable=self.nlp.pipe_names):
                for path, rule in source:
                    try:
                        built = [kind.from_dict(r) for r in _expand(prepared(rule), fits)]
                        for item in built:
                            if kind is ConTextRule and item.category.upper() == NEGATED:
                                item.on_modifies = self._same_clause  # see _same_clause
                        component.add(built)
                    except (ValueError, TypeError, KeyError) as error:  # spaCy: a bad pattern
                        raise RuleFileError(f"{path}: {rule!r}: {error}") from error

        self.targets = self.nlp.add_pipe(
            "medspacy_target_matcher",
            # A span group, not doc.ents: medspaCy rebuilds doc.ents for every phrase added.
            config={"rules": None, "phrase_matcher_attr": "NORM", "result_type": "group"},
        )
        add(self.targets, TargetRule, rules.targets)
        self.sentences = self.nlp.add_pipe("sentencizer")
        self.context = self.nlp.add_pipe(
            "medspacy_context",
            config={
                "rules": None,
                "phrase_matcher_attr": "NORM",
                "span_attrs": None,
                "prune_on_target_overlap": True,
                "input_span_type": "group",
            },
        )
        # Set here, not in the config: spaCy's config turns the lists into iterators that the
        # first rule of each category would use up.
        self.context.terminating_types = {k: tuple(v) for k, v in _TERMINATING.items()}
        add(self.context, ConTextRule, rules.context)

    def _same_clause(self, target, modifier, _between) -> bool:
        """medspaCy's ``on_modifies`` for negations: a negation before the phrase reaches it
        unless a comma (semicolon, dash) followed by a word that starts a clause comes between
        ("I did not sleep, had a seizure"); a list goes on ("no fits, chest pain or fainting")."""
        doc = target.doc
        for i in range(modifier.end, target.start):
            if doc[i].norm_ in _CLAUSE_BREAKS and doc[i + 1].norm_ in self.clause_starts:
                return False
        return True

    def doc(self, text: str, skip: Collection[str] = (), context: bool = True):
        """The processed doc (also for debugging rules). ConText, the costly part, runs only
        if a phrase matched whose key is not in ``skip``, and not at all without ``context``."""
        # A full stop at the end lets rules say "at the end of a clause" ("...; I haven't").
        doc = self.targets(self.normalize(self.nlp.make_doc(text + " .")))
        wanted = any(s.label_ not in skip and s.label_ != FIGURE_OF_SPEECH for s in _spans(doc))
        if wanted and context:
            doc = self.context(self.sentences(doc))
        return doc

    def hits(self, doc, skip: Collection[str] = ()) -> Iterator[Hit]:
        """The hits in a doc from ``doc()``, none for a key in ``skip``. Where ConText did not
        run, every phrase counts."""
        for span in _spans(doc):
            if span.label_ == FIGURE_OF_SPEECH or span.label_ in skip:
                continue
            categories = {modifier.category for modifier in span._.modifiers}
            meta = span._.target_rule.metadata or {}
            if meta.get("self"):  # "me desmayé" names the patient whoever else is mentioned
                categories.discard(OTHER_PERSON)
            if AFFIRMED in categories:
                categories.discard(HYPOTHETICAL)
            if categories & _EXCLUDING:
                continue
            if meta.get("first_number_larger") and not _first_number_larger(span):
                continue  # "took 1 instead of 2" is less, not more
            yield Hit(span.label_, span.text, bool(meta.get("past")) or PAST in categories)


def _first_number_larger(span) -> bool:
    """Whether the first number in ``span`` is larger than the last ("4 instead of 2")."""
    numbers = [n for n in map(_number, span) if n is not None]
    return len(numbers) >= 2 and numbers[0] > numbers[-1]


def _number(token) -> float | None:
    if token.norm_ in _NUMBER_WORDS:
        return _NUMBER_WORDS[token.norm_]
    if not token.like_num:
        return None
    text = token.norm_.replace(",", ".")
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            return float(top) / float(bottom)
        return float(text)
    except (ValueError, ZeroDivisionError):
        return None


def _spans(doc):
    """The phrases the target matcher found, in text order."""
    return doc.spans[_GROUP] if _GROUP in doc.spans else ()


@functools.cache
def _pipeline(extra: str | None) -> _Pipeline:
    return _Pipeline(_read_rules(extra))
