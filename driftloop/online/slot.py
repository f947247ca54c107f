"""Hot swap: follow the champion alias, load a newly promoted version, verify it, switch in one assignment.

Requests read `ModelSlot.current` once and keep that bundle to the end, so a swap never changes a model
under a request in flight, and every response names the version that served it. A version that fails
its SHA-256 check or its verification is refused: the slot keeps the model it had, and the refusal is
reported (`/health`, `/model`, the log) until a good version is promoted.

With a shadow slot (`DRIFTLOOP_SERVE_SHADOW`), each look at the alias also finds the shadow: the newest
version registered after the champion that was never promoted (`ChallengerFinder`). It is loaded and
verified as a champion is, in a slot of its own; a newer challenger replaces it, and once it is promoted
(or rolled back past) nothing shadows until a newer one is registered. A shadow that cannot be loaded is
reported and left out: nothing about it changes which model answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Literal

from driftloop.core import layout
from driftloop.core.clock import now_utc
from driftloop.core.records import Record
from driftloop.core.storage import ObjectNotFound, StoreUnavailable
from driftloop.online.predictor import ServedModel
from driftloop.registry import PromotionEntry, Registry

logger = logging.getLogger("driftloop.online")

Status = Literal["loaded", "unchanged", "refused", "no_champion", "unavailable"]
ShadowStatus = Literal["loaded", "unchanged", "none", "refused", "unavailable"]


class SwapOutcome(Record):
    """What one look at the champion alias found and did."""

    status: Status
    champion: int | None  # the version the alias names, if it could be read
    serving: int | None  # the version serving after the check
    reason: str
    at: str


class ShadowOutcome(Record):
    """What one look for the shadow found and did."""

    status: ShadowStatus
    challenger: int | None  # the version the rule names: the newest after the champion, never promoted
    shadowing: int | None  # the version scoring beside the champion after the look
    reason: str
    at: str


class ModelSlot:
    """The model requests are served by, replaced whole and never changed in place.

    Args:
        on_put: told of each model put in, once it serves (the metrics' serving version).
        on_clear: told when the slot is emptied (a shadow no version is named for any more).
    """

    def __init__(
        self,
        on_put: Callable[[ServedModel], None] | None = None,
        on_clear: Callable[[], None] | None = None,
    ) -> None:
        self.current: ServedModel | None = None
        self.swaps = 0
        self.on_put = on_put
        self.on_clear = on_clear

    def put(self, model: ServedModel) -> None:
        self.current = model  # one reference assignment: atomic for every reader
        self.swaps += 1
        if self.on_put is not None:
            self.on_put(model)

    def clear(self) -> None:
        if self.current is None:
            return
        self.current = None
        if self.on_clear is not None:
            self.on_clear()


class ChallengerFinder:
    """Which version shadows the champion: the newest registered after it that was never promoted.

    What it reads is create-only, so each file is read once: the promotion log's entries (every version
    that was ever champion, rolled back or not) and, of the versions' manifests (numbered 1, 2, … without
    gaps), only whether the next number exists: one look per poll once the log is read.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._promoted: set[int] = set()
        self._log_read = 0  # the promotion log's entries read so far, by sequence number
        self._highest = 0  # the highest version known to be registered

    def find(self, alias: PromotionEntry) -> int | None:
        """The shadow under the champion `alias` names (the newest log entry); None when there is none."""
        storage, model = self.registry.storage, self.registry.model
        for seq in range(self._log_read + 1, alias.seq + 1):
            entry = PromotionEntry.from_json(storage.read_bytes(layout.promotion_entry(model, seq)))
            self._promoted.add(entry.version)
            self._log_read = seq
        self._promoted.add(alias.version)
        self._highest = max(self._highest, alias.version)
        while storage.exists(layout.registry_version(model, self._highest + 1)):
            self._highest += 1
        newer = [
            version
            for version in range(alias.version + 1, self._highest + 1)
            if version not in self._promoted
        ]
        return max(newer, default=None)


class ChampionWatcher:
    """Looks at the champion alias every `poll_seconds` (and on demand) and swaps in what it names; with a
    `shadow` slot, then at the shadow the alias implies (`ChallengerFinder`), loaded and verified alike."""

    def __init__(
        self,
        registry: Registry,
        load: Callable[[int], ServedModel],
        slot: ModelSlot,
        poll_seconds: float,
        shadow: ModelSlot | None = None,
    ) -> None:
        self.registry = registry
        self.load = load
        self.slot = slot
        self.poll_seconds = poll_seconds
        self.shadow = shadow
        self.last: SwapOutcome | None = None
        self.shadow_last: ShadowOutcome | None = None
        self.refusals = 0
        self.shadow_refusals = 0
        self._refused: dict[int, str] = {}  # version -> why, logged once per version and reason
        self._shadow_refused: dict[int, str] = {}
        self._alias: PromotionEntry | None = None  # the alias' entry as the last look read it
        self._finder = ChallengerFinder(registry)
        self._check_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> SwapOutcome:
        """Read the alias; load, verify and swap in a version other than the one serving; then the shadow."""
        with self._check_lock:
            self._alias = None
            self.last = self._check()
            if self.shadow is not None:
                self.shadow_last = self._check_shadow(self.shadow, self.last)
            return self.last

    def _check(self) -> SwapOutcome:
        current = self.slot.current
        serving = current.version.version if current else None
        where = self.registry.storage.url
        try:
            entry = self.registry.log.latest()
        except (StoreUnavailable, OSError) as error:
            return self._outcome("unavailable", None, f"cannot read the champion alias: {error}")
        self._alias = entry
        if entry is None:
            reason = f"{self.registry.model} has no champion in {where} yet: train one (`driftloop train`)"
            return self._outcome("no_champion", None, reason)
        if entry.version == serving:
            return self._outcome("unchanged", entry.version, f"v{serving} is the champion")
        try:
            model = self.load(entry.version)
        except ObjectNotFound as error:
            return self._refuse(entry.version, serving, f"a file of it is missing ({error})")
        except (StoreUnavailable, OSError) as error:
            return self._outcome("unavailable", entry.version, f"cannot read v{entry.version}: {error}")
        except Exception as error:  # IntegrityError, ModelRefused, or a file the registry cannot parse
            return self._refuse(entry.version, serving, str(error))
        self.slot.put(model)
        before = f"v{serving}" if serving else "nothing"
        logger.info("now serving %s (was %s)", model.label, before)
        return self._outcome("loaded", entry.version, f"v{entry.version} verified and serving (was {before})")

    def _refuse(self, version: int, serving: int | None, why: str) -> SwapOutcome:
        reason = f"v{version} refused: {why}"
        if self._refused.get(version) != reason:
            logger.warning("%s; still serving %s", reason, f"v{serving}" if serving else "nothing")
            self._refused[version] = reason
            self.refusals += 1
        return self._outcome("refused", version, reason)

    def _outcome(self, status: Status, champion: int | None, reason: str) -> SwapOutcome:
        current = self.slot.current
        return SwapOutcome(
            status=status,
            champion=champion,
            serving=current.version.version if current else None,
            reason=reason,
            at=now_utc(),
        )

    def _check_shadow(self, shadow: ModelSlot, champion: SwapOutcome) -> ShadowOutcome:
        """Find the version that shadows the champion the alias names; load and verify it if it is new."""
        alias = self._alias
        if alias is None:  # no champion, or the alias could not be read
            if champion.status == "no_champion":
                shadow.clear()
                return self._shadow_outcome("none", None, "no champion: nothing to shadow")
            return self._shadow_outcome("unavailable", None, champion.reason)
        try:
            version = self._finder.find(alias)
        except (StoreUnavailable, OSError) as error:
            return self._shadow_outcome("unavailable", None, f"cannot tell which version shadows: {error}")
        except ValueError as error:  # a promotion log entry that does not read as one
            return self._shadow_outcome("unavailable", None, f"cannot read the promotion log: {error}")
        if version is None:
            shadow.clear()
            reason = (
                f"no version registered after the champion v{alias.version} was left unpromoted: none shadows"
            )
            return self._shadow_outcome("none", None, reason)
        current = shadow.current
        if current is not None and current.version.version == version:
            return self._shadow_outcome(
                "unchanged", version, f"v{version} shadows the champion v{alias.version}"
            )
        try:
            model = self.load(version)
        except ObjectNotFound as error:
            return self._refuse_shadow(shadow, version, f"a file of it is missing ({error})")
        except (StoreUnavailable, OSError) as error:
            return self._shadow_outcome("unavailable", version, f"cannot read v{version}: {error}")
        except Exception as error:  # IntegrityError, ModelRefused, or a file the registry cannot parse
            return self._refuse_shadow(shadow, version, str(error))
        shadow.put(model)
        logger.info("%s now shadows the champion v%s (its answers are logged, never returned)", model.label,
                    alias.version)  # fmt: skip
        reason = f"v{version} verified and shadowing the champion v{alias.version}"
        return self._shadow_outcome("loaded", version, reason)

    def _refuse_shadow(self, shadow: ModelSlot, version: int, why: str) -> ShadowOutcome:
        """A shadow that cannot serve is left out (nothing shadows) and reported once per reason."""
        shadow.clear()
        reason = f"shadow v{version} refused: {why}"
        if self._shadow_refused.get(version) != reason:
            logger.warning("%s; no shadow until a good version is registered", reason)
            self._shadow_refused[version] = reason
            self.shadow_refusals += 1
        return self._shadow_outcome("refused", version, reason)

    def _shadow_outcome(self, status: ShadowStatus, challenger: int | None, reason: str) -> ShadowOutcome:
        current = self.shadow.current if self.shadow is not None else None
        return ShadowOutcome(
            status=status,
            challenger=challenger,
            shadowing=current.version.version if current else None,
            reason=reason,
            at=now_utc(),
        )

    def start(self) -> None:
        """Check now, then every `poll_seconds` on a daemon thread until `stop`."""
        self.check()
        self._thread = threading.Thread(target=self._run, name="driftloop-champion-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check()
            except Exception:  # a bug must not stop the watching; the log keeps the traceback
                logger.exception("checking the champion alias failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
