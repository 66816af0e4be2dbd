"""Configuration files: TOML, with environment overrides and clear errors.

Every role reads one TOML file. Any scalar `key` of a table `[section]` can be overridden
by the environment variable `VUORO_SECTION_KEY` (upper case, dots and dashes as `_`),
e.g. `VUORO_MQTT_PORT=8883` or `VUORO_SCHEDULER_DATABASE=postgresql+psycopg://...`. Values
from the environment are read as TOML values when they parse as such (numbers, booleans,
quoted strings, arrays) and as plain strings otherwise.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ENV_PREFIX = "VUORO_"
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""


def read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def _env_value(raw: str, text: bool = False) -> Any:
    try:
        value = tomllib.loads(f"x = {raw}")["x"]
    except tomllib.TOMLDecodeError:
        return raw
    # A text setting stays text: VUORO_MQTT_PASSWORD=12345678 is not the number 12345678.
    return raw if text and not isinstance(value, str) else value


def _norm(name: str) -> str:
    return name.upper().replace("-", "_").replace(".", "_")


def apply_env(
    data: dict[str, Any],
    env: Mapping[str, str] | None = None,
    known: Mapping[str, Iterable[str]] | None = None,
    text: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Override `[section] key` by `VUORO_SECTION_KEY`; unknown variables are ignored.

    `known` names keys per section that the environment may set even where the file
    leaves them out (the fields of the config model); `text` names the keys whose values
    are strings (read as given unless quoted).
    """
    env = os.environ if env is None else env
    wanted = {k[len(ENV_PREFIX) :]: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    if not wanted:
        return data
    known = known or {}
    for section in set(data) | set(known):
        table = data.get(section)
        if table is None and section in known:
            table = data[section] = {}
        if not isinstance(table, dict):
            continue
        for key in set(table) | set(known.get(section, ())):
            name = f"{_norm(section)}_{_norm(key)}"
            if name in wanted:
                table[key] = _env_value(wanted[name], key in set((text or {}).get(section, ())))
    return data


def validate(model: type[M], data: Any, source: str) -> M:
    """Validate `data` into `model`, turning pydantic's errors into one readable message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines)) from None


def load(model: type[M], path: str | Path, env: Mapping[str, str] | None = None) -> M:
    """Read `path`, apply environment overrides, validate into `model`."""
    data = read_toml(path)
    sections = {
        section: field.annotation.model_fields
        for section, field in model.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }
    known = {section: tuple(fields) for section, fields in sections.items()}
    text = {
        section: tuple(k for k, f in fields.items() if f.annotation in (str, str | None))
        for section, fields in sections.items()
    }
    return validate(model, apply_env(data, env, known, text), str(path))
