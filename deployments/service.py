"""The online prediction service's HTTP edge: FastAPI in front of `driftloop.online.PredictionService`.

`driftloop serve` runs `app_from_environment` under uvicorn (one app per worker process); tests call
`create_app` with a service they built. Everything but HTTP (validation, features, hot swap, the
prediction log) is in `driftloop/online/`.

POST /predict reads the raw body itself, within the size limit, and validates it with the schema the
contract generated (pydantic's JSON parser; the same schema is published at /docs). FastAPI's own body
parsing would decode the JSON, then validate it again: twice the work for the same answer.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
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
contract the model was trained under. Bad records get a 422 naming the record, the field and the rule;
a body over the limits gets a 413. Every response names the model version that served it."""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class BodyTimeout(Exception):
    """The request body did not arrive in time."""


async def _body(request: Request, service: PredictionService) -> bytes:
    """The request body, read no further than the size limit, nor for longer than the body timeout."""
    declared = request.headers.get("content-length")
    service.check_size(int(declared) if declared and declared.isdigit() else None)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(service.settings.body_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                service.check_size(size)
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
            408: {"description": "the body did not arrive in time"},
            413: {"description": "too large"},
            422: {"description": "breaks the contract"},
            503: {"description": "no verified model loaded yet"},
        },
    )
    async def predict(
        request: Request,
        explain: bool = Query(False, description="add each prediction's bias and top feature contributions"),
    ) -> Response:
        """Score records `{"records": [{column: value, ...}, ...]}`; predictions come back in their order."""
        identifier = request_id(request.headers.get("x-request-id"))
        try:
            result = service.predict(await _body(request, service), explain=explain, request=identifier)
        except RequestRefused as refusal:
            return _json(refusal.body(), _STATUS[refusal.kind], {"X-Request-ID": identifier})
        except NoModel as missing:
            return _json({"detail": str(missing)}, 503, {"Retry-After": "5", "X-Request-ID": identifier})
        except BodyTimeout as stalled:
            return _json({"detail": str(stalled)}, 408, {"Connection": "close", "X-Request-ID": identifier})
        headers = {"X-Model-Version": result["model_version"], "X-Request-ID": identifier}
        return Response(encode(result), media_type="application/json", headers=headers)

    @app.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "no verified model serves yet, and why"}},
    )
    def health() -> JSONResponse:
        """200 once a verified model serves; 503 (and why) before."""
        body = service.health()
        return _json(body, 200 if body["status"] == "ok" else 503)

    @app.get(
        "/model",
        response_model=ModelResponse,
        responses={503: {"model": Unavailable, "description": "no verified model loaded yet"}},
    )
    def model() -> JSONResponse:
        """The serving version: lineage, metrics, the contract it enforces, the last look at the alias."""
        try:
            return _json(described(service.describe(), mode="json"))
        except NoModel as missing:
            return _json({"detail": str(missing)}, 503)

    @app.get("/stats", response_model=StatsResponse)
    def stats() -> JSONResponse:
        """This worker's counters: requests, refusals, lookup misses, swaps, the prediction log."""
        return _json(service.stats())

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
                "content": {"application/json": {"schema": body}},
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
