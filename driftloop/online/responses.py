"""What the service answers: the typed bodies of /predict, /health, /model, /stats and /reload's refusals.

`PredictionService` builds them; the HTTP edge publishes them as the routes' response models, so /docs
shows their shape. They are TypedDicts, plain JSON at run time, so a key with nothing to say (/health's
`problem`) is left out rather than sent as null.
"""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from driftloop.online.predlog import LogStats
from driftloop.online.slot import ShadowOutcome, SwapOutcome
from driftloop.registry import ContractRef, ModelVersion


class ContributionOut(TypedDict):
    feature: str
    value: str | float | None
    contribution: float


class PredictionOut(TypedDict):
    probability: float
    bias: NotRequired[float]
    contributions: NotRequired[list[ContributionOut]]


class PredictResponse(TypedDict):
    """The body of a successful POST /predict: predictions in the order of the request's records."""

    model: str
    model_version: str
    request_id: str
    predictions: list[PredictionOut]


class HealthResponse(TypedDict):
    """GET /health: `ok` (200) once a verified model serves, `unavailable` (503) before.

    `problem` is there when the last look at the champion alias found no champion, refused the version
    it names, or could not read the store; a refusal while a model serves stays `ok`. With the shadow on
    (`DRIFTLOOP_SERVE_SHADOW`), `shadow_version` names the version scoring beside the champion (null when
    none does) and `shadow_problem` why the last look could not load the one it found; neither changes
    `status`.
    """

    status: Literal["ok", "unavailable"]
    model: str
    model_version: str | None
    problem: NotRequired[str]
    shadow_version: NotRequired[str | None]
    shadow_problem: NotRequired[str]


class ShadowOut(TypedDict):
    """The shadow of GET /model: the version scoring beside the champion, and the last look for it."""

    model_version: str | None  # "v4"; None when none shadows
    loaded_at: str | None
    version: ModelVersion | None
    last_check: ShadowOutcome | None


class ModelResponse(TypedDict):
    """GET /model: the serving version's manifest, the contract it enforces, the last look at the alias;
    with the shadow on, the shadow."""

    model: str
    model_version: str
    loaded_at: str
    contract: ContractRef
    version: ModelVersion
    last_check: SwapOutcome | None
    shadow: NotRequired[ShadowOut]


class RefusedRequests(TypedDict):
    """Requests refused, by kind: breaking the contract (422), too large (413), no model yet (503)."""

    invalid: int
    too_large: int
    no_model: int


class ShadowStats(TypedDict):
    """What the shadow did in this worker: its version now, requests it scored and failed to score."""

    model_version: str | None
    scored_requests: int
    failed_requests: int
    swaps: int
    refused_models: int


class StatsResponse(TypedDict):
    """GET /stats: what this worker process has done since it started."""

    worker_pid: int
    model_version: str | None
    requests: int
    records: int
    refused: RefusedRequests
    lookup_misses: dict[str, int]
    swaps: int
    refused_models: int
    prediction_log: LogStats | None
    shadow: NotRequired[ShadowStats]


class Denied(TypedDict):
    """POST /reload refused: no valid bearer token (401), or reload is off (403)."""

    detail: str


class Unavailable(TypedDict):
    """A 503: no verified model serves yet, and why."""

    detail: str
