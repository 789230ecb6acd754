"""Text handling for the TTS: incremental sentence splitting and word timings.

Text is sent to Soniox one complete sentence at a time: early enough for low latency, and on
boundaries the plugin can replay from after a dropped connection.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from livekit.agents import tokenize

MAX_TEXT_CHARS = 5000  # the service's limit for one text message

_TERMINATORS = ".!?\u2026\u3002\uff01\uff1f"  # . ! ? … and CJK full stop, ! and ?
_CLOSERS = "\"')]}\u201d\u2019\u00bb"  # quotes and brackets that may follow
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "fig"}
)


class SentenceSplitter:
    """Feeds text pieces in, yields complete sentences (with their trailing space) out.

    A sentence ends at a terminator (``.!?…``, optionally followed by closing quotes or
    brackets) that is followed by whitespace, or at a line break. Text without such an end
    stays buffered until :meth:`flush`. Whitespace-only pieces are never yielded.
    """

    def __init__(self, max_chars: int = MAX_TEXT_CHARS) -> None:
        self._buf = ""
        self._scanned = 0  # how much of _buf push() has already looked at: it resumes there
        self._max_chars = max_chars

    def push(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        start = 0
        i = self._scanned
        buf = self._buf
        while i < len(buf):
            ch = buf[i]
            end = -1
            if ch == "\n":
                end = i + 1
            elif ch in _TERMINATORS:
                j = i + 1
                while j < len(buf) and (buf[j] in _TERMINATORS or buf[j] in _CLOSERS):
                    j += 1
                if j < len(buf) and buf[j].isspace() and not _is_abbreviation(buf[start : i + 1]):
                    end = j + 1
                i = j - 1
            if end > 0:
                # keep the run of whitespace with the sentence it follows
                while end < len(buf) and buf[end].isspace():
                    end += 1
                out.extend(_cut(buf[start:end], self._max_chars))
                start = end
                i = end
                continue
            i += 1
        self._buf = buf[start:]
        # A trailing run of terminators and closers may still end a sentence, depending on what
        # comes next: the next push looks at it again; everything before it needs no second look.
        resume = len(buf)
        while resume > start and (buf[resume - 1] in _TERMINATORS or buf[resume - 1] in _CLOSERS):
            resume -= 1
        self._scanned = resume - start
        if len(self._buf) > self._max_chars:
            pieces = list(_cut(self._buf, self._max_chars))
            self._buf = pieces.pop()
            self._scanned = 0
            out.extend(pieces)
        return [s for s in out if s.strip()]

    def flush(self) -> list[str]:
        """Whatever is buffered, as the last sentence(s)."""
        rest, self._buf = self._buf, ""
        self._scanned = 0
        return [s for s in _cut(rest, self._max_chars) if s.strip()]


def _is_abbreviation(text: str) -> bool:
    """``Dr.``, ``e.g.`` or an initial (``J.``): a full stop that does not end the sentence."""
    if not text.endswith("."):
        return False
    word = text[:-1].rsplit(None, 1)[-1] if text[:-1].strip() else ""
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isalpha() and word.isupper())


class TokenizerSplitter:
    """The same contract as :class:`SentenceSplitter`, with the sentences a livekit
    ``SentenceTokenizer`` finds (blingfire by default: CJK punctuation without a following space,
    abbreviations, decimals and URLs). A sentence is complete once the tokenizer sees another
    one begin after it; each keeps the whitespace that follows it, so the pieces joined are the
    text as pushed."""

    def __init__(self, tokenizer: tokenize.SentenceTokenizer, max_chars: int = MAX_TEXT_CHARS):
        self._tokenizer = tokenizer
        self._buf = ""
        self._max_chars = max_chars

    def push(self, text: str) -> list[str]:
        self._buf += text
        buf = self._buf
        starts = _sentence_starts(buf, self._tokenizer.tokenize(buf))
        if starts and buf[-1:] and (buf[-1].isspace() or buf[-1] in _FULLWIDTH_TERMINATORS):
            # Does a sentence end right here? Ask the tokenizer whether a new one would start.
            probe = buf + _PROBE
            probed = self._tokenizer.tokenize(probe)
            if len(probed) > len(starts) and probed[-1].strip() == _PROBE:
                starts.append(len(buf))
        out: list[str] = []
        if len(starts) > 1:
            for begin, end in itertools.pairwise(starts):
                out.extend(_cut(buf[begin:end], self._max_chars))
            self._buf = buf[starts[-1] :]
        if len(self._buf) > self._max_chars:
            pieces = list(_cut(self._buf, self._max_chars))
            self._buf = pieces.pop()
            out.extend(pieces)
        return [s for s in out if s.strip()]

    def flush(self) -> list[str]:
        rest, self._buf = self._buf, ""
        return [s for s in _cut(rest, self._max_chars) if s.strip()]


_FULLWIDTH_TERMINATORS = frozenset("\u3002\uff01\uff1f\uff61")  # CJK stops, ! and ?
_PROBE = "A"  # a sentence start the tokenizer cannot mistake for a continuation


def _sentence_starts(buf: str, sentences: list[str]) -> list[int]:
    """Where each sentence begins in ``buf`` (the first at 0); [] if they cannot be located."""
    starts: list[int] = []
    cursor = 0
    for sentence in sentences:
        core = sentence.strip()
        if not core:
            continue
        found = buf.find(core, cursor)
        if found < 0:
            return []
        starts.append(found)
        cursor = found + len(core)
    if starts:
        starts[0] = 0
    return starts


def _cut(text: str, max_chars: int) -> Iterator[str]:
    """Split text longer than ``max_chars`` at whitespace (or hard, if there is none)."""
    while len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars)
        cut = max_chars if cut <= 0 else cut + 1
        yield text[:cut]
        text = text[cut:]
    yield text


def spoken_chars(text: str) -> int:
    """How many characters of ``text`` the service times (whitespace is not counted)."""
    return sum(1 for ch in text if not ch.isspace())


class CharTiming(NamedTuple):
    """One character's timing (a tuple: thousands are made per second of audio, cheaply)."""

    char: str
    start: float
    end: float


def parse_timestamps(payload: object) -> list[CharTiming]:
    """Soniox ``timestamps`` object -> per-character timings (malformed input gives [])."""
    if not isinstance(payload, dict):
        return []
    chars = payload.get("characters")
    starts = payload.get("character_start_times_seconds")
    ends = payload.get("character_end_times_seconds")
    if not (isinstance(chars, list) and isinstance(starts, list) and isinstance(ends, list)):
        return []
    if not len(chars) == len(starts) == len(ends):
        return []
    try:
        return [
            CharTiming(str(c), float(s), float(e))
            for c, s, e in zip(chars, starts, ends, strict=True)
        ]
    except (TypeError, ValueError):
        return []


@dataclass(frozen=True)
class WordTiming:
    text: str
    start: float
    end: float


class WordGrouper:
    """Turns a stream of character timings into words (each with its trailing space)."""

    def __init__(self) -> None:
        self._chars: list[CharTiming] = []

    def push(self, chars: Iterable[CharTiming]) -> list[WordTiming]:
        words: list[WordTiming] = []
        for c in chars:
            if c.char.isspace():
                if self._chars:
                    words.append(self._word(trailing=c.char))
            else:
                self._chars.append(c)
        return words

    def flush(self) -> list[WordTiming]:
        return [self._word(trailing="")] if self._chars else []

    def _word(self, *, trailing: str) -> WordTiming:
        chars, self._chars = self._chars, []
        text = "".join(c.char for c in chars) + trailing
        return WordTiming(text, chars[0].start, chars[-1].end)
