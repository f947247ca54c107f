"""Online serving: the champion behind a contract-checked request, with the batch path's features.

Plain Python, no web framework: `deployments/service.py` puts FastAPI in front of `PredictionService`.
- `schema`, `problems`: the request schema generated from the contract; refusals naming field and rule;
- `predictor`: a verified model bundle that scores requests (`ServedModel`);
- `slot`: hot swap, following the champion alias (`ModelSlot`, `ChampionWatcher`);
- `predlog`: the prediction log, written in batches off the request path, and read back as a frame;
- `service`: all of it together (`PredictionService`);
- `responses`: the typed bodies it answers with (/predict, /health, /model, /stats).
"""

from driftloop.online.predictor import ModelRefused, ServedModel
from driftloop.online.predlog import PredictionLog, read_logged_period, read_prediction_log
from driftloop.online.problems import Problem, RequestRefused
from driftloop.online.responses import HealthResponse, ModelResponse, PredictResponse, StatsResponse
from driftloop.online.schema import RequestSchema, request_schema
from driftloop.online.service import NoModel, PredictionService
from driftloop.online.slot import ChampionWatcher, ModelSlot, SwapOutcome

__all__ = [
    "ChampionWatcher",
    "HealthResponse",
    "ModelRefused",
    "ModelResponse",
    "ModelSlot",
    "NoModel",
    "PredictResponse",
    "PredictionLog",
    "PredictionService",
    "Problem",
    "RequestRefused",
    "RequestSchema",
    "ServedModel",
    "StatsResponse",
    "SwapOutcome",
    "read_logged_period",
    "read_prediction_log",
    "request_schema",
]
