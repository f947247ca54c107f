"""Hot swap: follow the champion alias, load a newly promoted version, verify it, switch in one assignment.

Requests read `ModelSlot.current` once and keep that bundle to the end, so a swap never changes a model
under a request in flight, and every response names the version that served it. A version that fails
its SHA-256 check or its verification is refused: the slot keeps the model it had, and the refusal is
reported (`/health`, `/model`, the log) until a good version is promoted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Literal

from driftloop.core.clock import now_utc
from driftloop.core.records import Record
from driftloop.core.storage import ObjectNotFound, StoreUnavailable
from driftloop.online.predictor import ServedModel
from driftloop.registry import Registry

logger = logging.getLogger("driftloop.online")

Status = Literal["loaded", "unchanged", "refused", "no_champion", "unavailable"]


class SwapOutcome(Record):
    """What one look at the champion alias found and did."""

    status: Status
    champion: int | None  # the version the alias names, if it could be read
    serving: int | None  # the version serving after the check
    reason: str
    at: str


class ModelSlot:
    """The model requests are served by, replaced whole and never changed in place.

    Args:
        on_put: told of each model put in, once it serves (the metrics' serving version).
    """

    def __init__(self, on_put: Callable[[ServedModel], None] | None = None) -> None:
        self.current: ServedModel | None = None
        self.swaps = 0
        self.on_put = on_put

    def put(self, model: ServedModel) -> None:
        self.current = model  # one reference assignment: atomic for every reader
        self.swaps += 1
        if self.on_put is not None:
            self.on_put(model)


class ChampionWatcher:
    """Looks at the champion alias every `poll_seconds` (and on demand) and swaps in what it names."""

    def __init__(
        self,
        registry: Registry,
        load: Callable[[int], ServedModel],
        slot: ModelSlot,
        poll_seconds: float,
    ) -> None:
        self.registry = registry
        self.load = load
        self.slot = slot
        self.poll_seconds = poll_seconds
        self.last: SwapOutcome | None = None
        self.refusals = 0
        self._refused: dict[int, str] = {}  # version -> why, logged once per version and reason
        self._check_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> SwapOutcome:
        """Read the alias; load, verify and swap in a version other than the one serving."""
        with self._check_lock:
            self.last = self._check()
            return self.last

    def _check(self) -> SwapOutcome:
        current = self.slot.current
        serving = current.version.version if current else None
        where = self.registry.storage.url
        try:
            entry = self.registry.log.latest()
        except (StoreUnavailable, OSError) as error:
            return self._outcome("unavailable", None, f"cannot read the champion alias: {error}")
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
