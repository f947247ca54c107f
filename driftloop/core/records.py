"""The base of every record driftloop stores and reads back: frozen, typed, keyword-built, one JSON form.

A record is written with `to_json` and read with `from_json`; nothing reads its JSON by string key.
Unknown keys are refused, so a typo in a stored file is an error, not a silently missing value; NaN
(an AUC on one class) survives the round trip.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """Frozen pydantic model with one JSON round trip."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    def to_json(self) -> str:
        """Stable JSON: fields in declaration order, indented for people who open the file."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, data: str | bytes) -> Self:
        """Read back what `to_json` wrote (and, where a record says so, what older versions wrote)."""
        return cls.model_validate_json(data)
