"""The champion: a create-only promotion log (the truth) and a pointer moved forward by compare-and-swap.

If a writer died between appending to the log and moving the pointer, readers roll the pointer forward.
A pointer the log does not back (unreadable, ahead of the log, or naming another version than its entry)
is a damaged cache: readers take the champion from the log and rewrite the pointer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import pandas as pd

from driftloop.core import faults, layout
from driftloop.core.clock import now_utc
from driftloop.core.records import Record
from driftloop.core.storage import PreconditionFailed, Storage, read_if_exists
from driftloop.registry.integrity import read_record
from driftloop.registry.records import ChampionPointer, PromotionEntry, PromotionEvidence


class RegistryConflict(Exception):
    """Too many concurrent writers: the operation gave up after its retries."""


class ChampionChanged(Exception):
    """The champion moved after a challenger was judged against it: judge again, against `current`."""

    def __init__(self, version: int, expected: int | None, current: int | None) -> None:
        expected_text = f"v{expected}" if expected is not None else "no champion"
        current_text = f"v{current}" if current is not None else "none"
        super().__init__(
            f"v{version} was judged against {expected_text}, but the champion is now {current_text}"
        )
        self.expected = expected
        self.current = current


class Unchecked:
    """`replacing` not given: promote whatever the champion is (a person's rollback, a test)."""


UNCHECKED = Unchecked()


_Slot = TypeVar("_Slot", bound=Record)


def write_next_slot(
    storage: Storage, next_slot: Callable[[], tuple[str, _Slot]], retries: int, what: str
) -> _Slot:
    """Create-only write of the next free slot (a version number, a log sequence number).

    `next_slot` reads what is taken and returns the next key with its record; when a concurrent writer
    takes that key first, it is asked again. Two writers can never both win one slot.
    """
    for _ in range(retries):
        key, record = next_slot()
        try:
            storage.write_bytes(key, record.to_json().encode(), if_absent=True)
        except PreconditionFailed:
            continue
        return record
    raise RegistryConflict(f"could not {what}: too many concurrent writers")


class PromotionLog:
    """Who was champion when, for one model name."""

    def __init__(self, storage: Storage, model: str, max_retries: int = 50) -> None:
        self.storage = storage
        self.model = model
        self.max_retries = max_retries

    def _read(self, seq: int) -> PromotionEntry | None:
        key = layout.promotion_entry(self.model, seq)
        data = read_if_exists(self.storage, key)
        return self._entry(key, data) if data is not None else None

    def entries(self) -> list[PromotionEntry]:
        """Every champion change, oldest first."""
        keys = self.storage.list(layout.registry(self.model, "log"))
        return [self._entry(key, self.storage.read_bytes(key)) for key in keys]

    def _entry(self, key: str, data: bytes) -> PromotionEntry:
        return read_record(PromotionEntry, "promotion log entry", self.storage, key, data)

    def pointer(self) -> tuple[ChampionPointer | None, str | None]:
        """The pointer and its etag; (None, etag) when it exists but does not parse (a damaged cache)."""
        key = layout.champion_pointer(self.model)
        etag = self.storage.etag(key)
        data = read_if_exists(self.storage, key) if etag is not None else None
        if data is None:
            return None, None
        try:
            return ChampionPointer.from_json(data), etag
        except ValueError:
            return None, etag

    def latest(self) -> PromotionEntry | None:
        """Newest log entry, found from the pointer and rolled forward over entries it missed; a damaged
        pointer (unreadable, or naming what the log does not hold) is ignored and rewritten."""
        pointer, etag = self.pointer()
        seq = pointer.seq if pointer else 0
        entry = self._read(seq) if seq else None
        damaged = etag is not None and (pointer is None or entry is None or entry.version != pointer.version)
        if damaged:
            entries = self.entries()
            entry = entries[-1] if entries else None
            seq = entry.seq if entry else 0
        while (following := self._read(seq + 1)) is not None:
            entry, seq = following, seq + 1
        if damaged and entry is not None and etag is not None:
            self._rewrite_pointer(entry, etag)
        elif entry is not None and (pointer is None or pointer.seq < entry.seq):
            self._advance_pointer(entry)  # repair a pointer left behind by a crash
        return entry

    def _rewrite_pointer(self, entry: PromotionEntry, damaged_etag: str) -> None:
        """Replace a damaged pointer with one at `entry`, unless another writer replaced it meanwhile."""
        key = layout.champion_pointer(self.model)
        data = ChampionPointer(seq=entry.seq, version=entry.version, at=entry.at).to_json().encode()
        with contextlib.suppress(PreconditionFailed):
            self.storage.write_bytes(key, data, if_match=damaged_etag)

    def _advance_pointer(self, entry: PromotionEntry) -> None:
        """Move the alias to `entry` by compare-and-swap, only ever forward in the log."""
        key = layout.champion_pointer(self.model)
        data = ChampionPointer(seq=entry.seq, version=entry.version, at=entry.at).to_json().encode()
        for _ in range(self.max_retries):
            pointer, etag = self.pointer()
            if pointer is not None and pointer.seq >= entry.seq:
                return  # already at or past this entry
            try:
                if etag is None:
                    self.storage.write_bytes(key, data, if_absent=True)
                else:
                    self.storage.write_bytes(key, data, if_match=etag)
                return
            except PreconditionFailed:
                continue
        raise RegistryConflict(f"could not move the champion alias of {self.model}")

    def append(
        self,
        version: int,
        reason: str,
        evidence: PromotionEvidence | None,
        data_period: str | None,
        replacing: int | Unchecked | None = UNCHECKED,
    ) -> PromotionEntry:
        """Append `version` as the new champion (create-only), then move the pointer (CAS).

        With `replacing`, only while that version (None: no champion) is still the champion: the entry's
        `previous_version` is then the model its evidence was measured against, or `ChampionChanged`.
        """

        def next_entry() -> tuple[str, PromotionEntry]:
            latest = self.latest()
            seq, previous = (latest.seq + 1, latest.version) if latest else (1, None)
            if not isinstance(replacing, Unchecked) and previous != replacing:
                raise ChampionChanged(version, replacing, previous)
            entry = PromotionEntry(
                seq=seq,
                version=version,
                previous_version=previous,
                at=now_utc(),
                data_period=data_period,
                reason=reason,
                evidence=evidence,
            )
            return layout.promotion_entry(self.model, entry.seq), entry

        entry = write_next_slot(
            self.storage, next_entry, self.max_retries, f"promote {self.model} v{version}"
        )
        faults.reached("promote.logged")
        self._advance_pointer(entry)
        return entry

    def champion_at(self, when: datetime | str) -> int | None:
        """Which version was champion at time `when` (UTC if naive), from the log."""
        moment = pd.Timestamp(when)
        moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
        current = None
        for entry in self.entries():
            if pd.Timestamp(entry.at) <= moment:
                current = entry.version
            else:
                break
        return current
