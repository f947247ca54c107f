"""Online serving: the champion behind a contract-checked request, with the batch path's features.

Plain Python, no web framework: `deployments/service.py` puts FastAPI in front of `PredictionService`.
- `schema`, `problems`: the request schema generated from the contract; refusals naming field and rule;
- `arrow`: Arrow IPC request bodies checked column by column by the same rules, and Arrow answers;
- `predictor`: a verified model bundle that scores requests (`ServedModel`);
- `slot`: hot swap, following the champion alias (`ModelSlot`, `ChampionWatcher`), and the shadow challenger
  it implies (`ChallengerFinder`: the newest version registered after the champion, never promoted);
- `predlog`: the prediction log and the refusal log, written in batches off the request path, and read
  back as frames (`read_prediction_log`, `read_refusals`);
- `metrics`: the Prometheus metrics of /metrics, right across worker processes (`ServiceMetrics`);
- `service`: all of it together (`PredictionService`);
- `responses`: the typed bodies it answers with (/predict, /health, /model, /stats).
"""

from driftloop.online.metrics import ServiceMetrics
from driftloop.online.predictor import ModelRefused, ServedModel
from driftloop.online.predlog import PredictionLog, read_logged_period, read_prediction_log, read_refusals
from driftloop.online.problems import Problem, RequestRefused
from driftloop.online.responses import HealthResponse, ModelResponse, PredictResponse, StatsResponse
from driftloop.online.schema import RequestSchema, request_schema
from driftloop.online.service import NoModel, PredictionService
from driftloop.online.slot import ChallengerFinder, ChampionWatcher, ModelSlot, ShadowOutcome, SwapOutcome

__all__ = [
    "ChallengerFinder",
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
    "ServiceMetrics",
    "ShadowOutcome",
    "StatsResponse",
    "SwapOutcome",
    "read_logged_period",
    "read_prediction_log",
    "read_refusals",
    "request_schema",
]
