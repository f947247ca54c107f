"""The prediction service without HTTP: the model slot and its watcher, the lookups, the logs, the metrics.

`PredictionService` is what the FastAPI app in `deployments/service.py` calls; it knows nothing of HTTP
and can be driven directly (tests, the benchmark). A request takes the slot's current model once, so a
hot swap never mixes two versions in one response. A body is JSON records or an Arrow IPC stream of
columns; both become the same typed columns and are scored, logged and counted alike. A refused request
is counted by field and rule and logged to the refusal log.

With the shadow on (`ServingSettings.shadow`), a request also takes the shadow slot's model once and has
it score the same rows after the champion: its probabilities go to the prediction log beside the
champion's and nowhere else. A shadow that fails is counted and logged once; the answer does not change.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from driftloop.core.contract import Contract, load_contract
from driftloop.core.settings import S3Settings, ServingSettings, Settings
from driftloop.core.storage import Storage, open_storage
from driftloop.data.enrichment import References
from driftloop.data.sources import SourceTables
from driftloop.online.arrow import read_stream, selected
from driftloop.online.metrics import ServiceMetrics
from driftloop.online.predictor import Contribution, ModelRefused, Scored, ServedModel
from driftloop.online.predlog import EXTRA_COLUMN, LOG_COLUMNS, LoggedRequest, PredictionLog, RefusedRequest
from driftloop.online.problems import RequestRefused, too_large
from driftloop.online.responses import (
    HealthResponse,
    ModelResponse,
    PredictResponse,
    ShadowOut,
    ShadowStats,
    StatsResponse,
)
from driftloop.online.schema import record_columns
from driftloop.online.slot import ChampionWatcher, ModelSlot, SwapOutcome
from driftloop.registry import ContractRef, Registry

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
logger = logging.getLogger("driftloop.online")


class NoModel(Exception):
    """No verified model is loaded yet; the message says why (no champion, refused, store down)."""


@dataclass
class Counters:
    """What this worker has done since it started."""

    requests: int = 0
    records: int = 0
    invalid: int = 0
    too_large: int = 0
    no_model: int = 0
    lookup_misses: Counter[str] = field(default_factory=Counter)
    shadowed: int = 0  # requests the shadow scored too
    shadow_failures: int = 0  # requests it failed to score (answered all the same)


class ReferenceCache:
    """The reference lookups, built once per source and joins (a swapped-in model shares them)."""

    def __init__(self) -> None:
        self._built: dict[str, References] = {}

    def get(self, contract: Contract) -> References:
        key = json.dumps(
            [
                contract.source.model_dump(mode="json"),
                [join.model_dump(mode="json") for join in contract.joins],
            ]
        )
        if key not in self._built:
            self._built[key] = References(contract, SourceTables(contract).references())
        return self._built[key]


@dataclass(frozen=True)
class Answer:
    """A scored request: the probabilities in row order, the version that scored them, explanations."""

    model: str
    model_version: str  # its label, "v3"
    request_id: str
    probabilities: np.ndarray
    explained: tuple[np.ndarray, list[list[Contribution]]] | None = None  # bias, top contributions

    def body(self) -> PredictResponse:
        """The JSON answer of POST /predict."""
        predictions: list[Any] = [{"probability": p} for p in self.probabilities.tolist()]
        if self.explained is not None:
            bias, explained = self.explained
            for out, base, contributions in zip(predictions, bias.tolist(), explained, strict=True):
                out["bias"] = base
                out["contributions"] = [vars(contribution) for contribution in contributions]
        return {
            "model": self.model,
            "model_version": self.model_version,
            "request_id": self.request_id,
            "predictions": predictions,
        }


def request_id(header: str | None) -> str:
    """The caller's X-Request-ID when it is a plain token of up to 64 characters, else a new one."""
    if header is not None and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


class PredictionService:
    """The current champion behind a contract-checked request, its predictions logged off the request path."""

    def __init__(
        self,
        settings: ServingSettings,
        storage: Storage,
        contract: Contract,
        model_name: str,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.contract = contract
        self.registry = Registry(storage, model_name)
        self.metrics = metrics or ServiceMetrics(model_name)
        self.references = ReferenceCache()
        self.references.get(contract)  # the reference tables are read at start-up, not on a first request
        self.slot = ModelSlot(on_put=lambda model: self.metrics.now_serving(model.label))
        self.shadow = (
            ModelSlot(
                on_put=lambda model: self.metrics.now_shadowing(model.label),
                on_clear=lambda: self.metrics.now_shadowing(None),
            )
            if settings.shadow and settings.log_predictions  # the log is where its probabilities go
            else None
        )
        if settings.shadow and not settings.log_predictions:
            logger.warning("DRIFTLOOP_SERVE_SHADOW is on but the prediction log is off: no shadow scores")
        self.watcher = ChampionWatcher(
            self.registry, self.load, self.slot, settings.poll_seconds, shadow=self.shadow
        )
        self._shadow_failed: set[int] = set()  # shadow versions whose scoring failure was logged
        self.log = (
            PredictionLog(storage, contract.name, model_name, settings, self.metrics)
            if settings.log_predictions
            else None
        )
        self.counters = Counters()
        self.pid = os.getpid()

    @classmethod
    def open(cls, settings: Settings) -> PredictionService:
        """Open the store (S3 credentials from `DRIFTLOOP_S3_*` when it is on S3) and read the contract."""
        s3 = S3Settings() if settings.storage.url.startswith("s3://") else None
        contract = load_contract(settings.data.contract)
        storage = open_storage(settings.storage.url, s3)
        return cls(settings.serving, storage, contract, settings.training.model_name or contract.model_name)

    # ---- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the champion if there is one (else keep looking), start the log writer."""
        if self.log is not None:
            self.log.start()
        self.watcher.start()

    def close(self) -> None:
        self.watcher.stop()
        if self.log is not None:
            self.log.close()
        self.metrics.close()

    def load(self, version: int) -> ServedModel:
        """A registered version, SHA-256 checked by the registry, verified before it may serve."""
        loaded = self.registry.load(version)
        contract = self.registry.contract(version) or self.contract
        model = ServedModel(
            loaded,
            contract,
            self.references.get(contract),
            self.settings.max_records,
            self.settings.predict_threads,
        )
        clashes = sorted(set(model.schema.fields) & {*LOG_COLUMNS, EXTRA_COLUMN})
        if clashes and self.log is not None:
            raise ModelRefused(f"its contract's columns {clashes} clash with the prediction log's columns")
        return model

    def reload(self) -> SwapOutcome:
        """Look at the champion alias now (POST /reload) instead of at the next poll."""
        return self.watcher.check()

    # ---- requests --------------------------------------------------------------------------------
    def model(self) -> ServedModel:
        current = self.slot.current
        if current is None:
            last = self.watcher.last
            raise NoModel(last.reason if last else "the service is starting")
        return current

    def predict(self, body: bytes, *, explain: bool = False, request: str | None = None) -> PredictResponse:
        """Score a JSON request body `{"records": [...]}` with the current model: its JSON answer.

        Args:
            body: the raw JSON body (its size already checked by the caller against `max_body_bytes`).
            explain: add each prediction's bias and top feature contributions.
            request: the request id to log and return; a new one when None.

        Raises:
            NoModel: no verified model yet (503).
            RequestRefused: too large (413) or breaking the contract (422), naming field and rule.
        """
        return self.answer(body, explain=explain, request=request).body()

    def answer(
        self, body: bytes, *, arrow: bool = False, explain: bool = False, request: str | None = None
    ) -> Answer:
        """Score a request body with the current model, log it, count it.

        Args:
            body: the raw body (its size already checked by the caller against `max_body_bytes`): JSON
                `{"records": [...]}`, or with `arrow` an Arrow IPC stream of the contract's columns.
            arrow: the body is an Arrow IPC stream (at most `max_arrow_rows` rows).
            explain: add each prediction's bias and top feature contributions.
            request: the request id to log and return; a new one when None.

        Raises:
            NoModel: no verified model yet (503).
            RequestRefused: too large (413) or breaking the contract (422), naming field, rule and
                records (rows); counted and logged to the refusal log before it is raised.
        """
        self.counters.requests += 1
        identifier = request or uuid.uuid4().hex
        try:
            model = self.model()  # one version for the whole request
        except NoModel:
            self.counters.no_model += 1
            raise
        try:
            if arrow:
                table = read_stream(body, self.settings.max_arrow_rows)
                columns, coded = model.columns(table)
                drop = model.contract.extra_columns == "drop"  # undeclared columns are not logged either
                logged: str | bytes = selected(body, table, model.schema.fields) if drop else body
            else:
                records = model.records(body)
                columns, coded = record_columns(model.schema, records), {}
                logged = self._logged_body(model, body, records) if self.log is not None else ""
        except RequestRefused as error:
            self._refused(error, identifier, model, None if arrow else body)
            raise
        scored = model.score_columns(columns, coded)
        rows = len(scored.probabilities)
        self.counters.records += rows
        self.counters.lookup_misses.update(scored.misses)
        self.metrics.scored(model.label, scored.probabilities, scored.misses)
        explained = model.explain(scored, self.settings.explain_top) if explain else None
        shadow = self.shadow.current if self.shadow is not None else None  # one shadow for the request
        shadowed = self._shadowed(shadow, model, scored, "arrow" if arrow else "json") if shadow else None
        if self.log is not None:
            self.log.append(
                LoggedRequest(
                    request_id=identifier,
                    served_at=datetime.now(UTC),
                    model_version=model.version.version,
                    request=logged,
                    probabilities=scored.probabilities,
                    shadow_version=shadow.version.version
                    if shadow is not None and shadowed is not None
                    else None,
                    shadow_probabilities=shadowed,
                )
            )
        return Answer(model.version.model, model.label, identifier, scored.probabilities, explained)

    def _shadowed(
        self, shadow: ServedModel, model: ServedModel, scored: Scored, body_format: str
    ) -> np.ndarray | None:
        """The shadow's probabilities for the rows the champion scored; None (counted, logged once per
        version) when it fails: a shadow never fails a request nor changes its answer."""
        started = time.perf_counter()
        try:
            probabilities = shadow.score_alongside(model, scored)
        except Exception:
            self.counters.shadow_failures += 1
            self.metrics.shadow_failed()
            if shadow.version.version not in self._shadow_failed:
                self._shadow_failed.add(shadow.version.version)
                logger.exception(
                    "shadow %s failed to score a request; the champion answered it", shadow.label
                )
            return None
        self.counters.shadowed += 1
        self.metrics.shadowed(body_format, time.perf_counter() - started)
        return probabilities

    @staticmethod
    def _logged_body(model: ServedModel, body: bytes, records: list[dict[str, Any]]) -> str:
        """The body as it passed validation; fields the contract drops are not logged either."""
        if model.contract.extra_columns == "drop":
            return json.dumps({"records": records})
        return body.decode()

    def _refused(
        self, error: RequestRefused, request: str, model: ServedModel | None, body: bytes | None = None
    ) -> None:
        """Count a refusal (by kind, and by field and rule) and hand it to the refusal log, with the time of
        its records when a JSON body names one (what puts it in a period for `monitor --served`)."""
        if error.kind == "too_large":
            self.counters.too_large += 1
        else:
            self.counters.invalid += 1
        self.metrics.refused(error.tally)
        if self.log is not None:
            self.log.append(
                RefusedRequest(
                    request_id=request,
                    served_at=datetime.now(UTC),
                    model_version=model.version.version if model is not None else None,
                    refused=tuple((field, rule, records) for (field, rule), records in error.tally.items()),
                    record_time=_record_time(body, (model.contract if model else self.contract).time.column)
                    if body
                    else None,
                )
            )

    def check_size(self, size: int | None, request: str | None = None) -> None:
        """Refuse a body larger than `max_body_bytes` (413): as declared before reading it, or as read.

        The refusal is counted and logged (under `request`, or a new id) before it is raised.
        """
        limit = self.settings.max_body_bytes
        if size is not None and size > limit:
            error = too_large(f"{size:,} bytes or more", f"{limit:,} bytes", "DRIFTLOOP_SERVE_MAX_BODY_BYTES")
            self._refused(error, request or uuid.uuid4().hex, self.slot.current)
            raise error

    # ---- what the service says about itself -------------------------------------------------------
    def health(self) -> HealthResponse:
        """`ok` once a verified model serves, `unavailable` before; the last look's problem, if any."""
        current = self.slot.current
        last = self.watcher.last
        body: HealthResponse = {
            "status": "ok" if current else "unavailable",
            "model": self.registry.model,
            "model_version": current.label if current else None,
        }
        if last is not None and last.status in ("refused", "unavailable", "no_champion"):
            body["problem"] = last.reason
        if self.shadow is not None:
            shadow, looked = self.shadow.current, self.watcher.shadow_last
            body["shadow_version"] = shadow.label if shadow else None
            if looked is not None and looked.status in ("refused", "unavailable"):
                body["shadow_problem"] = looked.reason
        return body

    def describe(self) -> ModelResponse:
        """The serving version: its lineage, metrics and contract, and the last look at the alias.

        Raises:
            NoModel: no verified model yet (503).
        """
        model = self.model()
        contract = model.contract
        body: ModelResponse = {
            "model": model.version.model,
            "model_version": model.label,
            "loaded_at": model.loaded_at,
            "contract": ContractRef(
                name=contract.name, version=contract.version, fingerprint=contract.fingerprint
            ),
            "version": model.version,
            "last_check": self.watcher.last,
        }
        if self.shadow is not None:
            shadow = self.shadow.current
            body["shadow"] = ShadowOut(
                model_version=shadow.label if shadow else None,
                loaded_at=shadow.loaded_at if shadow else None,
                version=shadow.version if shadow else None,
                last_check=self.watcher.shadow_last,
            )
        return body

    def stats(self) -> StatsResponse:
        """This worker's counters since it started."""
        counters = self.counters
        current = self.slot.current
        body: StatsResponse = {
            "worker_pid": self.pid,
            "model_version": current.label if current else None,
            "requests": counters.requests,
            "records": counters.records,
            "refused": {
                "invalid": counters.invalid,
                "too_large": counters.too_large,
                "no_model": counters.no_model,
            },
            "lookup_misses": dict(counters.lookup_misses),
            "swaps": self.slot.swaps,
            "refused_models": self.watcher.refusals,
            "prediction_log": self.log.stats() if self.log is not None else None,
        }
        if self.shadow is not None:
            shadow = self.shadow.current
            body["shadow"] = ShadowStats(
                model_version=shadow.label if shadow else None,
                scored_requests=counters.shadowed,
                failed_requests=counters.shadow_failures,
                swaps=self.shadow.swaps,
                refused_models=self.watcher.shadow_refusals,
            )
        return body


def _record_time(body: bytes, column: str) -> str | None:
    """The time column of the first record of a JSON body that has one, as text; None when none has."""
    try:
        records = json.loads(body).get("records")
    except (ValueError, AttributeError):
        return None
    for record in records if isinstance(records, list) else []:
        value = record.get(column) if isinstance(record, dict) else None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    return None
