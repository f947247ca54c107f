"""The prediction service's API under fuzzing: its OpenAPI by schemathesis, its data contract by hypothesis.

One app for the module, in process (ASGI, no socket), serving v1 of the trained store. schemathesis reads
the OpenAPI the app publishes and sends what it generates from it, valid and invalid, to every operation,
with the reload token: no answer may be a 5xx, and every status code and body must be one the OpenAPI
declares; without the token, /reload is a 401. hypothesis draws records from the data contract itself (its
types, ranges, patterns, allowed values, times and consistency rules): a body the contract accepts gets a
probability per record; break one field of one record and the 422 names that record, field and rule; an
int column a contract leaves unbounded takes any integer int64 holds and refuses a wider one by name.
Every test runs a bounded, derandomized number of cases: two runs send the same requests.
"""

from __future__ import annotations

import calendar
import gc
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from deployments.service import create_app
from driftloop.core.contract import ColumnSpec, Contract
from driftloop.core.settings import ServingSecrets, ServingSettings
from driftloop.core.storage import LocalStorage
from driftloop.core.times import local_times
from driftloop.data.validation.suite import range_rule
from driftloop.online import PredictionService
from driftloop.online.problems import refused
from driftloop.online.schema import optional, record_columns, request_schema
from driftloop.registry import Registry
from tests.conftest import TrainedStore

TOKEN = "fuzz-reload-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_RECORDS = 10  # the OpenAPI's maxItems: small generated bodies, and more of them over the limit
FUZZ_CASES = 100  # generated requests per operation and kind (valid, invalid)
PROPERTY_CASES = 100  # generated bodies per property
# Years of times drawn: from 1900, every zone keeps standard time (no local mean time, offsets of whole
# minutes, as ISO-8601 writes them); to 2037, as pandas reads zone names through pytz, whose DST rules end
# there: a later summer time is an hour off in pandas (and in driftloop's calendar features), not here.
TIME_YEARS = (1900, 2037)
EXISTING_TIME = "a time that exists"  # how the service's refusal of an impossible time begins
MISSING = object()  # "leave the field out"
CASES = {"derandomize": True, "database": None, "deadline": None}
FUZZING = settings(max_examples=FUZZ_CASES, suppress_health_check=list(HealthCheck), **CASES)
PROPERTY = settings(max_examples=PROPERTY_CASES, suppress_health_check=[HealthCheck.too_slow], **CASES)


@dataclass(frozen=True)
class Served:
    """The app under test and the contract of the model it serves."""

    app: FastAPI
    contract: Contract


@pytest.fixture(scope="module")
def served(
    trained_store: TrainedStore, slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """v1, the champion of a private copy of the store, behind the app `driftloop serve` runs."""
    store = Path(shutil.copytree(trained_store.path, tmp_path_factory.mktemp("fuzzed") / "store"))
    Registry(LocalStorage(store), slice_contract.model_name).promote(1, reason="fuzzing")
    serving = ServingSettings(poll_seconds=3600, max_records=MAX_RECORDS, log_flush_seconds=0.5)
    service = PredictionService(serving, LocalStorage(store), slice_contract, slice_contract.model_name)
    yield Served(create_app(service, ServingSecrets(reload_token=SecretStr(TOKEN))), slice_contract)
    asgi.shutdown_lifespans()  # the app's shutdown: the watcher stops, the prediction log is flushed
    gc.unfreeze()  # the app's start-up froze the objects it found (all of the session's): free them again
    # And the event-loop thread schemathesis keeps until the process exits (its private `_shutdown`, run
    # at exit). It loaded the model, so LightGBM's OpenMP keeps a thread team for it, and every later
    # LightGBM training of the session ran 1.6x slower beside that team (the suite lost about 2 minutes).
    asgi._shutdown()


@pytest.fixture(scope="module")
def api_schema(served: Served) -> BaseSchema:
    """The OpenAPI the app publishes. Loading it starts the app, whose lifespan lasts until `served` ends."""
    config = schemathesis.Config.from_dict(
        # a body that breaks the schema is refused as breaking the contract (422) or as too large (413)
        {"checks": {"negative_data_rejection": {"expected-statuses": ["413", "422"]}}}
    )
    return schemathesis.openapi.from_asgi("/openapi.json", served.app, config=config)


# ---- schemathesis: the service's own OpenAPI --------------------------------------------------------

# Every operation the OpenAPI declares, and the kinds of request schemathesis can make for it: only
# /predict takes input, so only /predict can get a request that breaks its schema.
OPERATIONS = {
    ("POST", "/predict"): (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    ("GET", "/health"): (GenerationMode.POSITIVE,),
    ("GET", "/model"): (GenerationMode.POSITIVE,),
    ("GET", "/stats"): (GenerationMode.POSITIVE,),
    ("POST", "/reload"): (GenerationMode.POSITIVE,),
}


def _keep_what_json_schema_cannot_say(body: Any, contract: Contract) -> None:
    """Make a body generated as valid keep, in place, the rules its JSON Schema cannot state, so that it
    reaches the model: an integer column's number written with a fraction (2013.0, an integer to JSON
    Schema, not to the contract, which like the batch gate wants an integer) is written as an integer, and a
    time of the right form on a day that does not exist, or not for pandas (2013-02-30, 0000-01-01,
    9999-12-31), is moved to one that does; the rest of its text (time of day, fraction, offset) stays."""
    for record in body["records"]:
        for name, value in record.items():
            spec = contract.columns.get(name)
            if spec is not None and spec.type == "int" and isinstance(value, float) and value.is_integer():
                record[name] = int(value)
        time = record.get(contract.time.column)
        if contract.time.format is None and isinstance(time, str):
            record[contract.time.column] = _on_a_day_that_exists(time)


def _on_a_day_that_exists(text: str) -> str:
    """An ISO-8601 time with its date, if it names no day within TIME_YEARS, moved to one that does."""
    found = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
    if found is None:
        return text
    year, month, day = (int(part) for part in found.groups())
    if TIME_YEARS[0] <= year <= TIME_YEARS[1] and day <= calendar.monthrange(year, month)[1]:
        return text
    year = TIME_YEARS[0] + year % (TIME_YEARS[1] - TIME_YEARS[0] + 1)
    return f"{year:04d}-{month:02d}-{min(day, 28):02d}{text[10:]}"


def _refuses_times_that_do_not_exist(response: schemathesis.Response, contract: Contract) -> bool:
    """A 422 of the service refusing only wall-clock times that a DST change skips or repeats: JSON Schema
    does not know the contract's zone."""
    if response.status_code != 422 or "problems" not in response.json():
        return False
    return all(
        problem["field"] == contract.time.column and problem["expected"].startswith(EXISTING_TIME)
        for problem in response.json()["detail"]
    )


def test_the_operations_fuzzed_are_all_the_openapi_declares(api_schema: BaseSchema) -> None:
    declared = {(result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()}
    assert declared == set(OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(method, path, mode) for (method, path), modes in OPERATIONS.items() for mode in modes],
)
def test_every_generated_request_gets_a_declared_answer_and_no_server_error(
    api_schema: BaseSchema, served: Served, method: str, path: str, mode: GenerationMode
) -> None:
    @given(case=api_schema[path][method].as_strategy(mode, headers=AUTH))
    @FUZZING
    def answered_as_declared(case: schemathesis.Case) -> None:
        if path == "/predict" and mode is GenerationMode.POSITIVE:
            _keep_what_json_schema_cannot_say(case.body, served.contract)
        response = case.call()
        # Every check: no 5xx, status codes and bodies as declared, bad input refused, good input accepted
        # (unless refused for a time a DST change skips or repeats, which the OpenAPI cannot know).
        skipped = _refuses_times_that_do_not_exist(response, served.contract)
        case.validate_response(response, excluded_checks=[positive_data_acceptance] if skipped else [])

    answered_as_declared()


def test_without_the_token_reload_is_a_401_as_its_openapi_says(api_schema: BaseSchema) -> None:
    reload = api_schema["/reload"]["POST"]
    refused = [
        {},
        {"Authorization": "Bearer not-it"},
        {"Authorization": TOKEN},
        {"Authorization": "Basic eA=="},
    ]
    assert reload.definition.raw["security"] == [{"HTTPBearer": []}]  # so schemathesis also tries without
    for headers in refused:
        case = reload.Case(headers=headers)
        response = case.call()
        assert (response.status_code, response.headers["www-authenticate"]) == (401, ["Bearer"]), headers
        case.validate_response(response)
    allowed = reload.Case(headers=AUTH)
    response = allowed.call()
    assert (response.status_code, response.json()["status"]) == (200, "unchanged")
    allowed.validate_response(response)


# ---- hypothesis: bodies drawn from the data contract ------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # any text JSON can carry


def _integers(spec: ColumnSpec) -> st.SearchStrategy[int]:
    low = math.ceil(spec.min) if spec.min is not None else None
    high = math.floor(spec.max) if spec.max is not None else None
    return st.integers(min_value=low, max_value=high)


def _value(spec: ColumnSpec) -> st.SearchStrategy[Any]:
    """A value that keeps the column's rules: its type, range, pattern and allowed values."""
    if spec.allowed is not None:
        inside = [v for v in spec.allowed if not isinstance(v, int | float) or _within(spec, v)]
        return st.sampled_from(inside)
    if spec.type == "int":
        return _integers(spec)
    if spec.type == "float":  # a JSON number without a fraction is a float too
        floats = st.floats(min_value=spec.min, max_value=spec.max, allow_nan=False, allow_infinity=False)
        return floats | _integers(spec)
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "datetime":
        first, last = (datetime(year, 1, 1) for year in TIME_YEARS)
        return st.datetimes(first, last).map(datetime.isoformat)
    return st.from_regex(spec.pattern, fullmatch=True) if spec.pattern is not None else _TEXT


def _within(spec: ColumnSpec, value: float) -> bool:
    return (spec.min is None or value >= spec.min) and (spec.max is None or value <= spec.max)


def _calendar(local: datetime | pd.Timestamp, part: str) -> int:
    """A calendar part as the contract's consistency rules read it (day_of_week: Monday is 0)."""
    if part == "day_of_week":
        return local.weekday()
    if part == "quarter":
        return (local.month - 1) // 3 + 1
    return int(getattr(local, part))


@st.composite
def _time(draw: st.DrawFn, contract: Contract) -> tuple[str, datetime]:
    """A time the contract accepts, as text, and the local time it names: within the years the consistency
    rules allow, and never a wall-clock time that a DST change skips or repeats."""
    years = [contract.columns[rule.column] for rule in contract.consistency if rule.equals == "year"]
    first = max([TIME_YEARS[0], *(math.ceil(spec.min) for spec in years if spec.min is not None)])
    last = min([TIME_YEARS[1], *(math.floor(spec.max) for spec in years if spec.max is not None)])
    wall = draw(st.datetimes(datetime(first, 1, 1), datetime(last, 12, 31, 23, 59)))
    fmt = contract.time.format
    if fmt is not None:  # what the text keeps of the time is what it names
        wall = datetime.strptime(wall.strftime(fmt), fmt)
    zone = ZoneInfo(contract.time.timezone)
    local = wall.replace(tzinfo=zone)
    assume(local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall)  # not skipped
    assume(wall.replace(fold=1, tzinfo=zone).utcoffset() == local.utcoffset())  # not repeated
    if fmt is not None:
        return wall.strftime(fmt), local
    spellings = [local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), local.isoformat(), wall.isoformat()]
    return draw(st.sampled_from(spellings)), local


@st.composite
def records(draw: st.DrawFn, contract: Contract) -> dict[str, Any]:
    """A record the contract accepts: every column but the target; optional ones sometimes null or left out;
    the columns a consistency rule ties to the time column agreeing with it."""
    text, local = draw(_time(contract))
    derived = {rule.column: _calendar(local, rule.equals) for rule in contract.consistency}
    record: dict[str, Any] = {}
    for name, spec in contract.columns.items():
        if spec.role == "target":
            continue
        value = text if name == contract.time.column else derived.get(name, MISSING)
        if value is MISSING:
            value = draw(_value(spec))
        if optional(spec):
            value = draw(st.sampled_from([value, None, MISSING]))
        if value is not MISSING:
            record[name] = value
    return record


def bodies(contract: Contract) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(records(contract), min_size=1, max_size=3)


@dataclass(frozen=True)
class Broken:
    """One field of one record broken, and the rule the refusal must name."""

    field: str
    rule: str
    value: Any  # MISSING: the field left out


_WRONG_TYPE: dict[str, list[Any]] = {
    "int": ["7", 7.5, True, [7]],
    "float": ["7.5", True, {"value": 7.5}],
    "string": [7, 7.5, False, ["EWR"]],
    "bool": ["true", 1, 0.5],
    "datetime": [1357034400, 2013.5, True, ["2013-01-01T10:00:00Z"]],
}


def _past(spec: ColumnSpec, bound: float, side: int) -> st.SearchStrategy[float | int]:
    """A number of the column's type past `bound` (side -1: below it, +1: above it), near or far."""
    if spec.type == "int":
        edge = math.floor(bound) + 1 if side > 0 else math.ceil(bound) - 1
        return st.integers(*sorted((edge, edge + side * 10**6)))
    low, high = sorted((bound, bound + side * 1e9))
    return st.floats(low, high, exclude_min=side > 0, exclude_max=side < 0)


@st.composite
def _impossible_time(draw: st.DrawFn, contract: Contract) -> str:
    """A time of the form the column wants, naming no day: February 30, April 31, or the year 0000."""
    year = draw(st.sampled_from([0, draw(st.integers(*TIME_YEARS))]))
    month, day = (1, 1) if year == 0 else draw(st.sampled_from([(2, 30), (2, 31), (4, 31), (9, 31)]))
    if contract.time.format is not None:
        return (
            contract.time.format.replace("%Y", f"{year:04d}")
            .replace("%m", f"{month:02d}")
            .replace("%d", f"{day:02d}")
        )
    return draw(st.sampled_from(["{}", "{}T10:00:00Z", "{} 10:00"])).format(
        f"{year:04d}-{month:02d}-{day:02d}"
    )


def _breakages(contract: Contract, name: str, spec: ColumnSpec) -> list[st.SearchStrategy[Broken]]:
    """Every way one value of this column can break one of its rules, each with the rule it breaks."""
    ways = [st.sampled_from(_WRONG_TYPE[spec.type]).map(lambda value: Broken(name, "type", value))]
    if not optional(spec):
        ways += [st.just(Broken(name, "max_null_fraction", None)), st.just(Broken(name, "exists", MISSING))]
    bounds = range_rule(spec)
    if bounds is not None:
        sides = [
            _past(spec, bound, side) for bound, side in ((spec.min, -1), (spec.max, 1)) if bound is not None
        ]
        ways.append(st.one_of(sides).map(lambda value: Broken(name, bounds[0], value)))
    if spec.allowed is not None and spec.type != "bool":
        allowed = spec.allowed
        others = _value(spec.model_copy(update={"allowed": None})).filter(lambda value: value not in allowed)
        ways.append(others.map(lambda value: Broken(name, "allowed", value)))
    if spec.pattern is not None:
        pattern = re.compile(spec.pattern)
        unmatched = _TEXT.filter(lambda text: pattern.search(text) is None)
        ways.append(unmatched.map(lambda value: Broken(name, "pattern", value)))
    if name == contract.time.column:
        ways.append(_impossible_time(contract).map(lambda value: Broken(name, "type", value)))
    return ways


@st.composite
def broken_bodies(draw: st.DrawFn, contract: Contract) -> tuple[list[dict[str, Any]], int, Broken]:
    """A body the contract accepts, but for one field of one record: a value against one of its column's
    rules, a required column left out, or the target or an undeclared column sent."""
    body = draw(bodies(contract))
    index = draw(st.integers(0, len(body) - 1))
    ways = [st.just(Broken(contract.target.column, "extra_columns", 30.0))]
    if contract.extra_columns == "refuse":
        ways.append(st.just(Broken("not_in_the_contract", "extra_columns", 1)))
    for name, spec in contract.columns.items():
        if spec.role != "target":
            ways += _breakages(contract, name, spec)
    broken = draw(st.one_of(ways))
    record = {name: value for name, value in body[index].items() if name != broken.field}
    if broken.value is not MISSING:
        record[broken.field] = broken.value
    body[index] = record
    return body, index, broken


def _predict(api_schema: BaseSchema, records_: list[dict[str, Any]], explain: bool) -> schemathesis.Case:
    predict: APIOperation = api_schema["/predict"]["POST"]
    return predict.Case(body={"records": records_}, query={"explain": explain}, media_type="application/json")


@given(data=st.data())
@PROPERTY
def test_a_body_the_contract_accepts_gets_a_probability_per_record(
    api_schema: BaseSchema, served: Served, data: st.DataObject
) -> None:
    body = data.draw(bodies(served.contract), label="records")
    explain = data.draw(st.booleans(), label="explain")
    case = _predict(api_schema, body, explain)

    answer = case.call()

    assert answer.status_code == 200, answer.text
    case.validate_response(answer)  # as the OpenAPI declares it
    predictions = answer.json()["predictions"]
    assert len(predictions) == len(body) and answer.json()["model_version"] == "v1"
    assert all(0.0 <= prediction["probability"] <= 1.0 for prediction in predictions)
    assert all(("contributions" in prediction) is explain for prediction in predictions)


@given(data=st.data())
@PROPERTY
def test_one_broken_field_is_a_422_naming_its_record_field_and_rule(
    api_schema: BaseSchema, served: Served, data: st.DataObject
) -> None:
    body, index, broken = data.draw(broken_bodies(served.contract), label="broken")

    answer = _predict(api_schema, body, explain=False).call()

    assert answer.status_code == 422, answer.text
    named = [(problem["record"], problem["field"], problem["rule"]) for problem in answer.json()["detail"]]
    assert named == [(index, broken.field, broken.rule)], answer.text


def test_the_records_drawn_keep_every_rule_of_the_contract(served: Served) -> None:
    """What the properties stand on: the service checks no consistency rule, so only this test would see
    records drawn inconsistent with their time, or times read otherwise than driftloop reads them."""
    contract = served.contract
    declared = {name for name, spec in contract.columns.items() if spec.role != "target"}
    required = {name for name in declared if not optional(contract.columns[name])}

    @given(record=records(contract))
    @PROPERTY
    def keeps_the_rules(record: dict[str, Any]) -> None:
        assert required <= set(record) <= declared
        for name, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert _within(contract.columns[name], value), (name, value)
        column = contract.time.column
        frame = pd.DataFrame({column: [record[column]]})
        read = local_times(frame, column, contract.time.timezone, contract.time.format)
        [local] = read.tolist()
        assert not pd.isna(local), record[column]
        for rule in contract.consistency:
            assert record[rule.column] == _calendar(local, rule.equals), (rule, record[column])

    keeps_the_rules()


def test_any_integer_for_an_unbounded_int_column_is_taken_or_refused_by_name(served: Served) -> None:
    """A contract may leave an int column unbounded; the request schema then bounds it by int64, which the
    column becomes: a wider integer is a 422 naming the field, not an OverflowError (a 500)."""
    contract = served.contract
    tied = {rule.column for rule in contract.consistency}  # their values follow the time's
    name = next(
        n
        for n, spec in contract.columns.items()
        if spec.type == "int" and spec.role is None and n not in tied
    )
    unbounded = contract.columns[name].model_copy(update={"min": None, "max": None})
    contract = contract.model_copy(update={"columns": {**contract.columns, name: unbounded}})
    schema = request_schema(contract, MAX_RECORDS)
    extremes = st.integers(min_value=2**63 - 2, max_value=2**80).flatmap(
        lambda n: st.sampled_from([n, -n - 1])
    )

    @given(record=records(contract), value=st.integers() | extremes)
    @PROPERTY
    def taken_or_refused(record: dict[str, Any], value: int) -> None:
        body = {"records": [{**record, name: value}]}
        try:
            taken = schema.adapter.validate_python(body)["records"]
        except ValidationError as error:
            problems = [(p.field, p.rule) for p in refused(error, schema).problems]
            assert problems == [(name, "range")] and not -(2**63) <= value < 2**63, (value, problems)
        else:
            assert record_columns(schema, taken)[name].tolist() == [value]

    taken_or_refused()
