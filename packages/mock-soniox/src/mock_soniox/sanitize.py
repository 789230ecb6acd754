"""Making client-supplied data safe to keep, log or echo: no keys, no unbounded size or depth.

Everything the mock stores or repeats from a client passes through here: the journal
(:func:`journal_view`), fixtures (:func:`redact`, :func:`redact_text`), log lines and error
messages that name a client's id or type (:func:`for_message`).
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "REDACTED"

# Keys whose values are credentials, wherever they appear (compared case-insensitively).
SECRET_KEYS = frozenset({"api_key", "apikey", "authorization", "x-api-key", "soniox-api-key"})
_BEARER = re.compile(r"\bBearer\s+[^\s\"',;]+", re.IGNORECASE)
# A secret key and its string value inside text that is not (or not valid) JSON.
_KEYED_VALUE = re.compile(
    r"""(["']?(?:api_?key|authorization|x-api-key|soniox-api-key)["']?\s*[:=]\s*["']?)"""
    r"""((?:Bearer\s+)?[^"'\s,}]+)""",
    re.IGNORECASE,
)

# Bounds of what the journal keeps of one frame, and of a client value echoed in a message.
MAX_STRING_CHARS = 2048
MAX_ITEMS = 1000
MAX_DEPTH = 32
MAX_ECHO_CHARS = 64


def redact_text(text: str) -> tuple[str, int]:
    """``text`` with every credential-looking value replaced by REDACTED, and how many."""
    count = 0

    def keyed(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(2).split()[-1] == REDACTED:
            return match.group(0)
        count += 1
        return match.group(1) + REDACTED

    def bearer(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0).split()[-1] == REDACTED:
            return match.group(0)
        count += 1
        return "Bearer " + REDACTED

    text = _KEYED_VALUE.sub(keyed, text)
    return _BEARER.sub(bearer, text), count


def redact(obj: Any) -> tuple[Any, list[str]]:
    """A copy of ``obj`` with every secret replaced by REDACTED, and the paths replaced.

    Secret-keyed values at any depth, ``Bearer`` tokens and keyed values inside any string.
    """
    paths: list[str] = []

    def walk(value: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            return value  # journal_view cuts it; fixtures refuse such depth at the schema
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, sub in value.items():
                sub_path = f"{path}.{key}" if path else str(key)
                if str(key).lower() in SECRET_KEYS and sub not in (None, "", REDACTED):
                    out[key] = REDACTED
                    paths.append(sub_path)
                else:
                    out[key] = walk(sub, sub_path, depth + 1)
            return out
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if isinstance(value, str):
            cleaned, count = redact_text(value)
            if count:
                paths.append(path or "<value>")
            return cleaned
        return value

    return walk(obj, "", 0), paths


def journal_view(data: Any) -> tuple[Any, int]:
    """What the journal keeps of ``data``: redacted, strings, containers and depth bounded.

    Returns the view and its approximate size in bytes (what the journal's byte cap counts).
    """
    size = 0

    def walk(value: Any, depth: int) -> Any:
        nonlocal size
        if isinstance(value, str):
            extra = len(value) - MAX_STRING_CHARS
            value, _ = redact_text(value[:MAX_STRING_CHARS])  # cut first: redaction is O(length)
            if extra > 0:
                value += f"...[{extra} more chars]"
            size += 50 + len(value)
            return value
        if not isinstance(value, dict | list):
            size += 24
            return value
        if depth >= MAX_DEPTH:
            size += 40
            return "...[nested too deep]"
        size += 64
        if isinstance(value, list):
            kept = [walk(v, depth + 1) for v in value[:MAX_ITEMS]]
            if len(value) > MAX_ITEMS:
                kept.append(f"...[{len(value) - MAX_ITEMS} more items]")
            return kept
        out: dict[Any, Any] = {}
        for i, (key, sub) in enumerate(value.items()):
            if i == MAX_ITEMS:
                out["..."] = f"[{len(value) - MAX_ITEMS} more keys]"
                break
            name = str(key)[:MAX_STRING_CHARS]
            size += 50 + len(name)
            secret = name.lower() in SECRET_KEYS and sub not in (None, "", REDACTED)
            out[name] = REDACTED if secret else walk(sub, depth + 1)
        return out

    return walk(data, 0), size


def for_message(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """A client-supplied value as it may appear in an error message or a log line.

    Control characters are escaped (no forged log lines) and the length is bounded.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
