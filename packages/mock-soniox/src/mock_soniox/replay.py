"""Replaying recorded fixtures through the endpoint handlers' source seams.

STT: a session picks a fixture by name (``?fixture=NAME``, header ``X-Mock-Fixture: NAME`` or
``client_reference_id: "fixture:NAME"``) or by its audio (an energy fingerprint, independent of
how the client chunks, encodes or resamples it). Recorded server frames are released when the
client's audio clock reaches the audio time at which they were first sent. ``finalize`` and
``finish`` behave as the service would at that point: the recorded answer when the recording
did the same there, else the recording's eventual final tokens up to that point.

TTS: each stream is matched on its own by (model, voice, language, text), so concurrency,
interleaving and stream ids may differ from the recording. Its audio goes out in the recorded
chunks at the recorded times (as :class:`~mock_soniox.tts_synth.Cue` s the handler follows).

Whatever does not match falls back to the synthetic sources, and the journal says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .audio import RAW_FORMATS, Samples, decode, parse_wav_header
from .errors import ProtocolError
from .fixtures import (
    MARKERS,
    Fixture,
    FixtureError,
    Library,
    RecordedStream,
    library_for,
    normalize_text,
)
from .journal import Journal
from .settings import Settings
from .stt import ResultSource, synthetic_source
from .stt_config import SttConfig
from .tts_config import StreamConfig
from .tts_synth import Cue, Speech, TtsSource, synthetic_source_factory

if TYPE_CHECKING:
    from .app import MockState
    from .connection import Connection

logger = logging.getLogger("mock_soniox")

Frame = dict[str, Any]

FIXTURE_PREFIX = "fixture:"
FIXTURE_HEADER = "X-Mock-Fixture"
FIXTURE_QUERY = "fixture"
STRICT_QUERY = "fixture_strict"
STRICT_HEADER = "X-Mock-Fixture-Strict"
# A client finalize this close (audio ms) to a recorded one is "the same" finalize.
FINALIZE_TOLERANCE_MS = 300.0
# Finishing this close to the recorded end counts as having sent all of the recording's audio.
FINISH_TOLERANCE_MS = 300.0

# Journal event kinds (``Journal.select(direction="event", kind=...)``).
EV_FIXTURE = "fixture"  # a fixture was picked: {"name", "how", ...}
EV_NO_MATCH = "fixture_no_match"  # nothing matched: the synthetic source serves
EV_DIVERGED = "fixture_diverged"  # the client did something the recording did not
EV_MISMATCH = "fixture_mismatch"  # strict mode: the report sent to the client
EV_CONSUMED = "fixture_consumed"  # every recorded frame of the fixture was replayed


# --- Selecting a fixture ---


def requested_fixture(conn: Connection, config: SttConfig | None = None) -> str | None:
    """The fixture a client asked for by query, header or ``client_reference_id``."""
    request = conn.request
    name = request.query.get(FIXTURE_QUERY) or request.headers.get(FIXTURE_HEADER)
    if not name and config is not None:
        ref = config.client_reference_id or ""
        if ref.startswith(FIXTURE_PREFIX):
            name = ref[len(FIXTURE_PREFIX) :]
    return name.strip() if name else None


def strict_requested(conn: Connection) -> bool:
    flag = conn.request.query.get(STRICT_QUERY) or conn.request.headers.get(STRICT_HEADER)
    if flag is not None:
        return flag.lower() in ("1", "true", "yes", "on")
    return conn.settings.fixtures_strict


def library_of(conn: Connection) -> Library:
    """The fixtures this connection may replay; a broken fixture file is a clear 500."""
    try:
        return library_for(conn.settings.fixtures_dir, bundled=conn.settings.fixtures_bundled)
    except FixtureError as exc:
        logger.error("cannot load fixtures: %s", exc)
        raise ProtocolError(500, f"Cannot load fixtures: {exc}", "internal_error") from exc


def preload(settings: Settings) -> None:
    """Load (and cache) the library before the first session needs it; errors are logged."""
    try:
        library_for(settings.fixtures_dir, bundled=settings.fixtures_bundled)
    except FixtureError as exc:
        logger.error("cannot load fixtures: %s", exc)


def install(state: MockState) -> None:
    """Make ``state`` replay fixtures (falling back to the synthetic sources)."""
    state.stt_source_factory = stt_source_factory
    state.tts_source_factory = tts_source_factory


# --- STT ---


def stt_source_factory(conn: Connection, config: SttConfig) -> ResultSource:
    library = library_of(conn)
    name = requested_fixture(conn, config)
    strict = strict_requested(conn)
    if name is not None:
        fixture = library.get(name)
        if fixture is None or fixture.endpoint != "stt":
            known = ", ".join(library.names("stt")) or "none"
            raise ProtocolError(400, f"Unknown STT fixture {name!r} (known: {known}).")
        return start_replay(conn, config, fixture, "explicit", strict)
    fallback = synthetic_source(conn, config)
    if conn.settings.fixtures_match_audio:
        candidates = [f for f in library.of("stt") if fingerprint_of(f) is not None]
        if candidates:
            return AudioMatchSource(conn, config, candidates, fallback, strict)
    conn.record_event(EV_NO_MATCH, {"reason": "no fixture named and audio matching off"})
    return fallback


def start_replay(
    conn: Connection, config: SttConfig, fixture: Fixture, how: str, strict: bool
) -> SttReplay:
    conn.fixture = fixture.name
    conn.record_event(
        EV_FIXTURE, {"name": fixture.name, "endpoint": "stt", "how": how, "strict": strict}
    )
    replay = SttReplay(fixture, config, strict=strict, conn=conn)
    if strict:
        replay.check_config()
    return replay


@dataclass
class _Item:
    """One recorded result frame, annotated for replay."""

    line: int  # line number in the fixture file
    audio_ms: float
    after_finish: bool
    data: dict[str, Any]
    final_ids: list[int | None] = field(default_factory=list)  # per token: global final index


@dataclass
class _Control:
    kind: str  # "finalize" | "finish"
    line: int
    audio_ms: float
    item_index: int  # first result item recorded after it
    response: int  # index of the item that answered it (holds <fin>), -1 when none
    used: bool = False


class SttReplay:
    """Releases a recording's result frames against the client's audio clock (a ResultSource)."""

    def __init__(
        self,
        fixture: Fixture,
        config: SttConfig,
        *,
        strict: bool = False,
        conn: Connection | None = None,
    ) -> None:
        self.fixture = fixture
        self.config = config
        self.strict = strict
        self.conn = conn
        self.items: list[_Item] = []
        self.controls: list[_Control] = []
        self.finals: list[dict[str, Any]] = []  # every final non-marker token, in order
        self._index(fixture)
        self.cursor = 0
        self.emitted: set[int] = set()
        self.cut_ms = 0.0  # spoken tokens starting before this were finalized synthetically
        self.after_synthetic_fin = False
        self.final_ms = 0
        self.total_ms = 0
        self.allowed_fin: set[int] = set()
        self.consumed_reported = False

    def _index(self, fixture: Fixture) -> None:
        clock = 0.0
        after_finish = False
        pending: list[_Control] = []
        for number, frame in enumerate(fixture.frames, 2):
            if frame.audio_ms is not None:
                clock = frame.audio_ms
            if frame.dir == "c2s":
                if frame.kind == "text" and frame.text == "":
                    self.controls.append(_Control("finish", number, clock, len(self.items), -1))
                    after_finish = True
                elif isinstance(frame.json, dict) and frame.json.get("type") == "finalize":
                    control = _Control("finalize", number, clock, len(self.items), -1)
                    self.controls.append(control)
                    pending.append(control)
                continue
            if not (frame.is_json and isinstance(frame.json, dict)):
                continue
            data = frame.json
            if "error_code" in data or "tokens" not in data:
                continue  # recorded errors end sessions; the session's own logic does that
            item = _Item(number, clock, after_finish, data)
            for token in data.get("tokens") or []:
                if token.get("is_final") and token.get("text") not in MARKERS:
                    item.final_ids.append(len(self.finals))
                    self.finals.append(token)
                else:
                    item.final_ids.append(None)
                if token.get("text") == "<fin>" and pending:
                    pending.pop(0).response = len(self.items)
            if data.get("finished") and not data.get("tokens"):
                continue  # the session sends its own ``finished`` frame
            self.items.append(item)

    # --- ResultSource ---

    def on_audio(self, pcm: Samples | None, sample_rate: int, audio_ms: float) -> list[Frame]:
        self._check_skipped_finalize(audio_ms)
        waiting = self._next_control("finalize")
        # What the recording sent after a finalize waits for the client's finalize (or for the
        # clock to pass it), so a matching finalize still gets its <fin>.
        hold = waiting.item_index if waiting is not None else len(self.items)
        return self._release(
            lambda i: (
                i < hold and not self.items[i].after_finish and self.items[i].audio_ms <= audio_ms
            )
        )

    def on_finalize(self, audio_ms: float) -> list[Frame]:
        control = self._next_control("finalize")
        if control is not None and abs(control.audio_ms - audio_ms) <= FINALIZE_TOLERANCE_MS:
            control.used = True
            if control.response >= 0:
                self.allowed_fin.add(control.response)
                last = control.response
                out = self._release(lambda i: i <= last)
                self.after_synthetic_fin = False
                return out
        where = f"finalize at {audio_ms:.0f} ms of audio"
        self._diverged(where, control)
        out = self.on_audio(None, 0, audio_ms)
        out.append(self._synthetic_finals(audio_ms, marker="<fin>"))
        return out

    def on_finish(self, audio_ms: float) -> list[Frame]:
        control = self._next_control("finish")
        if control is not None and audio_ms >= control.audio_ms - FINISH_TOLERANCE_MS:
            control.used = True
            out = self._release(lambda i: True)
        else:
            self._diverged(f"finish at {audio_ms:.0f} ms of audio", control)
            out = self.on_audio(None, 0, audio_ms)
            frame = self._synthetic_finals(audio_ms, marker=None)
            if frame["tokens"]:
                out.append(frame)
        self._report_consumption()
        return out

    # --- Strict mode ---

    def check_config(self) -> None:
        """Strict mode: the session config must ask for what the recording did."""
        recorded = self.fixture.config or {}
        got = self.config
        checks: dict[str, tuple[Any, Any]] = {
            "audio_format": (recorded.get("audio_format", "auto"), got.audio_format),
            "sample_rate": (recorded.get("sample_rate"), got.sample_rate),
            "num_channels": (recorded.get("num_channels"), got.num_channels),
            "enable_speaker_diarization": (
                bool(recorded.get("enable_speaker_diarization")),
                got.enable_speaker_diarization,
            ),
            "enable_endpoint_detection": (
                bool(recorded.get("enable_endpoint_detection")),
                got.enable_endpoint_detection,
            ),
            "translation": (
                bool(recorded.get("translation")),
                got.translation is not None,
            ),
        }
        for name, (want, have) in checks.items():
            if want != have:
                self._mismatch(
                    f"config field {name} is {have!r}",
                    f"line 2 (config) has {name}={want!r}",
                )

    def _check_skipped_finalize(self, audio_ms: float) -> None:
        control = self._next_control("finalize")
        if control is None or audio_ms <= control.audio_ms + FINALIZE_TOLERANCE_MS:
            return
        control.used = True  # passed without the client finalizing: its <fin> is not sent
        if self.strict:
            self._mismatch(
                f"audio reached {audio_ms:.0f} ms without a finalize",
                f"line {control.line} (finalize at {control.audio_ms:.0f} ms)",
            )

    def _diverged(self, what: str, control: _Control | None) -> None:
        nearest = self._nearest(what)
        if self.strict:
            self._mismatch(what, nearest)
        if self.conn is not None:
            self.conn.record_event(
                EV_DIVERGED, {"name": self.fixture.name, "client": what, "nearest": nearest}
            )

    def _nearest(self, what: str) -> str:
        kind = "finalize" if what.startswith("finalize") else "finish"
        unused = [c for c in self.controls if not c.used]
        same = [c for c in unused if c.kind == kind] or unused
        if not same:
            return "no recorded finalize or finish left"
        c = same[0]
        return f"line {c.line} ({c.kind} at {c.audio_ms:.0f} ms)"

    def _mismatch(self, what: str, nearest: str) -> None:
        report = f"Fixture {self.fixture.name} mismatch: {what}; nearest recorded frame: {nearest}."
        if self.conn is not None:
            self.conn.record_event(EV_MISMATCH, {"name": self.fixture.name, "report": report})
        raise ProtocolError(400, report, "fixture_mismatch")

    # --- Internals ---

    def _next_control(self, kind: str) -> _Control | None:
        for control in self.controls:
            if not control.used and control.kind == kind:
                return control
        return None

    def _release(self, due: Callable[[int], bool]) -> list[Frame]:
        out: list[Frame] = []
        while self.cursor < len(self.items) and due(self.cursor):
            frame = self._render(self.cursor)
            self.cursor += 1
            if frame is not None:
                out.append(frame)
        if self.cursor >= len(self.items):
            self._report_consumption()
        return out

    def _render(self, index: int) -> Frame | None:
        item = self.items[index]
        tokens: list[dict[str, Any]] = []
        for token, final_id in zip(item.data.get("tokens") or [], item.final_ids, strict=True):
            text = token.get("text")
            if text == "<fin>":
                if index in self.allowed_fin:
                    tokens.append(dict(token))
                continue
            if text == "<end>":
                if self.config.enable_endpoint_detection and not self.after_synthetic_fin:
                    tokens.append(dict(token))
                self.after_synthetic_fin = False
                continue
            if final_id is not None:
                if final_id in self.emitted:
                    continue
                self.emitted.add(final_id)
                self.after_synthetic_fin = False
            elif "start_ms" in token and float(token["start_ms"]) < self.cut_ms:
                continue
            adapted = self._adapt(token)
            if adapted is not None:
                tokens.append(adapted)
        frame = {k: v for k, v in item.data.items() if k not in ("tokens", "finished")}
        self.final_ms = max(self.final_ms, int(item.data.get("final_audio_proc_ms", 0)))
        self.total_ms = max(self.total_ms, int(item.data.get("total_audio_proc_ms", 0)))
        frame["tokens"] = tokens
        frame["final_audio_proc_ms"] = self.final_ms
        frame["total_audio_proc_ms"] = max(self.total_ms, self.final_ms)
        return frame

    def _adapt(self, token: dict[str, Any]) -> dict[str, Any] | None:
        """The token as this session's config would have it (speakers, languages, translation)."""
        config = self.config
        is_translation = token.get("translation_status") == "translation"
        if is_translation and config.translation is None:
            return None
        out = dict(token)
        if not config.enable_speaker_diarization:
            out.pop("speaker", None)
        if config.translation is None:
            out.pop("translation_status", None)
            out.pop("source_language", None)
            if not config.enable_language_identification:
                out.pop("language", None)
        return out

    def _synthetic_finals(self, audio_ms: float, marker: str | None) -> Frame:
        """What the service sends when finalizing where the recording did not: every final token
        the recording eventually gave for audio before ``audio_ms``."""
        tokens: list[dict[str, Any]] = []
        for final_id, token in enumerate(self.finals):
            if final_id in self.emitted:
                continue
            if "start_ms" in token and float(token["start_ms"]) >= audio_ms:
                break
            self.emitted.add(final_id)
            adapted = self._adapt(token)
            if adapted is not None:
                tokens.append(adapted)
        if marker is not None:
            tokens.append({"text": marker, "is_final": True})
            self.after_synthetic_fin = True
        self.cut_ms = max(self.cut_ms, audio_ms)
        self.final_ms = max(self.final_ms, int(audio_ms))
        self.total_ms = max(self.total_ms, int(audio_ms))
        return {
            "tokens": tokens,
            "final_audio_proc_ms": self.final_ms,
            "total_audio_proc_ms": self.total_ms,
        }

    @property
    def consumed(self) -> bool:
        return self.cursor >= len(self.items)

    def _report_consumption(self) -> None:
        if self.consumed_reported or self.conn is None:
            return
        if self.consumed:
            self.consumed_reported = True
            self.conn.record_event(EV_CONSUMED, {"name": self.fixture.name})


# --- Matching audio to fixtures ---

WINDOW_MS = 20
FLOOR_DB = -60.0
FINGERPRINT_MS = 4000
MATCH_MIN_WINDOWS = 40  # 800 ms compared ...
MATCH_MIN_SPEECH_WINDOWS = 10  # ... of which 200 ms speech, before a match is declared
MISMATCH_DB = 6.0
SPEECH_DB = -45.0

Envelope = npt.NDArray[np.float64]


def envelope(samples: Samples, sample_rate: int) -> Envelope:
    """Loudness (dB) per 20 ms window: the same for any chunking, encoding or sample rate."""
    size = max(1, sample_rate * WINDOW_MS // 1000)
    count = samples.size // size
    if count == 0:
        return np.zeros(0)
    windows = samples[: count * size].astype(np.float64).reshape(count, size)
    rms = np.sqrt(np.mean(windows**2, axis=1))
    result: Envelope = np.maximum(20 * np.log10(np.maximum(rms, 1e-9)), FLOOR_DB)
    return result


def fingerprint_of(fixture: Fixture) -> Envelope | None:
    """The first seconds of a fixture's input audio as an envelope (raw PCM fixtures only)."""
    key = ("fingerprint",)
    if key not in fixture.derived:
        fmt = fixture.header.get("audio_format")
        rate = fixture.header.get("sample_rate")
        channels = fixture.header.get("num_channels") or 1
        result: Envelope | None = None
        if fmt in RAW_FORMATS and rate:
            need = RAW_FORMATS[fmt].width * channels * rate * FINGERPRINT_MS // 1000
            audio = b""
            for frame in fixture.frames:
                if frame.dir == "c2s" and frame.audio is not None:
                    audio += fixture.audio_of(frame)
                    if len(audio) >= need:
                        break
            result = envelope(decode(fmt, audio[:need], channels), rate)
        fixture.derived[key] = result
    fingerprint: Envelope | None = fixture.derived[key]
    return fingerprint


class AudioMatchSource:
    """Holds results back while the audio could still be a fixture's; then replays or falls back.

    The synthetic source runs all along, so falling back loses nothing; its frames are only
    delayed while the audio matches some fixture's opening (at most the fingerprint's length).
    """

    def __init__(
        self,
        conn: Connection,
        config: SttConfig,
        candidates: list[Fixture],
        fallback: ResultSource,
        strict: bool,
    ) -> None:
        self.conn = conn
        self.config = config
        self.fallback = fallback
        self.strict = strict
        self.candidates = {f.name: f for f in candidates}
        self.misses: dict[str, int] = dict.fromkeys(self.candidates, 0)
        self.held: list[Frame] = []
        self.samples: list[Samples] = []
        self.windows: Envelope = np.zeros(0)
        self.chosen: ResultSource | None = None

    def on_audio(self, pcm: Samples, sample_rate: int, audio_ms: float) -> list[Frame]:
        if self.chosen is not None:
            return self.chosen.on_audio(pcm, sample_rate, audio_ms)
        self.held.extend(self.fallback.on_audio(pcm, sample_rate, audio_ms))
        self._compare(pcm, sample_rate)
        return self._decide(audio_ms, final=False)

    def on_finalize(self, audio_ms: float) -> list[Frame]:
        return self._on_control(audio_ms, lambda source: source.on_finalize(audio_ms))

    def on_finish(self, audio_ms: float) -> list[Frame]:
        return self._on_control(audio_ms, lambda source: source.on_finish(audio_ms))

    def _on_control(
        self, audio_ms: float, handle: Callable[[ResultSource], list[Frame]]
    ) -> list[Frame]:
        """A finalize or finish settles the choice now; then the chosen source handles it."""
        if self.chosen is not None:
            return handle(self.chosen)
        self.held.extend(handle(self.fallback))
        out = self._decide(audio_ms, final=True)
        if self.chosen is self.fallback:
            return out
        assert self.chosen is not None
        return out + handle(self.chosen)

    def _compare(self, pcm: Samples, sample_rate: int) -> None:
        if sample_rate <= 0 or pcm.size == 0:
            return
        self.samples.append(pcm)
        size = sample_rate * WINDOW_MS // 1000
        buffered = sum(s.size for s in self.samples)
        if buffered < size:
            return
        joined = np.concatenate(self.samples)
        usable = joined.size - joined.size % size
        new = envelope(joined[:usable], sample_rate)
        self.samples = [joined[usable:]] if usable < joined.size else []
        start = self.windows.size
        self.windows = np.concatenate([self.windows, new])
        for name in list(self.candidates):
            reference = fingerprint_of(self.candidates[name])
            assert reference is not None
            stop = min(self.windows.size, reference.size)
            if start >= stop:
                continue
            diff = np.abs(self.windows[start:stop] - reference[start:stop])
            self.misses[name] += int(np.count_nonzero(diff > MISMATCH_DB))
            if self.misses[name] > 2 + 0.1 * stop:
                del self.candidates[name]

    def _decide(self, audio_ms: float, *, final: bool) -> list[Frame]:
        match: Fixture | None = None
        if len(self.candidates) == 1:
            (fixture,) = self.candidates.values()
            reference = fingerprint_of(fixture)
            assert reference is not None
            compared = min(self.windows.size, reference.size)
            speech = int(np.count_nonzero(reference[:compared] > SPEECH_DB))
            enough = compared >= MATCH_MIN_WINDOWS and speech >= MATCH_MIN_SPEECH_WINDOWS
            if enough or (final and speech >= MATCH_MIN_SPEECH_WINDOWS):
                match = fixture
        if match is not None:
            replay = start_replay(self.conn, self.config, match, "audio", self.strict)
            self.chosen = replay
            self.held.clear()
            return replay.on_audio(None, 0, audio_ms)
        if not self.candidates or final or self.windows.size * WINDOW_MS > FINGERPRINT_MS:
            self.chosen = self.fallback
            self.conn.record_event(EV_NO_MATCH, {"reason": "audio matched no fixture"})
            held, self.held = self.held, []
            return held
        return []


# --- TTS ---


def tts_source_factory(conn: Connection, config: StreamConfig) -> TtsSource:
    fallback = synthetic_source_factory(conn, config)
    library = library_of(conn)
    wanted = (config.model, config.voice, config.language)
    candidates = [
        (fixture, stream)
        for fixture in library.of("tts")
        for stream in fixture.tts_streams()
        if stream.key[:3] == wanted and stream.audio_file is not None
    ]
    if not candidates:
        conn.record_event(
            EV_NO_MATCH,
            {"reason": "no recorded stream with this model, voice and language"},
            stream_id=config.stream_id,
        )
        return fallback
    return TtsReplaySource(conn, config, candidates, fallback)


class TtsReplaySource:
    """Speaks a recorded stream while the client's text follows it; synthetic speech otherwise.

    The handler asks for speech a sentence at a time (before ``text_end``), so each piece of
    text is cut out of the recording by its character timings, with the recorded chunks' times
    as cues; the stream counts as replayed once the whole recorded text has been spoken.
    """

    streaming = True

    def __init__(
        self,
        conn: Connection,
        config: StreamConfig,
        candidates: list[tuple[Fixture, RecordedStream]],
        fallback: TtsSource,
    ) -> None:
        self.conn = conn
        self.config = config
        self.candidates = candidates
        self.fallback = fallback
        self.spoken = ""
        self.diverged = False

    def synthesize(self, text: str) -> Speech:
        if self.diverged:
            return self.fallback.synthesize(text)
        said = normalize_text(self.spoken + text)
        following = [(f, s) for f, s in self.candidates if s.key[3].startswith(said)]
        exact = [(f, s) for f, s in following if s.key[3] == said]
        best = (exact or following)[:1]
        speech = None
        if best:
            fixture, stream = best[0]
            recorded = recorded_speech(fixture, stream, self.config.sample_rate)
            speech = _cut(recorded, _letters(self.spoken), None if exact else _letters(said))
        if speech is None:
            self.diverged = True
            self.conn.record_event(
                EV_NO_MATCH,
                {"reason": "no recorded stream with this text", "text": said},
                stream_id=self.config.stream_id,
            )
            return self.fallback.synthesize(text)
        self.spoken += text
        if exact:
            self.conn.record_event(
                EV_FIXTURE,
                {
                    "name": fixture.name,
                    "endpoint": "tts",
                    "how": "text",
                    "stream": stream.ordinal,
                    "streams": len(fixture.tts_streams()),
                },
                stream_id=self.config.stream_id,
            )
        return speech


def _letters(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def _cut(speech: Speech, begin: int, end: int | None) -> Speech | None:
    """The part of ``speech`` from its ``begin``-th to its ``end``-th non-space character
    (to the end when ``end`` is None); None when its timings cannot tell where that is."""

    def time_at(letters: int) -> float | None:
        if letters == 0:
            return 0.0
        seen = 0
        for char, start in zip(speech.characters, speech.starts, strict=False):
            if not char.isspace():
                if seen == letters:
                    return start
                seen += 1
        return None

    t0 = time_at(begin)
    t1 = speech.duration_s if end is None else time_at(end)
    if t0 is None or t1 is None or t1 < t0:
        return None
    rate = speech.sample_rate
    samples = speech.samples[round(t0 * rate) : round(t1 * rate)]
    keep = [
        i
        for i, start in enumerate(speech.starts)
        if t0 <= start < t1 or (end is None and start >= t0)
    ]
    return Speech(
        samples,
        rate,
        [speech.characters[i] for i in keep],
        [round(speech.starts[i] - t0, 4) for i in keep],
        [round(min(speech.ends[i], t1) - t0, 4) for i in keep],
        _cut_cues(speech.cues, t0, t1),
    )


def _cut_cues(cues: list[Cue] | None, t0: float, t1: float) -> list[Cue] | None:
    """The cues of the audio from ``t0`` to ``t1``: a piece that starts inside a recorded chunk
    is due when that chunk was."""
    if not cues:
        return None
    before = [c for c in cues if c.audio_s <= t0]
    first = Cue(0.0, (before[-1] if before else cues[0]).at_s)
    return [first] + [Cue(c.audio_s - t0, c.at_s) for c in cues if t0 < c.audio_s < t1]


def recorded_speech(fixture: Fixture, stream: RecordedStream, sample_rate: int) -> Speech:
    """A recorded stream's audio (resampled to ``sample_rate``) and its character timings."""
    key = ("speech", stream.ordinal, sample_rate)
    if key not in fixture.derived:
        fixture.derived[key] = _load_speech(fixture, stream, sample_rate)
    speech: Speech = fixture.derived[key]
    return speech


def _load_speech(fixture: Fixture, stream: RecordedStream, sample_rate: int) -> Speech:
    assert stream.audio_file is not None
    meta = fixture.header.get("side_files", {}).get(stream.audio_file, {})
    fmt = meta.get("format", "pcm_s16le")
    rate = int(meta.get("sample_rate") or sample_rate)
    payload = fixture.side_payload(stream.audio_file)
    data_offset = 0
    if fmt == "wav":
        info = parse_wav_header(payload)
        if info is None:
            raise ValueError(f"{fixture.name}: recorded wav stream without a header")
        samples = decode(info.fmt, payload[info.data_offset :], info.channels)
        rate = info.sample_rate
        data_offset = info.data_offset
        frame_bytes = RAW_FORMATS[info.fmt].width * info.channels
    elif fmt in RAW_FORMATS:
        samples = decode(fmt, payload)
        frame_bytes = RAW_FORMATS[fmt].width
    else:
        raise ValueError(f"{fixture.name}: cannot replay recorded {fmt} audio")
    samples = resample(samples, rate, sample_rate)
    chars: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    cues: list[Cue] = []
    anchor_ms = stream.audio_anchor_t_ms
    for frame in stream.frames:
        marks = (frame.json or {}).get("timestamps") or {}
        chars.extend(marks.get("characters", []))
        starts.extend(marks.get("character_start_times_seconds", []))
        ends.extend(marks.get("character_end_times_seconds", []))
        if frame.audio is not None:
            audio_s = max(0, frame.audio.offset - data_offset) / (frame_bytes * rate)
            cues.append(Cue(audio_s, max(0.0, frame.t_ms - anchor_ms) / 1000.0))
    return Speech(samples, sample_rate, chars, starts, ends, cues or None)


def resample(samples: Samples, rate: int, target: int) -> Samples:
    """Linear interpolation: plenty for test audio."""
    if rate == target or samples.size == 0:
        return samples
    count = max(1, math.floor(samples.size * target / rate))
    positions = np.arange(count) * (rate / target)
    out: Samples = np.interp(positions, np.arange(samples.size), samples).astype(np.float32)
    return out


# --- Test helpers ---


def loaded_fixtures(journal: Journal) -> dict[str, list[str]]:
    """Fixtures some connection replayed, with the connection ids that did."""
    out: dict[str, list[str]] = {}
    for entry in journal.select(direction="event", kind=EV_FIXTURE):
        out.setdefault(entry.data["name"], []).append(entry.conn_id)
    return out


def unconsumed_fixtures(journal: Journal) -> list[str]:
    """Loaded fixtures not fully replayed: an STT session stopped early, or a TTS recording
    some of whose streams no client asked for."""
    consumed = {e.data["name"] for e in journal.select(direction="event", kind=EV_CONSUMED)}
    tts_used: dict[str, set[int]] = {}
    tts_total: dict[str, int] = {}
    for entry in journal.select(direction="event", kind=EV_FIXTURE):
        if entry.data.get("endpoint") == "tts":
            tts_used.setdefault(entry.data["name"], set()).add(entry.data["stream"])
            tts_total[entry.data["name"]] = entry.data["streams"]
    consumed |= {name for name, used in tts_used.items() if len(used) >= tts_total[name]}
    return sorted(name for name in loaded_fixtures(journal) if name not in consumed)


def assert_fixtures_consumed(journal: Journal, *, allow: Iterable[str] = ()) -> None:
    """Fail when a fixture a test loaded was not fully replayed (``allow`` lists exceptions)."""
    left = [name for name in unconsumed_fixtures(journal) if name not in set(allow)]
    if left:
        loaded = loaded_fixtures(journal)
        detail = "; ".join(f"{n} (connections {', '.join(loaded[n])})" for n in left)
        raise AssertionError(f"fixtures not fully consumed: {detail}")
