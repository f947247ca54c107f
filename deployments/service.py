"""The online prediction service's HTTP edge: FastAPI in front of `driftloop.online.PredictionService`.

`driftloop serve` runs `app_from_environment` under uvicorn (one app per worker process); tests call
`create_app` with a service they built. Everything but HTTP (validation, features, hot swap, the
prediction log) is in `driftloop/online/`.

POST /predict reads the raw body itself, within the size limit, and validates it with the schema the
contract generated (pydantic's JSON parser; the same schema is published at /docs). FastAPI's own body
parsing would decode the JSON, then validate it again: twice the work for the same answer. A body sent as
`Content-Type: application/vnd.apache.arrow.stream` is an Arrow IPC stream of the contract's columns,
checked column by column by the same rules; `Accept: application/vnd.apache.arrow.stream` asks for the
answer in Arrow (JSON otherwise), whatever the body's format.

GET /metrics is Prometheus' text format, every worker's counts summed (`driftloop.online.metrics`); like
/stats it has no authentication: the service binds loopback, and a proxy guards anything else.

With `DRIFTLOOP_SERVE_SHADOW=true` a shadow challenger scores every request too; nothing of it reaches an
answer: /health, /model and /stats say which version shadows, the prediction log keeps its probabilities.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter

from driftloop.core.settings import ServingSecrets, Settings
from driftloop.online import NoModel, PredictionService, RequestRefused, SwapOutcome, request_schema
from driftloop.online.arrow import ARROW_STREAM, arrow_answer
from driftloop.online.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from driftloop.online.responses import (
    Denied,
    HealthResponse,
    ModelResponse,
    PredictResponse,
    StatsResponse,
    Unavailable,
)
from driftloop.online.service import request_id

logger = logging.getLogger("driftloop.online")
_STATUS = {"too_large": 413, "invalid": 422}
_RELOAD_TOKEN = HTTPBearer(auto_error=False, description="the reload token (DRIFTLOOP_SERVE_RELOAD_TOKEN)")
ReloadCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_RELOAD_TOKEN)]  # None: none sent
_RELOAD_STATUS = {"loaded": 200, "unchanged": 200, "refused": 409, "no_champion": 503, "unavailable": 503}
DESCRIPTION = """Predictions from the current champion of the registry, for records that meet the data
contract the model was trained under: JSON records, or an Arrow IPC stream of columns
(`Content-Type: application/vnd.apache.arrow.stream`). Bad records get a 422 naming the record (row), the
field and the rule; a body over the limits gets a 413. Every response names the model version that served
it. `Accept: application/vnd.apache.arrow.stream` answers in Arrow."""
_ARROW_BODY = (
    "an Arrow IPC stream of the contract's columns (the record's fields above, one column each), at most "
    "DRIFTLOOP_SERVE_MAX_ARROW_ROWS rows, without buffer compression"
)
_ARROW_SCHEMA = {"type": "string", "format": "binary", "description": _ARROW_BODY}
_ARROW_ANSWER = (
    "with `Accept: application/vnd.apache.arrow.stream`: an Arrow IPC stream of one float64 column "
    "`probability`, in row order; `model`, `model_version` and `request_id` in the schema's metadata"
)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class BodyTimeout(Exception):
    """The request body did not arrive in time."""


async def _body(request: Request, service: PredictionService, identifier: str) -> bytes:
    """The request body, read no further than the size limit, nor for longer than the body timeout."""
    declared = request.headers.get("content-length")
    service.check_size(int(declared) if declared and declared.isdigit() else None, identifier)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(service.settings.body_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                service.check_size(size, identifier)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(
            f"the request body did not arrive within {service.settings.body_timeout_seconds:g} s "
            f"({size:,} bytes came; setting DRIFTLOOP_SERVE_BODY_TIMEOUT_SECONDS): send it whole"
        ) from None
    return b"".join(chunks)


def create_app(service: PredictionService, service_secrets: ServingSecrets | None = None) -> FastAPI:
    """The FastAPI app; its lifespan starts the service (model load, watcher, log writer) and closes it.

    Args:
        service: the prediction service this app serves.
        service_secrets: the reload token; without one, POST /reload is off and polling swaps models.
    """
    token = service_secrets.reload_token if service_secrets else None
    encode = TypeAdapter(PredictResponse).dump_json
    described = TypeAdapter(ModelResponse).dump_python  # its version and last check are records

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        # What start-up made (modules, the model, the reference tables) stays: keep it out of the garbage
        # collector's scans, whose full passes would otherwise pause requests for milliseconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="driftloop prediction service", description=DESCRIPTION, lifespan=lifespan)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            200: {"content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
                  "description": f"the predictions; {_ARROW_ANSWER}"},
            406: {"description": "explanations come in JSON only: drop explain, or Accept Arrow"},
            408: {"description": "the body did not arrive in time"},
            413: {"description": "too large"},
            422: {"description": "breaks the contract"},
            503: {"description": "no verified model loaded yet"},
        },
    )  # fmt: skip
    async def predict(
        request: Request,
        explain: bool = Query(False, description="add each prediction's bias and top feature contributions"),
    ) -> Response:
        """Score records `{"records": [{column: value, ...}, ...]}`, or an Arrow IPC stream of columns;
        predictions come back in their order."""
        started = time.perf_counter()
        arrow = request.headers.get("content-type", "").partition(";")[0].strip().lower() == ARROW_STREAM
        outcome: tuple[int, int] = (500, 0)  # (status, records): what an exception leaves
        try:
            response, outcome = await answer(request, arrow, explain)
            return response
        finally:
            status, records = outcome
            seconds = time.perf_counter() - started
            service.metrics.answered(status, "arrow" if arrow else "json", records, seconds)

    async def answer(request: Request, arrow: bool, explain: bool) -> tuple[Response, tuple[int, int]]:
        """POST /predict's response, its status and the records it scored or refused."""
        identifier = request_id(request.headers.get("x-request-id"))
        tagged = {"X-Request-ID": identifier}
        arrow_answer_wanted = ARROW_STREAM in request.headers.get("accept", "")
        if explain and arrow_answer_wanted:
            detail = "explanations come in JSON only: drop explain=true or the Accept header"
            return _json({"detail": detail}, 406, tagged), (406, 0)
        try:
            body = await _body(request, service, identifier)
            answered = service.answer(body, arrow=arrow, explain=explain, request=identifier)
        except RequestRefused as refusal:
            status = _STATUS[refusal.kind]
            return _json(refusal.body(), status, tagged), (status, refusal.records)
        except NoModel as missing:
            return _json({"detail": str(missing)}, 503, {"Retry-After": "5", **tagged}), (503, 0)
        except BodyTimeout as stalled:
            return _json({"detail": str(stalled)}, 408, {"Connection": "close", **tagged}), (408, 0)
        headers = {"X-Model-Version": answered.model_version, **tagged}
        scored = (200, len(answered.probabilities))
        if arrow_answer_wanted:
            table = arrow_answer(answered.probabilities, answered.model, answered.model_version, identifier)
            return Response(table, media_type=ARROW_STREAM, headers=headers), scored
        return Response(encode(answered.body()), media_type="application/json", headers=headers), scored

    @app.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "no verified model serves yet, and why"}},
    )
    def health() -> JSONResponse:
        """200 once a verified model serves; 503 (and why) before; with the shadow on, which one shadows."""
        body = service.health()
        return _json(body, 200 if body["status"] == "ok" else 503)

    @app.get(
        "/model",
        response_model=ModelResponse,
        responses={503: {"model": Unavailable, "description": "no verified model loaded yet"}},
    )
    def model() -> JSONResponse:
        """The serving version: lineage, metrics, the contract it enforces, the last look at the alias; with
        the shadow on, the shadow's version and the last look for it."""
        try:
            return _json(described(service.describe(), mode="json"))
        except NoModel as missing:
            return _json({"detail": str(missing)}, 503)

    @app.get("/stats", response_model=StatsResponse)
    def stats() -> JSONResponse:
        """This worker's counters: requests, refusals, lookup misses, swaps, the prediction log."""
        return _json(service.stats())

    @app.get("/metrics", include_in_schema=False)  # Prometheus' format, not an API body
    def metrics() -> Response:
        """Prometheus metrics, every worker's summed: requests and records by status, latency, refusals by
        field and rule, lookup misses, the logs' rows, the serving version, predicted probabilities; with
        the shadow on, its version, its scoring time and its failures."""
        return Response(service.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.post(
        "/reload",
        response_model=SwapOutcome,
        responses={
            401: {"model": Denied, "description": "no valid bearer token"},
            403: {"model": Denied, "description": "reload is off: the service has no reload token"},
            409: {"model": SwapOutcome, "description": "the champion was refused; the serving model stays"},
            503: {"model": SwapOutcome, "description": "no champion yet, or the store cannot be read"},
        },
    )
    def reload(credentials: ReloadCredentials) -> JSONResponse:
        """Look at the champion alias now (this worker; the others at their next poll). Bearer token."""
        if token is None:
            detail = "reload is off: set DRIFTLOOP_SERVE_RELOAD_TOKEN; new champions are picked up by polling"
            return _json({"detail": detail}, 403)
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
            return _json({"detail": "a valid bearer token is required"}, 401, {"WWW-Authenticate": "Bearer"})
        outcome = service.reload()
        return _json(outcome.model_dump(mode="json"), _RELOAD_STATUS[outcome.status])

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("internal error on %s %s", request.method, request.url.path)
        return _json({"detail": f"internal error ({type(error).__name__}): please report it"}, 500)

    app.openapi = _openapi(app, service)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, service: PredictionService) -> Any:
    """OpenAPI with /predict's body generated from the serving model's contract (rebuilt after a swap)."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        current = service.slot.current
        key = current.label if current else ""
        if cache.get("key") != key:
            schema = (
                current.schema if current else request_schema(service.contract, service.settings.max_records)
            )
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            body = schema.json_schema()
            spec.setdefault("components", {}).setdefault("schemas", {}).update(body.pop("$defs", {}))
            spec["paths"]["/predict"]["post"]["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": body},
                    ARROW_STREAM: {"schema": _ARROW_SCHEMA},
                },
            }
            cache.update(key=key, spec=spec)
        return cache["spec"]

    return openapi


def app_from_environment() -> FastAPI:
    """What each uvicorn worker builds: settings from `DRIFTLOOP_*` (the CLI sets its overrides there)."""
    driftloop_logger = logging.getLogger("driftloop")
    if not driftloop_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        driftloop_logger.addHandler(handler)
        driftloop_logger.setLevel(logging.INFO)
    return create_app(PredictionService.open(Settings.load()), ServingSecrets())
