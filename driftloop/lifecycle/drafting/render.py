"""A draft as YAML in the style of `data_contracts/*.yaml`: sections in the usual order, one line per
column, a `#` comment on each rule saying its evidence. `load_contract` reads it back as the same contract."""

from __future__ import annotations

import json
import re

import yaml

from driftloop.core.contract import Contract
from driftloop.lifecycle.drafting.records import Draft, number_text

# Text YAML may read back as itself unquoted (checked too: `yes`, `null` and `2013` are not themselves).
_PLAIN = re.compile(r"[A-Za-z_./][A-Za-z0-9_./-]*")
_COMMENT_AT = 64  # comments start at most this far right: a long line does not push all of them out


def render_draft(draft: Draft) -> str:
    """The draft's YAML text, commented."""
    contract, notes = draft.contract, draft.comments
    target, time, windows = contract.target, contract.time, contract.windows
    time_fields: list[tuple[str, object]] = [("column", time.column), ("timezone", time.timezone)]
    time_fields += [("period", time.period), *([("format", time.format)] if time.format is not None else [])]
    target_fields: list[tuple[str, object]] = [("name", target.name), ("column", target.column)]
    if target.positive_above is not None:
        target_fields.append(("positive_above", target.positive_above))
    if target.positive_value is not None:
        target_fields.append(("positive_value", target.positive_value))
    sections: list[tuple[str, list[tuple[str, object]]]] = [
        ("source", [("kind", contract.source.kind), ("path", contract.source.path)]),
        ("time", time_fields),
        ("windows", [("train_periods", windows.train_periods), ("holdout_periods", windows.holdout_periods)]),
        ("target", target_fields),
    ]
    lines = [f"# {line}" for line in draft.header]
    lines += _block("", [("name", contract.name), ("version", contract.version)], notes)
    lines += _block("", [("description", contract.description)], notes)
    for section, fields in sections:
        lines += ["", f"{section}:", *_block(section, fields, notes)]
    lines += ["", *_block("", [("unique_key", contract.unique_key)], notes)]
    lines += ["", "rows:", *_block("rows", [("min", contract.rows.min), ("max", contract.rows.max)], notes)]
    lines += ["", "columns:", *_columns(contract, notes)]
    lines += ["", *_block("", [("extra_columns", contract.extra_columns)], notes)]
    lines += ["", "features:", *_features(contract, notes)]
    return "\n".join(lines) + "\n"


def _block(section: str, fields: list[tuple[str, object]], notes: dict[str, str]) -> list[str]:
    """`key: value` lines of one mapping, their comments aligned."""
    indent = "  " if section else ""
    rows = [
        (f"{indent}{key}: {scalar(value)}", notes.get(f"{section}.{key}" if section else key))
        for key, value in fields
    ]
    return _aligned(rows)


def _columns(contract: Contract, notes: dict[str, str]) -> list[str]:
    width = max(len(scalar(name)) for name in contract.columns) + 1
    rows = []
    for name, spec in contract.columns.items():
        fields = spec.model_dump(exclude_defaults=True)
        rows.append((f"  {scalar(name) + ':':<{width}} {_flow(fields)}", notes.get(f"columns.{name}")))
    return _aligned(rows)


def _features(contract: Contract, notes: dict[str, str]) -> list[str]:
    rows = [
        (f"  - {_flow(feature.model_dump(exclude_defaults=True))}", notes.get(f"features.{feature.name}"))
        for feature in contract.features
    ]
    return _aligned(rows)


def _aligned(rows: list[tuple[str, str | None]]) -> list[str]:
    at = min(max((len(text) for text, _ in rows), default=0) + 2, _COMMENT_AT)
    return [f"{text:<{max(at, len(text) + 2)}}# {_one_line(note)}" if note else text for text, note in rows]


def _flow(fields: dict[str, object]) -> str:
    return "{" + ", ".join(f"{scalar(key)}: {scalar(value)}" for key, value in fields.items()) + "}"


def _one_line(note: str) -> str:
    return " ".join(note.split())


def scalar(value: object) -> str:
    """A value as YAML that reads back as the same value: plain where it can be, JSON-quoted text otherwise
    ("yes", "2013", "%Y/%m/%d", a name with a space)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value, exact=True)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(scalar(item) for item in value) + "]"
    text = str(value)
    if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)
