"""Replay bookkeeping: which sentences of a Soniox stream have been heard in full.

Each Soniox stream keeps a ledger of the sentences sent on it, the character timings the service
returned (in the stream's own clock, which starts at 0) and how much of its audio has been
emitted. When the stream fails, the ledger says where a replacement stream must start so that
no text is skipped, and how much of the replacement's audio to drop so that no audio is heard
twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._tts_text import CharTiming, parse_timestamps, spoken_chars

_EPSILON_S = 0.001


@dataclass(frozen=True)
class ReplayPlan:
    sentences: list[str]
    skip_s: float
    """Seconds of the replacement stream's audio (after its first character starts, when
    ``align`` is set, else from its very start) that were already emitted."""
    align: bool


class StreamLedger:
    def __init__(self, sentences: list[str] | None = None, *, skip_s: float = 0.0) -> None:
        self.sentences: list[str] = []
        self._ends: list[int] = []  # cumulative spoken-character count after each sentence
        self._parsed: list[CharTiming] = []
        self._unparsed: list[object] = []  # timestamps objects not looked at yet, in order
        self.dropped_s = 0.0  # stream audio deliberately not emitted (replay overlap)
        self.emitted_s = 0.0  # stream audio pushed to livekit
        for s in sentences or []:
            self.add_sentence(s)

    def add_sentence(self, text: str) -> None:
        self.sentences.append(text)
        self._ends.append((self._ends[-1] if self._ends else 0) + spoken_chars(text))

    def add_timings(self, chars: list[CharTiming]) -> None:
        self._parse_pending()
        self._parsed.extend(c for c in chars if not c.char.isspace())

    def add_timings_later(self, payload: object) -> None:
        """A service ``timestamps`` object, parsed only when the timings are asked for.

        Most streams end without anyone asking (no replay, no aligned transcript): parsing
        every message's timings up front was about 4 % of the plugin's CPU per stream.
        """
        self._unparsed.append(payload)

    def _parse_pending(self) -> None:
        if self._unparsed:
            pending, self._unparsed = self._unparsed, []
            for payload in pending:
                self._parsed.extend(c for c in parse_timestamps(payload) if not c.char.isspace())

    @property
    def _timings(self) -> list[CharTiming]:
        """Every non-space character timed so far, in order."""
        self._parse_pending()
        return self._parsed

    def first_char_start(self) -> float | None:
        return self._timings[0].start if self._timings else None

    def timed_text_ends_a_word(self) -> bool:
        """Whether the characters timed so far end at a word boundary of the text sent."""
        remaining = len(self._timings)
        if remaining == 0:
            return False
        text = "".join(self.sentences)
        for i, ch in enumerate(text):
            if ch.isspace():
                continue
            remaining -= 1
            if remaining == 0:
                return i + 1 >= len(text) or text[i + 1].isspace()
        return True  # the service timed more than we counted: trust its word ends

    @property
    def position_s(self) -> float:
        """How far into the stream's own clock its audio has been dealt with."""
        return self.dropped_s + self.emitted_s

    def completed(self) -> int:
        """How many leading sentences have had all their audio emitted."""
        done = 0
        for end in self._ends:
            if end == 0 or end > len(self._timings):
                break
            if self._timings[end - 1].end > self.position_s + _EPSILON_S:
                break
            done += 1
        return done

    def replay_plan(self) -> ReplayPlan:
        first = self.completed()
        rest = self.sentences[first:]
        if not rest:
            return ReplayPlan([], 0.0, False)
        if not self._timings:
            # No timings from this stream: everything emitted belongs to its first sentence on.
            return ReplayPlan(rest, self.position_s, False)
        start_index = self._ends[first - 1] if first > 0 else 0
        if start_index < len(self._timings):
            started_at = self._timings[start_index].start
            return ReplayPlan(rest, max(0.0, self.position_s - started_at), True)
        # The sentence's first character was never timed: what was emitted of it is silence.
        return ReplayPlan(rest, 0.0, False)
