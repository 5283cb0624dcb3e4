"""Defanging `<source_document>` delimiters inside untrusted text, look-alikes included.

A source document is wrapped in `<source_document>` ... `</source_document>`; a delimiter inside it could
close the block early and make the rest read as instructions. A model reads through disguises that a plain
pattern misses: full-width or other Unicode forms (`＜／source_document＞`), zero-width or other invisible
characters between the letters, Cyrillic or Greek letters that look Latin (`sоurсe` with Cyrillic о and с),
and HTML entities (`&lt;/source_document&gt;`, escaped more than once too).

So every stretch of text from an opening bracket look-alike to the next closing one is normalised the way a
reader would see it (entities unescaped, compatibility forms folded as NFKC does, combining marks and
invisible characters dropped, look-alike letters mapped to Latin) and checked against the delimiter pattern.
Only a stretch that then reads as a delimiter is replaced, by a defanged `<source_document_>`; the rest of
the text is kept byte for byte (a document's own Unicode, superscripts or entities are data, not disguise).
"""

from __future__ import annotations

import html
import re
import unicodedata

# A delimiter in any case, with any whitespace, `-` or `_` (or none) between the words, and attributes.
DELIMITER = re.compile(r"<\s*(/?)\s*source[\s_-]*document(?:\s[^<>\n]*)?\s*>", re.IGNORECASE)

# Characters compatibility normalisation keeps but a reader takes for ASCII, folded to it.
_LOOK_ALIKES = str.maketrans({
    **dict.fromkeys("‹〈〈⟨❮⧼", "<"), **dict.fromkeys("›〉〉⟩❯⧽", ">"),
    **dict.fromkeys("∕⁄⧸", "/"), **dict.fromkeys("‐‑‒–—―−", "-"),
    # Cyrillic
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "м": "m",
    "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "ц": "u", "у": "y", "х": "x",
    "ԝ": "w", "п": "n", "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
    "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ԁ": "D",
    # Greek
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "η": "n", "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Χ": "X", "Υ": "Y", "Ζ": "Z",
    # Latin letters without a decomposition
    "ı": "i", "ȷ": "j", "ɑ": "a",
})  # fmt: skip

_ENTITY = r"&(?:amp;)*(?:{names}|#0*{dec}|#x0*{hex});?"
_OPENERS = "|".join(("<", "[‹〈〈⟨❮⧼＜﹤]", _ENTITY.format(names="lt", dec="60", hex="3c")))
_CLOSERS = "|".join((">", "[›〉〉⟩❯⧽＞﹥]", _ENTITY.format(names="gt", dec="62", hex="3e")))
# From an opener to the nearest closer, with no other opener or closer between (so a stretch starts at the
# opener closest to its closer); 300 characters cover any disguise of a delimiter.
_STRETCH = re.compile(
    rf"(?:{_OPENERS})(?:(?!{_OPENERS}|{_CLOSERS}).){{0,300}}?(?:{_CLOSERS})", re.IGNORECASE | re.DOTALL
)
_MAX_UNESCAPES = 4  # `&amp;amp;lt;` is still read as `<` by a model that unescapes in its head


def as_read(text: str) -> str:
    """`text` as a reader sees it: entities unescaped, compatibility forms folded, marks and invisible
    characters (zero-width spaces, joiners, soft hyphens, direction marks) dropped, look-alikes mapped."""
    for _ in range(_MAX_UNESCAPES):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    decomposed = unicodedata.normalize("NFKD", text)
    visible = "".join(char for char in decomposed if unicodedata.category(char) not in ("Mn", "Me", "Cf"))
    return unicodedata.normalize("NFKC", visible.translate(_LOOK_ALIKES)).translate(_LOOK_ALIKES)


def defang(text: str) -> str:
    """`text` with every delimiter and delimiter look-alike replaced by a defanged `<source_document_>`."""
    text = _STRETCH.sub(_defanged_stretch, text)
    return DELIMITER.sub(_defanged, text)  # a delimiter whose attributes run past the stretch length


def _defanged_stretch(match: re.Match[str]) -> str:
    delimiter = DELIMITER.fullmatch(as_read(match.group()))
    return _defanged(delimiter) if delimiter else match.group()


def _defanged(delimiter: re.Match[str]) -> str:
    return f"<{delimiter.group(1)}source_document_>"
