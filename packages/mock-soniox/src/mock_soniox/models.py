"""The model catalogue as data: which names each endpoint accepts and what each model supports.

The bundled ``models.json`` follows Soniox's public model pages; ``Settings.models_file`` (the
``--models FILE`` flag) replaces it wholesale, so a catalogue that moved on (a model retired, a
new alias) is a file edit, not a code change. Shape: ``{"stt"|"tts": {"models": {name: {"status",
"features"}}, "aliases": {alias: name}}}`` plus ``stt.languages`` (the codes language hints and
translation accept).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

STATUSES = ("active", "retiring", "retired")


@dataclass(frozen=True)
class Model:
    name: str
    status: str
    features: dict[str, Any] = field(default_factory=dict)

    def has(self, feature: str) -> bool:
        return bool(self.features.get(feature))


@dataclass(frozen=True)
class Endpoint:
    models: dict[str, Model]
    aliases: dict[str, str]
    languages: frozenset[str] = frozenset()

    def resolve(self, name: str) -> Model | None:
        """The model a requested name means (aliases followed); None if unknown or retired."""
        model = self.models.get(self.aliases.get(name, name))
        if model is None or model.status == "retired":
            return None
        return model

    def names(self) -> list[str]:
        """Every name a client may send, models and aliases."""
        return sorted(n for n in [*self.models, *self.aliases] if self.resolve(n) is not None)


@dataclass(frozen=True)
class Catalogue:
    stt: Endpoint
    tts: Endpoint


class CatalogueError(ValueError):
    """A models file that cannot be used, saying why."""


def load(path: str | None = None) -> Catalogue:
    """The bundled catalogue, or the one in ``path`` (cached per path)."""
    return _load(path)


@functools.lru_cache(maxsize=8)
def _load(path: str | None) -> Catalogue:
    try:
        if path is None:
            text = resources.files("mock_soniox").joinpath("models.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        raw = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"cannot read the models file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path or 'models.json'}: expected a JSON object")
    return Catalogue(_endpoint(raw, "stt"), _endpoint(raw, "tts"))


def _endpoint(raw: dict[str, Any], name: str) -> Endpoint:
    section = raw.get(name)
    if not isinstance(section, dict) or not isinstance(section.get("models"), dict):
        raise CatalogueError(f"models file: '{name}.models' must be an object")
    models: dict[str, Model] = {}
    for model_name, entry in section["models"].items():
        if not isinstance(entry, dict):
            raise CatalogueError(f"models file: {name}.models.{model_name} must be an object")
        status = entry.get("status", "active")
        if status not in STATUSES:
            raise CatalogueError(
                f"models file: {name}.models.{model_name}.status must be one of {STATUSES}"
            )
        features = entry.get("features", {})
        if not isinstance(features, dict):
            raise CatalogueError(f"models file: {name}.models.{model_name}.features: an object")
        models[model_name] = Model(model_name, status, dict(features))
    aliases = section.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
        isinstance(v, str) and v in models for v in aliases.values()
    ):
        raise CatalogueError(f"models file: every {name}.aliases value must name a model")
    languages = section.get("languages", [])
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        raise CatalogueError(f"models file: {name}.languages must be a list of codes")
    return Endpoint(models, dict(aliases), frozenset(x.lower() for x in languages))
