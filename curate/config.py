"""The one config loader: YAML file -> `--set key=value` overrides -> dataclasses, for every
config kind (annotation, classifier, LM; pipeline specs share the YAML and --set parts).

Errors name the file, the key and what is allowed. A key that was renamed (so that one thing has
one name across configs: `learning_rate`, `batch_size`) is still read, with a warning naming the
new name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from curate.errors import CurateError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ConfigError(CurateError, ValueError):
    """A config that cannot be used, with the file and key that make it so."""


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML mapping from `path` (an empty file is an empty mapping)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {kind}")
    return data


def apply_sets(data: dict[str, Any], sets: typing.Iterable[str], where: str = "--set") -> None:
    """`key=value` items (dotted keys reach into sections; values are YAML: 3, true, [a, b])."""
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}: expected key=value, got {item!r}")
        set_key(data, key, yaml.safe_load(value), where)


def set_key(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Dotted keys reach into sections; a number reaches into a list by position, counted from 1
    as a spec numbers its steps (`steps.9.score_filter.thresholds`)."""
    node: Any = data
    *parents, last = key.split(".")
    for part in parents:
        node = (
            list_item(node, part, key, where)
            if isinstance(node, list)
            else node.setdefault(part, {})
        )
        if not isinstance(node, dict | list):
            raise ConfigError(f"{where} {key}: {part} is not a section")
    if isinstance(node, list):
        index = list_position(node, last, key, where)
        node[index] = value
    else:
        node[last] = value


def list_position(node: list, part: str, key: str, where: str) -> int:
    if not part.isdigit() or not 1 <= int(part) <= len(node):
        raise ConfigError(f"{where} {key}: {part!r} is not a position 1..{len(node)} in the list")
    return int(part) - 1


def list_item(node: list, part: str, key: str, where: str) -> Any:
    return node[list_position(node, part, key, where)]


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    """`cls(**values)`, building nested dataclass sections, refusing unknown keys and naming
    `where` (file and section) in every error."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    values = dict(values)
    for old, new in getattr(cls, "RENAMED", {}).items():
        if old in values:
            if new in values:
                raise ConfigError(f"{where}: both `{old}` and `{new}`; `{old}` is the old name")
            logger.warning("%s: `%s` is now called `%s`; please rename it", where, old, new)
            values[new] = values.pop(old)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        section = section_class(hints[name])
        if section is not None and value is not None:
            values[name] = build(section, value or {}, f"{where}.{name}")
        else:
            values[name] = coerce_number(hints[name], value, f"{where}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{where}: {err}") from err


def coerce_number(hint: Any, value: Any, where: str) -> Any:
    """Numbers for number fields: YAML 1.1 reads `1e-4` (no dot) as a string, and `3` where a
    float is meant as an int."""
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    choices = typing.get_args(hint) if optional else (hint,)
    wanted = [t for t in (float, int) if t in choices]
    if not wanted or value is None or isinstance(value, bool):
        return value
    if isinstance(value, wanted[0]):
        return value
    if isinstance(value, str | int | float):
        try:
            number = wanted[0](value)
        except ValueError:
            number = None
        if number is not None and (wanted[0] is float or float(value) == number):
            return number
    raise ConfigError(f"{where}: expected {wanted[0].__name__}, got {value!r}")


def section_class(hint: Any) -> type | None:
    """The dataclass behind a field's type (`X` or `X | None`), if any."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        return found[0] if found else None
    return None


def load(
    cls: type[T],
    path: str | os.PathLike | None,
    sets: typing.Iterable[str] = (),
    **overrides: Any,
) -> T:
    """A `cls` config from the YAML file `path` (or none), then `sets` (`key=value`), then
    `overrides` (keyword arguments from CLI options; None means not given; dotted keys as
    `section__key`)."""
    data = read_yaml(path) if path is not None else {}
    where = str(path) if path is not None else "config"
    apply_sets(data, sets, f"{where} (--set)")
    for key, value in overrides.items():
        if value is not None:
            set_key(data, key.replace("__", "."), value, where)
    return build(cls, data, where)
