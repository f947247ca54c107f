"""A Parquet source read one period at a time: memory follows the period, never the history.

When the contract's source is Parquet files whose time column is stored as a timestamp, a period is read
with its time range pushed down to the files: Parquet keeps each row group's minimum and maximum time, so
only the row groups that can hold the period are read, and only the contract's columns when it drops the
others. Which periods hold data comes from the same statistics; only a row group whose range spans
several periods has its time column read to tell them apart.

The rows read are then cut with `period_of`, the one rule every other source uses, so a time that does
not exist in the contract's timezone (a DST gap) counts nowhere, exactly as in an in-memory table.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from driftloop.core.contract import Contract, TimeSpec
from driftloop.core.periods import period_bounds
from driftloop.core.times import period_of
from driftloop.data.batches import release_arrow_memory


@dataclass(frozen=True)
class ParquetPeriods:
    """The Parquet files of a source, readable by period."""

    paths: tuple[str, ...]
    time: TimeSpec
    time_type: pa.TimestampType
    columns: tuple[str, ...] | None  # None: every column of the files

    @classmethod
    def open(cls, contract: Contract, location: str) -> ParquetPeriods | None:
        """The source at `location` as Parquet read by period; None when it is not Parquet files whose time
        column is a timestamp (CSV, or times written as text): those are read whole."""
        paths = tuple(sorted(glob.glob(location))) or (location,)
        if not all(path.endswith((".parquet", ".pq")) and Path(path).is_file() for path in paths):
            return None
        schema = pq.read_schema(paths[0])
        column = contract.time.column
        if column not in schema.names or not pa.types.is_timestamp(schema.field(column).type):
            return None
        columns = None
        if contract.extra_columns == "drop":
            columns = tuple(name for name in schema.names if name in contract.columns)
        return cls(paths=paths, time=contract.time, time_type=schema.field(column).type, columns=columns)

    def periods(self) -> list[str]:
        """The periods that hold at least one row, oldest first, from the row groups' statistics."""
        found: set[str] = set()
        for path in self.paths:
            handle = pq.ParquetFile(path)
            index = handle.schema_arrow.get_field_index(self.time.column)
            for group in range(handle.metadata.num_row_groups):
                meta = handle.metadata.row_group(group)
                stats = meta.column(index).statistics
                if stats is not None and stats.null_count == meta.num_rows:
                    continue  # no time at all: in no period
                if stats is not None and stats.has_min_max:
                    ends = self._labels(pd.Series([stats.min, stats.max]))
                    if ends.notna().all() and ends.iloc[0] == ends.iloc[1]:
                        found.add(str(ends.iloc[0]))
                        continue
                times = handle.read_row_group(group, columns=[self.time.column]).to_pandas()
                found.update(str(label) for label in self._labels(times[self.time.column]).dropna().unique())
        return sorted(found)

    def count(self, period: str) -> int:
        """Rows whose time falls within `period`'s bounds, counted without loading them (a wall-clock time
        in a DST gap counts here, while `read` drops it)."""
        return ds.dataset(list(self.paths), format="parquet").count_rows(filter=self._within(period))

    def read(self, period: str) -> pd.DataFrame:
        """The rows of `period`, in the files' order (sorted paths, then rows)."""
        table = ds.dataset(list(self.paths), format="parquet").to_table(
            columns=list(self.columns) if self.columns else None, filter=self._within(period)
        )
        frame = table.to_pandas()
        del table
        release_arrow_memory()
        if self.time_type.tz is not None:  # instants: the filter's bounds are exactly the period's
            return frame
        # Wall-clock times: one that does not exist in the timezone (a DST gap) counts in no period.
        keep = (period_of(frame, self.time) == period).to_numpy(dtype=bool)
        return frame if keep.all() else frame.loc[keep].reset_index(drop=True)

    def _within(self, period: str) -> ds.Expression:
        """The filter pushed down to the row groups: the time column within the period's bounds."""
        start, end = period_bounds(period, self.time.period, self.time.timezone)
        field = ds.field(self.time.column)
        return (field >= self._scalar(start)) & (field < self._scalar(end))

    def _scalar(self, moment: pd.Timestamp) -> pa.Scalar:
        """A period bound in the column's own terms: an instant, or wall-clock time for naive columns."""
        if self.time_type.tz is None:
            return pa.scalar(moment.tz_localize(None).to_pydatetime(), type=pa.timestamp(self.time_type.unit))
        return pa.scalar(moment.tz_convert("UTC").to_pydatetime(), type=self.time_type)

    def _labels(self, times: pd.Series) -> pd.Series:
        if self.time_type.tz is not None:
            times = pd.to_datetime(times, utc=True)
        return period_of(pd.DataFrame({self.time.column: times}), self.time)
