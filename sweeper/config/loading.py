"""``search_spaces/*.yaml`` plus ``key=value`` overrides → :class:`~sweeper.config.sweep.SweepConfig`, with errors that name the file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from sweeper.config.sweep import SweepConfig
from sweeper.errors import ConfigError, did_you_mean


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a raw config mapping (values parsed as YAML).

    Raises:
        ConfigError: an override lacks ``=`` or descends into a non-mapping value.
    """
    result = json.loads(json.dumps(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. target.learning_rate=2e-5")
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(text)
    return result


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = [f"invalid sweep configuration {source}:"]
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            parent_fields = _fields_at(problem["loc"][:-1])
            message = f"unknown key.{did_you_mean(str(problem['loc'][-1]), parent_fields)}"
        value = f" (got {problem['input']!r})" if problem["type"] != "missing" and "input" in problem else ""
        lines.append(f"  - {location}: {message}{value}")
    return "\n".join(lines)


def _fields_at(location: tuple) -> list[str]:
    model: type[BaseModel] = SweepConfig
    for part in location:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def load_config(path: Path, overrides: list[str] = ()) -> SweepConfig:
    """Read a sweep YAML, apply overrides and validate.

    Raises:
        ConfigError: file missing, YAML malformed, unknown keys (with did-you-mean), wrong types
            or values (e.g. a non-positive ``learning_rate``), each naming the field.
    """
    if not path.is_file():
        raise ConfigError(f"sweep configuration {path} does not exist (see search_spaces/ for examples)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(raw).__name__}")
    return validate_mapping(apply_overrides(raw, list(overrides)), str(path))


def validate_mapping(raw: dict[str, Any], source: str) -> SweepConfig:
    """Validate a raw config mapping read from ``source`` (a file, or e.g. a sweep's saved ``config.json``).

    Raises:
        ConfigError: unknown keys (with did-you-mean), wrong types or values, each naming the field.
    """
    try:
        return SweepConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(source, error)) from error
