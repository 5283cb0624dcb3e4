"""The one answer checker: find the final answer a reply commits to, and decide whether it means the reference.

`check_answer(reply, reference)` (and `compare_answers` for an answer already extracted) returns a `Verdict`:
correct, wrong or undecided. The science pipeline asks its judge when undecided; a training reward scores it 0
and counts it; `grade` and `eval` score it 0.

Extraction, in order: every distinct `\\boxed{}` (a multi-part answer keeps all its parts); else the last
"final answer" / "the answer is" / "answer:" line, trimmed to its math, emphasis or first sentence; else a
one-line reply as a whole; else what math-verify's own extraction finds in the reply.

Comparison, in order: the same text; chemical formulas as element counts; option letters when the reference is
one; math-verify (`parse` with its LaTeX and expression configs, then `verify`) where the words around the
numbers agree, case-sensitively, so units and prefixes are never dropped; else a normalised string match that
folds case only on ordinary words. What none of these settles is undecided, never a guess.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig, parse, verify


class Outcome(StrEnum):
    CORRECT = "correct"
    WRONG = "wrong"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Verdict:
    """An answer checked against a reference: the outcome, which rule decided it, and the answer compared."""

    outcome: Outcome
    decided_by: str  # exact_match | formula | choice | math_verify | normalised_match | no_answer | undecided
    answer: str = ""

    @property
    def correct(self) -> bool | None:
        """True, False, or None when undecided."""
        return None if self.outcome is Outcome.UNDECIDED else self.outcome is Outcome.CORRECT


# --- extraction -----------------------------------------------------------------------------------------

MAX_BARE_ANSWER_CHARS = 200
_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_MARKER = re.compile(
    r"(?:\bfinal\s+answer(?:\s+is)?|\bthe\s+(?:correct\s+)?answer\s+is|\banswer\s*[:：])[\s*_:：]*", re.IGNORECASE
)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_EMPHASIS = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_SENTENCE_END = re.compile(r"\.(?:\s+(?=[A-Z<])|\s*$)")
_COPULA = re.compile(r"\s(?:is|are|equals)\s")


def _balanced(text: str, start: int) -> str | None:
    """The text from `start` to the brace closing the one just before it, or None if it never closes."""
    depth = 1
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start:j]
    return None


def boxed_answers(text: str) -> list[str]:
    """Every distinct \\boxed{} content, in order (a restated box counts once)."""
    found = (_balanced(text, m.end()) for m in _BOX_START.finditer(text))
    # A stray $ inside a box ("\\boxed{12 $ and $13}") is the reply's typo, not mathematics.
    contents = (re.sub(r"(?<!\\)\$", "", b).strip() for b in found if b is not None)
    return list(dict.fromkeys(c for c in contents if c))


def _after_marker(reply: str, after: int = 0) -> str | None:
    matches = [m for m in _MARKER.finditer(reply) if m.start() >= after]
    if not matches:
        return None
    rest = reply[matches[-1].end():].strip()
    line = next((ln.strip() for ln in rest.splitlines() if ln.strip()), "")
    sentence = _SENTENCE_END.split(line, maxsplit=1)[0]
    # "The volume of $ABCD$ is 120": the answer is what the sentence says the subject is.
    return _trim_answer_line(_COPULA.split(sentence)[-1])


def _trim_answer_line(line: str) -> str:
    """The answer in a line with prose around it: its math spans, else its emphasis, else its first sentence."""
    sentence = _SENTENCE_END.split(line, maxsplit=1)[0]
    spans = [next(g for g in m.groups() if g is not None).strip() for m in _MATH_SPAN.finditer(sentence)]
    if spans:
        return ", ".join(spans)
    emphasis = _EMPHASIS.search(sentence)
    if emphasis:
        return (emphasis.group(1) or emphasis.group(2)).strip()
    return sentence.strip().strip("*_").strip()


def _math_verify_extraction(reply: str) -> str:
    parsed = _parse(reply)
    return str(parsed[1]) if len(parsed) > 1 else ""


def extract_final_answer(reply: str) -> str:
    """The answer a reply commits to (see the module docstring for the order), or "" for none."""
    # A final-answer line after the last box is the answer; the boxes before it were intermediate results.
    last_box = max((m.start() for m in _BOX_START.finditer(reply)), default=-1)
    marked = _after_marker(reply, after=last_box + 1) if last_box >= 0 else None
    if marked:
        return marked
    boxes = boxed_answers(reply)
    if boxes:
        return ", ".join(boxes)
    marked = _after_marker(reply)
    if marked:
        return marked
    stripped = reply.strip()
    if stripped and "\n" not in stripped and len(stripped) <= MAX_BARE_ANSWER_CHARS:
        return _trim_answer_line(stripped) if _EMPHASIS.fullmatch(stripped) else stripped.rstrip(".").strip()
    return _math_verify_extraction(stripped) if stripped else ""


# --- normalisation --------------------------------------------------------------------------------------

_TEXT_WRAPPER = re.compile(r"\\(?:text|textrm|textbf|textit|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_LATEX_MARKUP = re.compile(r"[\\^_{}]")
_LETTER_RUN = re.compile(r"[A-Za-zµΩ]+")
_PERCENT = re.compile(r"\s*(?:\\%|percent\b|per\s+cent\b)", re.IGNORECASE)
_DEGREES = re.compile(r"\s*(?:°|\bdegrees?\b)")
_E_NOTATION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)\b")
_MATH_WORDS = frozenset(
    "sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh log ln lg exp sqrt pi infty inf".split()
)


def _normalise(text: str) -> str:
    """One spelling for percent, degrees and E notation; the outer $...$ and a final full stop dropped."""
    text = _PERCENT.sub("%", text.strip())
    text = _DEGREES.sub(lambda _: "^\\circ", text)
    text = _E_NOTATION.sub(r"\1\\times 10^{\2}", text)
    text = text.replace("\u2212", "-").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r",\\!\s*", ",", text)  # "11,\\! 111" is LaTeX for 11,111
    text = text.replace("\\$", "").replace("\\!", "")  # an escaped dollar is currency, \\! a negative space
    return text.strip().rstrip(".").strip()


def _plain(text: str) -> str:
    """The answer as text: without its outer math delimiters and LaTeX text wrappers."""
    return _unwrapped(_strip_outer_delimiters(text))


def _strip_outer_delimiters(text: str) -> str:
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
            inner = text[len(left):-len(right)]
            if "$" not in inner:
                return inner.strip()
    return text


def _unwrapped(text: str) -> str:
    """LaTeX text wrappers replaced by their content, thin spaces by spaces, whitespace collapsed."""
    previous = None
    while previous != text:
        previous, text = text, _TEXT_WRAPPER.sub(r"\1", text)
    text = re.sub(r"\\[,;:! ]|~", " ", text)
    return " ".join(text.replace("**", "").split())


_CONNECTIVES = frozenset({"and", "or"})
# A unit follows a number: "5 mN", "3 m/s", "10cm"; a single letter straight after a digit is a variable ("2x"),
# and so is one after a space in LaTeX, where spaces mean nothing ("4 x+3"): there units sit in \text{}.
_UNIT_TAIL = re.compile(r"\d(?:\s+[A-Za-zµΩ]|[A-Za-zµΩ]{2})[A-Za-zµΩ/·^*\-\d]*")
_LATEX_UNIT_TAIL = re.compile(r"\d\s*[A-Za-zµΩ]{2}[A-Za-zµΩ/·^*\-\d]*")
_MATH_CONSTANTS = frozenset({"e", "i", "d"})  # \mathrm{e}, \mathrm{i}, \mathrm{d}x are mathematics


def _bare_letters(text: str) -> str:
    """The text with LaTeX commands and environments blanked and text wrappers unwrapped."""
    return _LATEX_COMMAND.sub(" ", _ENVIRONMENT.sub(" ", _unwrapped(text)))


def _letter_runs(text: str) -> list[str]:
    runs = _LETTER_RUN.findall(text)
    return [r for r in runs if r.lower() not in _MATH_WORDS and r.lower() not in _CONNECTIVES]


def word_tokens(text: str) -> list[str]:
    r"""Units and words, in order: what math-verify drops or reads as a product of symbols. Words are what
    \text{} or \mathrm{} wraps, and runs of three or more letters that are not all capitals (capitals name
    points: AB, MBCN)."""
    wrapped = [r for inner in _TEXT_WRAPPER.findall(text) for r in _letter_runs(inner) if r not in _MATH_CONSTANTS]
    rest = _LATEX_COMMAND.sub(" ", _ENVIRONMENT.sub(" ", _TEXT_WRAPPER.sub(" ", text)))
    tail = _LATEX_UNIT_TAIL if _LATEX_MARKUP.search(rest) else _UNIT_TAIL
    units = [run for found in tail.finditer(rest) for run in _letter_runs(found.group()[1:])]
    words = [run for run in _letter_runs(tail.sub(" ", rest)) if len(run) >= 3 and not run.isupper()]
    return wrapped + units + words


def _symbols(text: str) -> set[str]:
    return set(_letter_runs(_bare_letters(text))) - set(word_tokens(text))


def math_verify_may_decide(answer: str, reference: str) -> bool:
    """math-verify drops units ("5 mN" reads as 5), reads words and formulas as products and folds the case
    of symbols ("X" is "x"). So it decides only where the reference's units and words are the answer's,
    exactly and in order, and no symbol of one answer is the other case of a symbol of the other. A
    reference without words lets math-verify find the number in a reply however the reply is worded."""
    expected = word_tokens(reference)
    if expected and word_tokens(answer) != expected:
        return False
    return not _case_conflict(_symbols(answer), _symbols(reference))


def _case_conflict(ours: set[str], theirs: set[str]) -> bool:
    """A symbol of one answer that only differs in case from a symbol of the other ("X" and "x")."""
    differing = [s.lower() for s in ours ^ theirs]
    shared = {s.lower() for s in ours & theirs}
    return len(set(differing)) < len(differing) or not shared.isdisjoint(differing)


# --- chemical formulas ----------------------------------------------------------------------------------

_ELEMENTS = frozenset(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr "
    "Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir "
    "Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr".split()
)
_FORMULA_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)|(\()|(\))(\d*)")
_SUBSCRIPT = re.compile(r"_\{?(\d+)\}?")


def _formula_text(text: str) -> str:
    return _SUBSCRIPT.sub(r"\1", _unwrapped(text)).replace(" ", "")


def formula_composition(text: str) -> Counter | None:
    """Element counts of a chemical formula ("Ca(OH)_2", "C6H12O6"), or None if `text` is not one."""
    formula = _formula_text(text)
    if not formula or not formula[0].isupper():
        return None
    stack, position, elements = [Counter()], 0, 0
    for match in _FORMULA_TOKEN.finditer(formula):
        if match.start() != position:
            return None
        position = match.end()
        element, count, opening, closing, group_count = match.groups()
        if element:
            if element not in _ELEMENTS:
                return None
            stack[-1][element] += int(count or 1)
            elements += 1
        elif opening:
            stack.append(Counter())
        elif closing and len(stack) > 1:
            group = stack.pop()
            for name, n in group.items():
                stack[-1][name] += n * int(group_count or 1)
        else:
            return None
    # One bare element symbol ("C", "B") is as likely a variable or an option letter as a formula.
    if position != len(formula) or len(stack) != 1 or (elements < 2 and not any(ch.isdigit() for ch in formula)):
        return None
    return stack[0]


def _compare_formulas(answer: str, reference: str) -> Verdict | None:
    ours, theirs = formula_composition(answer), formula_composition(reference)
    if ours is None and theirs is None:
        return None
    if ours is None or theirs is None:
        return Verdict(Outcome.UNDECIDED, "undecided", answer)  # a formula against a name: for the judge
    if _formula_text(answer) == _formula_text(reference):
        return Verdict(Outcome.CORRECT, "formula", answer)
    if ours != theirs:
        return Verdict(Outcome.WRONG, "formula", answer)
    return Verdict(Outcome.UNDECIDED, "undecided", answer)  # same atoms written differently: isomers or not


# --- option letters -------------------------------------------------------------------------------------

_OPTION_LETTERS = tuple("ABCDEFGHIJ")
_OPTION = re.compile(r"^\(?([A-J])\)?[.:)]?$")
_PARENTHESISED_OPTION = re.compile(r"\(([A-J])\)")
_STRING_CONFIG = StringExtractionConfig(strings=_OPTION_LETTERS, lowercase=False)


def option_letter(text: str) -> str | None:
    """The option letter `text` is ("C", "(C)", "\\text{(C)}", "C."), or None."""
    match = _OPTION.match(_unwrapped(text).strip())
    return match.group(1) if match else None


def _chosen_letter(answer: str) -> str | None:
    direct = option_letter(answer)
    if direct:
        return direct
    parsed = _parse(_unwrapped(answer), (_STRING_CONFIG,))
    if parsed:
        return str(parsed[-1])
    found = _PARENTHESISED_OPTION.findall(_unwrapped(answer))
    return found[-1] if found else None


def _compare_choice(answer: str, reference: str) -> Verdict | None:
    expected = option_letter(reference)
    if expected is None:
        return None
    chosen = _chosen_letter(answer)
    if chosen is None:
        return None
    return Verdict(Outcome.CORRECT if chosen == expected else Outcome.WRONG, "choice", answer)


# --- math-verify ----------------------------------------------------------------------------------------

_MATH_CONFIGS = (LatexExtractionConfig(), ExprExtractionConfig())
_DELIMITED = re.compile(r"\$|\\\(|\\\[|\\boxed")
# A number with thousands or decimal separators: math-verify's expression mode reads "1 000" as 1000 and
# "1000,99" as 1000.99; wrapped in $...$ they would be a product and a set.
_SEPARATED_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?|\d*\.\d+|\d+)%?$")


def _timeout() -> int | None:
    # math-verify's timeouts use signal.alarm, which only works on the main thread.
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parse(text: str, configs: tuple = _MATH_CONFIGS) -> tuple:
    try:
        return tuple(parse(text, list(configs), parsing_timeout=_timeout()))
    except Exception:  # noqa: BLE001 - an input math-verify cannot read is unparsed, not wrong
        return ()


def _is_prose(text: str) -> bool:
    return any(len(run) >= 3 for run in _letter_runs(_bare_letters(text)))


def parsed_math(text: str) -> tuple:
    """math-verify's reading of an answer: as written where it has delimiters, is a plain number or is prose
    (math-verify finds the answer in those itself); else inside $...$, since undelimited it would pick one
    number out of LaTeX or algebra ("2x+1" -> 2, "10^{8}" -> 10)."""
    if _DELIMITED.search(text):
        return _parse(text)
    if _SEPARATED_NUMBER.match(text) or (not _LATEX_MARKUP.search(text) and _is_prose(text)):
        return _parse(text) or _parse(f"${text}$")
    return _parse(f"${text}$") or _parse(text)


def math_verify_verdict(answer: str, reference: str) -> bool | None:
    """math-verify's verdict, or None where it reads nothing in one of the two."""
    gold, pred = parsed_math(reference), parsed_math(answer)
    if not gold or not pred:
        return None
    try:
        return bool(verify(list(gold), list(pred), timeout_seconds=_timeout()))
    except Exception:  # noqa: BLE001 - failing on an input is "cannot decide", not "wrong"
        return None


# --- normalised match -----------------------------------------------------------------------------------

_PREFIXES = "Y|Z|E|P|T|G|M|k|h|da|d|c|m|µ|u|n|p|f|a|z|y"
_UNITS = "m|g|s|A|K|mol|cd|N|Pa|J|W|C|V|F|Ω|ohm|S|Wb|T|H|Hz|L|l|eV|bar|atm|Da|M|rad|sr|Bq|Gy|Sv|lm|lx|min|h|cal"
_PREFIXED_UNIT = re.compile(rf"^(?:{_PREFIXES})?(?:{_UNITS})$")
_ARTICLES = frozenset({"a", "an", "the"})
_TOKEN = re.compile(r"[A-Za-z0-9µΩ]+|[^\sA-Za-z0-9µΩ]")
_DROPPED_PUNCTUATION = frozenset(".,;:!?'\"`")
_WORD_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")


def _case_carries_no_meaning(token: str) -> bool:
    """Ordinary words of three or more letters; never a unit with its prefix ("mN", "Mmol") or a formula."""
    return (
        token.isalpha() and len(token) >= 3 and not _PREFIXED_UNIT.match(token)
        and formula_composition(token) is None
    )  # fmt: skip


def normalised_tokens(text: str) -> list[str]:
    """Tokens for the string fallback: punctuation and articles dropped, signs and brackets kept, case folded
    only where it carries no meaning."""
    tokens = _TOKEN.findall(_WORD_HYPHEN.sub(" ", _unwrapped(text)))
    kept = [t for t in tokens if t not in _DROPPED_PUNCTUATION]
    if len(kept) > 1 and kept[0].lower() in _ARTICLES and len(kept[1]) >= 2:
        kept = kept[1:]
    kept = [t for t in kept if t.lower() not in ("the", "an")]
    return [t.lower() if _case_carries_no_meaning(t) else t for t in kept]


def _normalised_match(answer: str, reference: str) -> Verdict:
    ours = normalised_tokens(answer)
    if ours and ours == normalised_tokens(reference):
        return Verdict(Outcome.CORRECT, "normalised_match", answer)
    return Verdict(Outcome.UNDECIDED, "undecided", answer)


# --- the checker ----------------------------------------------------------------------------------------


def compare_answers(answer: str, reference: str) -> Verdict:
    """Whether an extracted final answer means the reference (see the module docstring for the order). A
    worked reference is reduced to its final answer the way a reply is."""
    if not answer.strip():
        return Verdict(Outcome.WRONG, "no_answer", "")
    ours, theirs = _normalise(answer), _normalise(extract_final_answer(reference))
    if not theirs:
        return Verdict(Outcome.UNDECIDED, "undecided", answer)
    if _plain(ours) == _plain(theirs):
        return Verdict(Outcome.CORRECT, "exact_match", answer)
    decided = _compare_formulas(_plain(ours), _plain(theirs)) or _compare_choice(_plain(ours), _plain(theirs))
    if decided is not None:
        return Verdict(decided.outcome, decided.decided_by, answer)
    if math_verify_may_decide(_plain(ours), _plain(theirs)):
        verdict = math_verify_verdict(ours, theirs)
        if verdict is not None:
            return Verdict(Outcome.CORRECT if verdict else Outcome.WRONG, "math_verify", answer)
    return _normalised_match(_plain(ours), _plain(theirs))


def check_answer(reply: str, reference: str) -> Verdict:
    """The final answer of `reply` checked against `reference`."""
    return compare_answers(extract_final_answer(reply), reference)
