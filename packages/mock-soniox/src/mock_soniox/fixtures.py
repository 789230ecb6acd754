"""Recorded fixtures: one websocket connection per JSON Lines file, audio in WAV side files.

The format is documented in FIXTURES.md. Every line is checked against a JSON Schema on load, and a
fixture that still carries an API key is refused: keys are scrubbed when recording, so one that
slipped through means the file was edited by hand or written by something else.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import jsonschema

from .audio import RAW_FORMATS, parse_wav_header, wav_header

SCHEMA_VERSION = 1
FORMAT_NAME = "soniox-ws-fixture"
REDACTED = "REDACTED"
LIBRARY_DIR = Path(__file__).parent / "library"
MARKERS = ("<end>", "<fin>")

Direction = Literal["c2s", "s2c"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_AUDIO_REF = {
    "type": "object",
    "required": ["file", "offset", "bytes"],
    "additionalProperties": False,
    "properties": {
        "file": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
        "offset": {"type": "integer", "minimum": 0},
        "bytes": {"type": "integer", "minimum": 0},
    },
}

HEADER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mock-soniox fixture header (first line)",
    "type": "object",
    "required": ["format", "schema_version", "endpoint", "recorded_at", "redactions"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT_NAME},
        "schema_version": {"const": SCHEMA_VERSION},
        "endpoint": {"enum": ["stt", "tts"]},
        "recorded_at": {"type": "string", "format": "date-time"},
        "model": {"type": ["string", "null"]},
        "audio_format": {"type": ["string", "null"]},
        "sample_rate": {"type": ["integer", "null"], "minimum": 1},
        "num_channels": {"type": ["integer", "null"], "minimum": 1},
        "notes": {"type": "string"},
        "source": {"type": "string"},
        "redactions": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "side_files": {
            "type": "object",
            "propertyNames": {"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
            "additionalProperties": {
                "type": "object",
                "required": ["format", "wrapped"],
                "additionalProperties": False,
                "properties": {
                    "format": {"type": "string"},
                    "sample_rate": {"type": ["integer", "null"]},
                    "channels": {"type": ["integer", "null"]},
                    "wrapped": {"type": "boolean"},
                    "stream_id": {"type": ["string", "null"]},
                },
            },
        },
    },
}

FRAME_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mock-soniox fixture frame (every line after the header)",
    "type": "object",
    "required": ["t_ms", "dir", "kind"],
    "additionalProperties": False,
    "properties": {
        "t_ms": {"type": "number", "minimum": 0},
        "dir": {"enum": ["c2s", "s2c"]},
        "kind": {"enum": ["text", "binary", "close"]},
        "json": {},
        "text": {"type": "string"},
        "audio": _AUDIO_REF,
        "audio_ms": {"type": "number", "minimum": 0},
        "stream_id": {"type": "string"},
        "code": {"type": "integer"},
        "reason": {"type": "string"},
    },
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "text"}}},
            "then": {"oneOf": [{"required": ["json"]}, {"required": ["text"]}]},
        },
        {"if": {"properties": {"kind": {"const": "binary"}}}, "then": {"required": ["audio"]}},
        {"if": {"properties": {"kind": {"const": "close"}}}, "then": {"required": ["code"]}},
    ],
}

_header_validator = jsonschema.Draft202012Validator(HEADER_SCHEMA)
_frame_validator = jsonschema.Draft202012Validator(FRAME_SCHEMA)

# Secrets: these keys may only ever hold REDACTED; these string shapes may appear nowhere.
_SECRET_KEYS = {"api_key", "apikey", "authorization", "x-api-key", "soniox-api-key"}
_SECRET_VALUE = re.compile(r"^\s*Bearer\s+\S+", re.IGNORECASE)


class FixtureError(ValueError):
    """A fixture file that is malformed, inconsistent, or carries a secret."""


@dataclass(frozen=True)
class AudioRef:
    file: str
    offset: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "bytes": self.bytes}


@dataclass(frozen=True)
class Frame:
    """One recorded websocket frame."""

    t_ms: float
    dir: Direction
    kind: str  # text | binary | close
    json: Any = None  # parsed JSON of a text frame (with ``audio`` taken out to a side file)
    text: str | None = None  # a text frame that is not JSON (the STT finish frame is "")
    audio: AudioRef | None = None
    audio_ms: float | None = None  # STT: the client's audio clock when this frame passed
    stream_id: str | None = None
    code: int | None = None
    reason: str | None = None

    @property
    def is_json(self) -> bool:
        return self.kind == "text" and self.text is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t_ms": round(self.t_ms, 1), "dir": self.dir, "kind": self.kind}
        if self.kind == "text":
            if self.text is not None:
                out["text"] = self.text
            else:
                out["json"] = self.json
        if self.audio is not None:
            out["audio"] = self.audio.to_json()
        if self.audio_ms is not None:
            out["audio_ms"] = round(self.audio_ms, 1)
        if self.stream_id is not None:
            out["stream_id"] = self.stream_id
        if self.code is not None:
            out["code"] = self.code
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Frame:
        ref = obj.get("audio")
        return cls(
            t_ms=float(obj["t_ms"]),
            dir=obj["dir"],
            kind=obj["kind"],
            json=obj.get("json"),
            text=obj.get("text"),
            audio=AudioRef(ref["file"], ref["offset"], ref["bytes"]) if ref else None,
            audio_ms=obj.get("audio_ms"),
            stream_id=obj.get("stream_id"),
            code=obj.get("code"),
            reason=obj.get("reason"),
        )


@dataclass
class Fixture:
    """A loaded fixture: header, frames, and its side files' audio (read once, kept)."""

    name: str
    path: Path
    header: dict[str, Any]
    frames: list[Frame]
    _side_cache: dict[str, bytes] = field(default_factory=dict, repr=False)
    # What replay derives from this fixture (fingerprint, decoded speech): it lives and dies with
    # the loaded fixture, so a re-recorded file is never served from an older one's data.
    derived: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        return str(self.header["endpoint"])

    @property
    def directory(self) -> Path:
        return self.path.parent

    def side_file_path(self, file: str) -> Path:
        return self.directory / file

    def side_payload(self, file: str) -> bytes:
        """The audio bytes of a side file (the data chunk of a WAV we wrapped)."""
        if file not in self._side_cache:
            raw = self.side_file_path(file).read_bytes()
            meta = self.header.get("side_files", {}).get(file, {})
            if meta.get("wrapped"):
                info = parse_wav_header(raw)
                if info is None:
                    raise FixtureError(f"{self.name}: side file {file} is not a WAV file")
                raw = raw[info.data_offset :]
            self._side_cache[file] = raw
        return self._side_cache[file]

    def audio_of(self, frame: Frame) -> bytes:
        if frame.audio is None:
            return b""
        payload = self.side_payload(frame.audio.file)
        return payload[frame.audio.offset : frame.audio.offset + frame.audio.bytes]

    def restore(self, frame: Frame) -> dict[str, Any]:
        """A server text frame as it went on the wire (base64 audio put back)."""
        data = dict(frame.json)
        if frame.audio is not None:
            data["audio"] = base64.b64encode(self.audio_of(frame)).decode("ascii")
        return data

    # --- STT views ---

    @cached_property
    def config(self) -> dict[str, Any] | None:
        """The STT session config (the first client JSON frame)."""
        for frame in self.frames:
            if frame.dir == "c2s" and frame.is_json and isinstance(frame.json, dict):
                return frame.json
        return None

    @property
    def input_audio_file(self) -> str | None:
        for frame in self.frames:
            if frame.dir == "c2s" and frame.kind == "binary" and frame.audio is not None:
                return frame.audio.file
        return None

    def input_audio(self) -> bytes:
        """Everything the client streamed, in order."""
        return b"".join(self.audio_of(f) for f in self.frames if f.dir == "c2s" and f.audio)

    def results(self) -> Iterator[dict[str, Any]]:
        for frame in self.frames:
            if frame.dir == "s2c" and frame.is_json and isinstance(frame.json, dict):
                yield frame.json

    def final_tokens(self) -> list[dict[str, Any]]:
        return [
            t
            for result in self.results()
            for t in result.get("tokens") or []
            if isinstance(t, dict) and t.get("is_final")
        ]

    @property
    def transcript(self) -> str:
        """The final spoken text a client ends up with (markers and translations left out)."""
        return _join(t for t in self.final_tokens() if t.get("translation_status") != "translation")

    @property
    def translation(self) -> str:
        return _join(t for t in self.final_tokens() if t.get("translation_status") == "translation")

    # --- TTS views ---

    def tts_streams(self) -> list[RecordedStream]:
        return self._tts_streams

    @cached_property
    def _tts_streams(self) -> list[RecordedStream]:
        """Worked out once: replay asks for them on every TTS stream, and frames never change."""
        return tts_streams(self)

    @property
    def duration_ms(self) -> float:
        if self.endpoint == "stt":
            clock = [f.audio_ms for f in self.frames if f.audio_ms is not None]
            return round(max(clock, default=0.0), 1)
        return round(sum(stream.audio_ms for stream in self.tts_streams()), 1)

    def summary(self) -> dict[str, Any]:
        """What ``mock-soniox fixtures list --json`` prints for this fixture."""
        out: dict[str, Any] = {
            "name": self.name,
            "endpoint": self.endpoint,
            "duration_ms": self.duration_ms,
            "path": str(self.path),
            "model": self.header.get("model"),
            "notes": self.header.get("notes", ""),
        }
        if self.endpoint == "stt":
            audio_file = self.input_audio_file
            out["audio"] = str(self.side_file_path(audio_file)) if audio_file else None
            out["audio_format"] = self.header.get("audio_format")
            out["sample_rate"] = self.header.get("sample_rate")
            out["num_channels"] = self.header.get("num_channels")
            out["config"] = self.config
            out["transcript"] = self.transcript
            if self.translation:
                out["translation"] = self.translation
        else:
            out["streams"] = [
                {
                    "model": s.key[0],
                    "voice": s.key[1],
                    "language": s.key[2],
                    "text": s.key[3],
                    "audio_format": s.config.get("audio_format"),
                    "sample_rate": s.config.get("sample_rate"),
                    "duration_ms": round(s.audio_ms, 1),
                    "audio": str(self.side_file_path(s.audio_file)) if s.audio_file else None,
                }
                for s in self.tts_streams()
            ]
        return out


def _join(tokens: Iterable[dict[str, Any]]) -> str:
    return "".join(str(t.get("text", "")) for t in tokens if t.get("text") not in MARKERS).strip()


@dataclass
class RecordedStream:
    """One TTS stream of a recording: its config, its text, and its server frames in order."""

    ordinal: int
    stream_id: str
    config: dict[str, Any]
    text: str = ""
    frames: list[Frame] = field(default_factory=list)  # s2c frames of this stream
    audio_file: str | None = None
    audio_bytes: int = 0
    start_t_ms: float = 0.0
    first_text_t_ms: float | None = None  # the first non-empty text
    text_end_t_ms: float | None = None

    @property
    def audio_anchor_t_ms(self) -> float:
        """What the recorded time to first audio counts from: ``text_end`` when it came before
        the first audio, else the first text (else the config)."""
        audio = next((f.t_ms for f in self.frames if f.audio is not None), None)
        if self.text_end_t_ms is not None and (audio is None or self.text_end_t_ms <= audio):
            return self.text_end_t_ms
        if self.first_text_t_ms is not None:
            return self.first_text_t_ms
        return self.start_t_ms

    @property
    def key(self) -> tuple[str, str, str, str]:
        return tts_key(self.config, self.text)

    @property
    def audio_ms(self) -> float:
        fmt = str(self.config.get("audio_format", "pcm_s16le"))
        rate = int(self.config.get("sample_rate") or 24000)
        if fmt in RAW_FORMATS:
            return self.audio_bytes * 1000.0 / (RAW_FORMATS[fmt].width * rate)
        if fmt == "wav":
            return max(0, self.audio_bytes - 44) * 1000.0 / (2 * rate)
        return 0.0


def tts_key(config: dict[str, Any], text: str) -> tuple[str, str, str, str]:
    """How a TTS stream is matched on replay: (model, voice, language, text)."""
    return (
        str(config.get("model", "")),
        str(config.get("voice", "")),
        str(config.get("language", "")),
        normalize_text(text),
    )


def normalize_text(text: str) -> str:
    return " ".join(text.split())


def tts_streams(fixture: Fixture) -> list[RecordedStream]:
    """Split a TTS recording into its streams (a stream_id may be reused after ``terminated``)."""
    active: dict[str, RecordedStream] = {}
    done: list[RecordedStream] = []
    ordinal = 0
    for frame in fixture.frames:
        data = frame.json if frame.is_json and isinstance(frame.json, dict) else None
        if data is None:
            continue
        sid = data.get("stream_id")
        if not isinstance(sid, str):
            continue
        stream = active.get(sid)
        if frame.dir == "c2s":
            if stream is None and "model" in data:
                ordinal += 1
                stream = RecordedStream(ordinal, sid, dict(data), start_t_ms=frame.t_ms)
                active[sid] = stream
            if stream is not None and isinstance(data.get("text"), str):
                stream.text += data["text"]
                if data["text"] and stream.first_text_t_ms is None:
                    stream.first_text_t_ms = frame.t_ms
            if stream is not None and data.get("text_end") is True and stream.text_end_t_ms is None:
                stream.text_end_t_ms = frame.t_ms
        elif stream is not None:
            stream.frames.append(frame)
            if frame.audio is not None:
                stream.audio_file = frame.audio.file
                stream.audio_bytes += frame.audio.bytes
            if data.get("terminated"):
                done.append(active.pop(sid))
    done.extend(active.values())
    done.sort(key=lambda s: s.ordinal)
    return done


# --- Secrets ---


def find_secrets(obj: Any) -> list[str]:
    """Paths of values that look like credentials (anything but REDACTED under a secret key)."""
    return scrub(obj)[1]


def scrub(obj: Any) -> tuple[Any, list[str]]:
    """A copy with every secret-keyed value replaced by REDACTED, and the paths replaced."""
    paths: list[str] = []

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, sub in value.items():
                sub_path = f"{path}.{key}" if path else str(key)
                if str(key).lower() in _SECRET_KEYS and sub not in (None, "", REDACTED):
                    out[key] = REDACTED
                    paths.append(sub_path)
                else:
                    out[key] = walk(sub, sub_path)
            return out
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and _SECRET_VALUE.match(value):
            paths.append(path or "<value>")
            return REDACTED
        return value

    return walk(obj, ""), paths


# --- Loading ---


def load_fixture(path: str | Path) -> Fixture:
    """Parse, schema-check and secret-check one ``.jsonl`` fixture; size-check its side files."""
    path = Path(path)
    name = path.stem
    if not re.match(_NAME, name):
        raise FixtureError(f"{path}: fixture names use letters, digits, '_', '-' and '.'")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FixtureError(f"{path}: cannot read: {exc}") from exc
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise FixtureError(f"{path}: empty file")
    parsed: list[Any] = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise FixtureError(f"{path}:{number}: not JSON: {exc.msg}") from exc
    header = parsed[0]
    _check(_header_validator, header, f"{path}:1 (header)")
    frames: list[Frame] = []
    for number, obj in enumerate(parsed[1:], 2):
        _check(_frame_validator, obj, f"{path}:{number}")
        frames.append(Frame.from_json(obj))
    secrets = find_secrets(parsed)
    if secrets:
        raise FixtureError(
            f"{path}: refusing a fixture that contains a secret at {', '.join(secrets[:3])}"
            " (record with mock-soniox record, which scrubs keys, or replace the value with"
            f" {REDACTED!r})"
        )
    fixture = Fixture(name, path, header, frames)
    _check_side_files(fixture)
    return fixture


def _check(validator: jsonschema.Draft202012Validator, obj: Any, where: str) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise FixtureError(f"{where}: {at}: {error.message}")


def _check_side_files(fixture: Fixture) -> None:
    declared = fixture.header.get("side_files", {})
    for frame in fixture.frames:
        if frame.audio is None:
            continue
        file = frame.audio.file
        if file not in declared:
            raise FixtureError(f"{fixture.path}: side file {file} is not declared in the header")
        if not fixture.side_file_path(file).is_file():
            raise FixtureError(f"{fixture.path}: side file {file} is missing")
    for file in declared:
        size = len(fixture.side_payload(file))
        used = max(
            (
                f.audio.offset + f.audio.bytes
                for f in fixture.frames
                if f.audio and f.audio.file == file
            ),
            default=0,
        )
        if used > size:
            raise FixtureError(f"{fixture.path}: frames reference {used} bytes of {file} ({size})")


def iter_fixture_paths(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).glob("*.jsonl"))


def load_directory(directory: str | Path) -> dict[str, Fixture]:
    """Every fixture in a directory, by name; the first bad file raises :class:`FixtureError`."""
    return {path.stem: load_fixture(path) for path in iter_fixture_paths(directory)}


def validate_directory(directory: str | Path) -> tuple[list[str], list[str]]:
    """Check every fixture; returns (names that passed, error messages)."""
    ok: list[str] = []
    errors: list[str] = []
    paths = iter_fixture_paths(directory)
    if not paths:
        errors.append(f"{directory}: no *.jsonl fixtures found")
    for path in paths:
        try:
            load_fixture(path)
        except FixtureError as exc:
            errors.append(str(exc))
        else:
            ok.append(path.stem)
    return ok, errors


class Library:
    """The fixtures a server replays: the bundled library, overridden by a user directory."""

    def __init__(self, fixtures: dict[str, Fixture]) -> None:
        self.fixtures = fixtures

    @classmethod
    def load(cls, extra_dir: str | Path | None = None, *, bundled: bool = True) -> Library:
        fixtures: dict[str, Fixture] = {}
        if bundled and LIBRARY_DIR.is_dir():
            fixtures.update(load_directory(LIBRARY_DIR))
        if extra_dir is not None and Path(extra_dir).is_dir():
            fixtures.update(load_directory(extra_dir))
        return cls(fixtures)

    def get(self, name: str) -> Fixture | None:
        return self.fixtures.get(name)

    def names(self, endpoint: str | None = None) -> list[str]:
        return sorted(n for n, f in self.fixtures.items() if endpoint in (None, f.endpoint))

    def of(self, endpoint: str) -> list[Fixture]:
        return [self.fixtures[n] for n in self.names(endpoint)]


_library_cache: dict[tuple[str | None, bool], tuple[float, Library]] = {}


def library_for(extra_dir: str | None, *, bundled: bool = True) -> Library:
    """A cached :class:`Library`; reloaded when the user directory changes."""
    stamp = _dir_stamp(extra_dir)
    key = (extra_dir, bundled)
    cached = _library_cache.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, Library.load(extra_dir, bundled=bundled))
        _library_cache[key] = cached
    return cached[1]


def _dir_stamp(directory: str | None) -> float:
    if directory is None or not Path(directory).is_dir():
        return 0.0
    paths = iter_fixture_paths(directory)
    return sum(p.stat().st_mtime for p in paths) + len(paths)


# --- Writing ---


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# Raw formats a WAV header can describe; other raw formats are stored headerless as .raw.
_WAV_WRAPPABLE = {"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_u8", "pcm_f32le", "pcm_f64le"}
_WAV_WRAPPABLE |= {"mulaw", "alaw", "pcm_mulaw", "pcm_alaw"}


def side_extension(fmt: str) -> tuple[str, bool]:
    """File extension for audio in ``fmt`` and whether we wrap it in a WAV header ourselves."""
    if fmt in _WAV_WRAPPABLE:
        return "wav", True
    if fmt in RAW_FORMATS:
        return "raw", False
    return {"wav": "wav", "mp3": "mp3", "opus": "ogg", "flac": "flac", "aac": "aac"}.get(
        fmt, "bin"
    ), False


class FixtureWriter:
    """Builds one fixture frame by frame, scrubbing secrets, then writes it out.

    Kept in memory until :meth:`write` (a connection's worth of frames and audio), so the caller
    can write from a thread and never block an event loop on file I/O.
    """

    def __init__(
        self,
        name: str,
        endpoint: str,
        *,
        model: str | None = None,
        notes: str = "",
        source: str = "recorded",
        recorded_at: str | None = None,
    ) -> None:
        if not re.match(_NAME, name):
            raise ValueError(f"bad fixture name {name!r}")
        self.name = name
        self.header: dict[str, Any] = {
            "format": FORMAT_NAME,
            "schema_version": SCHEMA_VERSION,
            "endpoint": endpoint,
            "recorded_at": recorded_at or now_iso(),
            "model": model,
            "audio_format": None,
            "sample_rate": None,
            "num_channels": None,
            "notes": notes,
            "source": source,
            "redactions": [],
            "side_files": {},
        }
        self.frames: list[Frame] = []
        self._audio: dict[str, bytearray] = {}
        self._stream_files: dict[str, str] = {}  # active TTS stream_id -> its side file
        self._stream_count = 0

    # --- header ---

    def redacted(self, what: str) -> None:
        if what not in self.header["redactions"]:
            self.header["redactions"].append(what)

    def set_audio_format(
        self, fmt: str | None, sample_rate: int | None, channels: int | None
    ) -> None:
        self.header.update(audio_format=fmt, sample_rate=sample_rate, num_channels=channels)

    # --- frames ---

    def add_text(
        self,
        direction: Direction,
        t_ms: float,
        data: str,
        *,
        audio_ms: float | None = None,
    ) -> Frame:
        """A text frame as it crossed the wire; JSON is parsed, scrubbed, audio moved aside."""
        try:
            parsed = json.loads(data) if data.strip() else None
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            scrubbed_text = REDACTED if _SECRET_VALUE.match(data) else data
            frame = Frame(t_ms, direction, "text", text=scrubbed_text, audio_ms=audio_ms)
            self.frames.append(frame)
            return frame
        return self.add_json(direction, t_ms, parsed, audio_ms=audio_ms)

    def add_json(
        self,
        direction: Direction,
        t_ms: float,
        obj: dict[str, Any],
        *,
        audio_ms: float | None = None,
    ) -> Frame:
        clean, paths = scrub(obj)
        for path in paths:
            self.redacted(f"{'config' if direction == 'c2s' else 'server'}.{path}")
        sid = clean.get("stream_id") if isinstance(clean.get("stream_id"), str) else None
        ref: AudioRef | None = None
        if self.header["endpoint"] == "tts" and sid is not None:
            if direction == "c2s" and "model" in clean and sid not in self._stream_files:
                self._open_stream(sid, clean)
            audio = clean.get("audio")
            if direction == "s2c" and isinstance(audio, str) and sid in self._stream_files:
                try:
                    raw = base64.b64decode(audio, validate=True)
                except (binascii.Error, ValueError):
                    raw = None
                if raw is not None:
                    del clean["audio"]
                    ref = self._append(self._stream_files[sid], raw)
            if direction == "s2c" and clean.get("terminated"):
                self._stream_files.pop(sid, None)
        frame = Frame(
            t_ms, direction, "text", json=clean, audio=ref, audio_ms=audio_ms, stream_id=sid
        )
        self.frames.append(frame)
        return frame

    def add_binary(
        self, direction: Direction, t_ms: float, data: bytes, *, audio_ms: float | None = None
    ) -> Frame:
        """STT audio: appended to the connection's input side file."""
        fmt = self.header["audio_format"] or "bin"
        ext, wrapped = side_extension(fmt)  # "auto" and unknown formats: .bin as sent
        file = f"{self.name}.{ext}"
        if file not in self.header["side_files"]:
            self.header["side_files"][file] = {
                "format": fmt,
                "sample_rate": self.header["sample_rate"],
                "channels": self.header["num_channels"],
                "wrapped": wrapped,
                "stream_id": None,
            }
        ref = self._append(file, data)
        frame = Frame(t_ms, direction, "binary", audio=ref, audio_ms=audio_ms)
        self.frames.append(frame)
        return frame

    def add_close(self, direction: Direction, t_ms: float, code: int, reason: str = "") -> Frame:
        frame = Frame(t_ms, direction, "close", code=code, reason=reason or None)
        self.frames.append(frame)
        return frame

    def _open_stream(self, sid: str, config: dict[str, Any]) -> None:
        self._stream_count += 1
        fmt = str(config.get("audio_format", "pcm_s16le"))
        ext, wrapped = side_extension(fmt)
        file = f"{self.name}.s{self._stream_count}.{ext}"
        rate = config.get("sample_rate")
        self.header["side_files"][file] = {
            "format": fmt,
            "sample_rate": rate if isinstance(rate, int) else None,
            "channels": 1,
            "wrapped": wrapped,
            "stream_id": sid,
        }
        self._stream_files[sid] = file
        if self.header["audio_format"] is None:
            self.set_audio_format(fmt, rate if isinstance(rate, int) else None, 1)
        if self.header["model"] is None and isinstance(config.get("model"), str):
            self.header["model"] = config["model"]

    def _append(self, file: str, data: bytes) -> AudioRef:
        buf = self._audio.setdefault(file, bytearray())
        ref = AudioRef(file, len(buf), len(data))
        buf.extend(data)
        return ref

    # --- output ---

    def lines(self) -> list[str]:
        header = dict(self.header)
        if not header["side_files"]:
            del header["side_files"]
        out = [json.dumps(header, ensure_ascii=False, separators=(",", ":"))]
        out.extend(
            json.dumps(f.to_json(), ensure_ascii=False, separators=(",", ":")) for f in self.frames
        )
        return out

    def write(self, directory: str | Path) -> Path:
        """Write ``NAME.jsonl`` and its side files (blocking: call it from a thread in a loop)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for file, meta in self.header["side_files"].items():
            data = bytes(self._audio.get(file, b""))
            if meta["wrapped"]:
                data = (
                    wav_header(
                        meta["format"],
                        meta["sample_rate"] or 16000,
                        meta["channels"] or 1,
                        len(data),
                    )
                    + data
                )
            (directory / file).write_bytes(data)
        path = directory / f"{self.name}.jsonl"
        path.write_text("\n".join(self.lines()) + "\n", encoding="utf-8")
        return path
