"""Batch requests in Arrow: an IPC stream of the contract's columns, checked column by column.

The same contract rules as a JSON request (`schema`), with the same names and texts (`problems`), are
applied to whole columns with `pyarrow.compute` and NumPy instead of one value at a time:
- a column's Arrow type is its `type` rule: integers for `int` (any width; unsigned within int64), floats
  or integers for `float`, strings for `string` and `datetime`, booleans for `bool`; a dictionary-encoded
  column is read as its values, a column of Arrow type null as all nulls. A wrong type is a problem of the
  column (every row breaks it);
- a missing column is `exists` when the field is required, all nulls when it is optional; an undeclared
  column follows `extra_columns`, as an undeclared field does;
- then row by row, each row's first broken rule in the JSON path's order: a null where none is allowed
  (`max_null_fraction`), NaN or infinity (`type`), the bounds (`range`, `min`, `max`), the pattern (Python's
  `re.search` on each distinct text, as the JSON path and the gate do), the time format, the allowed set;
  and last a time of the right form that names no instant, as for JSON.

What passes becomes the typed NumPy columns `record_columns` makes of the same records in JSON, so the
features, and so the probabilities, are the same to the bit.

The body limit bounds what a request may hold in memory: the stream is read where it lies (no copy), its
rows are counted from the messages' headers before any is decoded (`max_arrow_rows`, 413), and
compressed buffers are refused (an 8 MiB body could decompress to gigabytes).
"""

from __future__ import annotations

import math
import re
import struct
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftloop.core.contract import ColumnSpec, Contract
from driftloop.core.missing import Factorized
from driftloop.data.validation.suite import ISO_8601, allowed_text, null_text, pattern_text, range_rule
from driftloop.online.problems import (
    MAX_PROBLEMS,
    Problem,
    RequestRefused,
    column_problem,
    counted_field,
    extra_text,
    record_problem,
    shown,
    tally_of,
    times_that_cannot_exist,
    too_large,
)
from driftloop.online.schema import ONLINE_TYPE_TEXT, RequestSchema, optional

ARROW_STREAM = "application/vnd.apache.arrow.stream"
ROW_LIMIT_SETTING = "DRIFTLOOP_SERVE_MAX_ARROW_ROWS"
MEMO_LIMIT = 1 << 16  # distinct texts per column remembered as passing their pattern or time format
_INT64_MAX = 2**63 - 1
_HEADER_RECORD_BATCH, _HEADER_DICTIONARY = "record batch", "dictionary"
_UNCOMPRESSED = "an Arrow IPC stream without buffer compression (the body limit bounds its memory)"
_PROBABILITY = pa.field("probability", pa.float64())
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions()  # made once: the default reads the environment on every stream


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


_ACCEPTS: dict[str, Callable[[pa.DataType], bool]] = {
    "int": pa.types.is_integer,
    "float": lambda kind: pa.types.is_floating(kind) or pa.types.is_integer(kind),
    "string": _is_text,
    "datetime": _is_text,
    "bool": pa.types.is_boolean,
}
_TARGET: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "datetime": pa.string(),
    "bool": pa.bool_(),
}


def _body_problem(rule: str, expected: str) -> RequestRefused:
    problem = Problem(loc=("body",), record=None, field=None, rule=rule, expected=expected, msg=expected)
    return RequestRefused("invalid", [problem], 1, {(None, rule): 0}, 0)


# ---- the stream's headers, read before any buffer is -------------------------------------------------
def _u(buffer: bytes, at: int, form: str) -> int:
    size = struct.calcsize(form)
    if at < 0 or at + size > len(buffer):
        raise ValueError("an offset outside the message header")
    value: int = struct.unpack_from(form, buffer, at)[0]
    return value


def _field(buffer: bytes, table: int, index: int) -> int:
    """A flatbuffer table's field offset (0: absent)."""
    vtable = table - _u(buffer, table, "<i")
    at = 4 + 2 * index
    return _u(buffer, vtable + at, "<H") if at < _u(buffer, vtable, "<H") else 0


def _child(buffer: bytes, table: int, index: int) -> int | None:
    offset = _field(buffer, table, index)
    return None if offset == 0 else table + offset + _u(buffer, table + offset, "<I")


def _batch_header(metadata: bytes, kind: str) -> tuple[int, bool]:
    """A record batch's (rows, compressed), from its Message flatbuffer (Arrow's format/Message.fbs)."""
    header = _child(metadata, _u(metadata, 0, "<I"), 2)  # Message.header
    if header is not None and kind == _HEADER_DICTIONARY:
        header = _child(metadata, header, 1)  # DictionaryBatch.data
    if header is None:
        raise ValueError("a batch message without its header")
    offset = _field(metadata, header, 0)  # RecordBatch.length
    rows = _u(metadata, header + offset, "<q") if offset else 0
    return rows, _field(metadata, header, 3) != 0  # RecordBatch.compression


def read_stream(body: bytes, max_rows: int) -> pa.Table:
    """The body as an Arrow table, its rows counted and its compression refused before it is decoded.

    Raises:
        RequestRefused: not an Arrow IPC stream, compressed, no rows (422); over `max_rows` rows (413).
    """
    buffer = pa.py_buffer(body)
    rows = 0
    try:
        for message in pa.ipc.MessageReader.open_stream(buffer):
            if message.type not in (_HEADER_RECORD_BATCH, _HEADER_DICTIONARY):
                continue
            length, compressed = _batch_header(message.metadata.to_pybytes(), message.type)
            if compressed:
                raise _body_problem("arrow", _UNCOMPRESSED)
            if message.type == _HEADER_RECORD_BATCH:
                rows += length
        if rows > max_rows:
            raise too_large(f"{rows:,} rows", f"{max_rows:,} rows", ROW_LIMIT_SETTING, rows)
        table = pa.ipc.open_stream(buffer).read_all()
    except (pa.ArrowException, ValueError, OSError) as error:
        raise _body_problem("arrow", f"an Arrow IPC stream ({ARROW_STREAM}): {error}") from None
    if table.num_rows == 0:
        raise _body_problem("min_records", "at least one row")
    return table


# ---- the columns, checked --------------------------------------------------------------------------
class _Found:
    """The problems found so far: whole columns, and (row, field, rule, expected, got) of single rows."""

    def __init__(self, rows: int, contract: Contract) -> None:
        self.rows = rows
        self.contract = contract
        self.columns: list[tuple[str, str, str, Any]] = []  # field, rule, expected, got
        self.cells: list[tuple[int, int, str, str, str, Any]] = []  # row, field position, field, rule, …

    def column(self, field: str, rule: str, expected: str, got: Any = None) -> None:
        self.columns.append((field, rule, expected, got))

    def cells_of(
        self, position: int, field: str, rule: str, expected: str, rows: np.ndarray, values: pa.Array | None
    ) -> None:
        got = values.take(pa.array(rows[:MAX_PROBLEMS])).to_pylist() if values is not None else []
        for index, row in enumerate(rows.tolist()):
            value = shown(got[index]) if index < len(got) else None
            self.cells.append((row, position, field, rule, expected, value))

    def refusal(self) -> RequestRefused | None:
        if not self.columns and not self.cells:
            return None
        self.cells.sort(key=lambda cell: (cell[0], cell[1]))
        room = max(0, MAX_PROBLEMS - len(self.columns))
        problems = [column_problem(*column) for column in self.columns[:MAX_PROBLEMS]] + [
            record_problem(row, field, rule, expected, got, "rows")
            for row, _, field, rule, expected, got in self.cells[:room]
        ]
        tally, records = tally_of((field, rule, row) for row, _, field, rule, _, _ in self.cells)
        for field, rule, _, _ in self.columns:  # a whole column: every row breaks it
            tally[(counted_field(field, self.contract), rule)] = self.rows
        records = self.rows if self.columns else records
        return RequestRefused("invalid", problems, len(self.columns) + len(self.cells), tally, records)


class ArrowChecker:
    """A contract's rules over the columns of an Arrow body; one per served model (it remembers texts)."""

    def __init__(
        self, schema: RequestSchema, unreadable_times: Callable[[Any, Factorized | None], np.ndarray]
    ) -> None:
        self.schema = schema
        self.contract: Contract = schema.contract
        self.unreadable_times = unreadable_times
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._passed: dict[str, set[str]] = {}  # field -> texts known to pass its pattern and format
        self._allowed: dict[str, pa.Array] = {}  # field -> its allowed values, as its Arrow type
        self._declared = frozenset(schema.fields)
        self._ranges = {name: range_rule(self.contract.columns[name]) for name in schema.fields}
        # Number columns whose common case, no problem, is found for all of them at once (`_numbers`):
        # their bounds as floats (exact below 2**53) and whether a null is allowed.
        self._bounds: dict[str, tuple[float, float, bool]] = {}
        for name in schema.fields:
            spec = self.contract.columns[name]
            bounds = (-math.inf if spec.min is None else spec.min, math.inf if spec.max is None else spec.max)
            exact = all(math.isinf(bound) or abs(bound) < 2**53 for bound in bounds)
            if spec.type in ("int", "float") and spec.allowed is None and exact:
                self._bounds[name] = (float(bounds[0]), float(bounds[1]), optional(spec))
        for name in schema.fields:
            spec = self.contract.columns[name]
            pattern = _pattern(spec, self._time_format(name))
            if pattern is not None:
                self._patterns[name] = re.compile(pattern)
            if spec.allowed is not None:
                self._allowed[name] = _value_set(spec.allowed, _TARGET[spec.type])

    def _time_format(self, name: str) -> str | None:
        spec = self.contract.columns[name]
        time = self.contract.time
        return time.format if name == time.column and spec.type == "datetime" else None

    def columns(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, Factorized]]:
        """The table's declared columns, checked, typed as `record_columns` types the same records; and its
        text columns factorized (Arrow's dictionary encoding: each distinct text hashed once, and the
        lookups and features read the codes instead of hashing the texts again).

        Raises:
            RequestRefused: a problem of a column or of rows (422), naming field, rule and rows.
        """
        found = _Found(table.num_rows, self.contract)
        sent = table.schema.names
        names = Counter(sent)
        for name, count in names.items():
            if count > 1:
                found.column(name, "arrow", "each column once", f"{count} columns named {name!r}")
            elif name not in self._declared and self.contract.extra_columns == "refuse":
                found.column(name, "extra_columns", extra_text(self.contract, name))
        arrays: dict[str, pa.Array] = {}
        texts: dict[str, _Texts] = {}
        numbers: list[tuple[int, str, pa.Array]] = []
        for position, name in enumerate(self.schema.fields):
            if names.get(name, 0) > 1:
                continue
            column = table.column(sent.index(name)) if name in names else None
            array = self._array(column, table.num_rows, position, name, found)
            if array is None:
                continue
            arrays[name] = array
            if name in self._bounds:
                numbers.append((position, name, array))
                continue
            if _is_text(array.type):
                texts[name] = _Texts(array)
            self._check(position, name, array, found, texts.get(name))
        failing, typed = self._numbers(numbers)
        for position, name, array in failing:  # checked again, row by row
            self._check(position, name, array, found, None)
        refusal = found.refusal()
        if refusal is not None:
            raise refusal
        columns = {
            name: typed[name]
            if name in typed
            else texts[name].values()
            if name in texts
            else _typed(array, self.contract.columns[name].type)
            for name, array in arrays.items()
        }
        coded = {name: text.factorized for name, text in texts.items()}
        self._check_times(columns, coded)
        return columns, coded

    def _array(
        self, column: pa.ChunkedArray | None, rows: int, position: int, name: str, found: _Found
    ) -> pa.Array | None:
        """The column as one array of the field's Arrow type; None (the problem noted) when it cannot be."""
        spec = self.contract.columns[name]
        target = _TARGET[spec.type]
        if column is None:
            if optional(spec):
                return pa.nulls(rows, target)
            found.column(name, "exists", "present in every record")
            return None
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if array.type == target:  # the common case
            return array
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if pa.types.is_null(array.type):
            return pa.nulls(len(array), target)
        if not _ACCEPTS[spec.type](array.type):
            found.column(name, "type", self._type_text(name), f"Arrow type {array.type}")
            return None
        if pa.types.is_uint64(array.type) and spec.type == "int":  # beyond int64: the JSON path's bound
            high = np.flatnonzero(np.asarray(pc.fill_null(pc.greater(array, _INT64_MAX), False)))
            if len(high):
                rule, expected = self._ranges[name] or ("range", f"<= {_INT64_MAX}")
                found.cells_of(position, name, rule, expected, high, array)
                return None
        # An int beyond 2**53 sent for a float becomes the nearest float, as it does in JSON.
        return array.cast(target, safe=spec.type != "float")

    def _type_text(self, name: str) -> str:
        time_format = self._time_format(name)
        spec = self.contract.columns[name]
        return f"a time written as {time_format}" if time_format else ONLINE_TYPE_TEXT[spec.type]

    def _check(self, position: int, name: str, array: pa.Array, found: _Found, texts: _Texts | None) -> None:
        """Each row's first broken rule, in the JSON path's order."""
        spec = self.contract.columns[name]
        if texts is not None:
            nulls = texts.factorized[0] < 0
        else:
            nulls = np.asarray(array.is_null()) if array.null_count else np.zeros(len(array), dtype=bool)
        bad = nulls.copy()  # a null row is checked no further
        if array.null_count and not optional(spec):
            found.cells_of(position, name, "max_null_fraction", null_text(spec), np.flatnonzero(nulls), None)
        if array.null_count == len(array):
            return
        if spec.type in ("int", "float"):
            self._check_numbers(position, name, array, bad, found)
        if texts is not None:
            self._check_texts(position, name, array, texts, bad, found)
        if name in self._allowed and not bad.all():
            if texts is not None:  # each distinct text once
                known = np.asarray(pc.is_in(texts.dictionary, value_set=self._allowed[name]))
                outside = ~np.append(known, True)[texts.factorized[0]]  # a null (code -1) is in `bad`
            else:
                outside = ~np.asarray(pc.fill_null(pc.is_in(array, value_set=self._allowed[name]), True))
            if (outside & ~bad).any():
                self._note(found, position, name, "allowed", allowed_text(spec), ~bad & outside, bad, array)

    def _numbers(
        self, numbers: list[tuple[int, str, pa.Array]]
    ) -> tuple[list[tuple[int, str, pa.Array]], dict[str, np.ndarray]]:
        """The number columns checked all at once, and typed: the common case, every column fine, costs a
        few reductions over one matrix instead of a few per column, and the matrix's rows are the typed
        columns. A column returned as failing may still be fine (the row-by-row check decides); one not
        returned is: no null where none may be, every value finite and within its bounds.

        Returns:
            The columns to check row by row, and the typed columns (an int column with a null is left to
            `_typed`: its float64 comes from Arrow's cast, as for JSON).
        """
        failing, exact, floated = [], [], []
        for item in numbers:
            nulls = item[2].null_count
            if nulls and not self._bounds[item[1]][2]:
                failing.append(item)
            elif nulls or not pa.types.is_int64(item[2].type):
                floated.append((item, nulls))  # compared as float64, a null as NaN (left out)
            else:
                exact.append((item, 0))
        typed: dict[str, np.ndarray] = {}
        for group, floats in ((exact, False), (floated, True)):
            if not group:
                continue
            values = np.vstack([item[2].to_numpy(zero_copy_only=False) for item, _ in group])
            low = np.array([self._bounds[item[1]][0] for item, _ in group])
            high = np.array([self._bounds[item[1]][1] for item, _ in group])
            if floats:
                nulls = np.array([count for _, count in group])
                # A NaN or an infinity sent as a value: more values that are not finite than nulls.
                fine = values.shape[1] - np.count_nonzero(np.isfinite(values), axis=1) == nulls
                fine &= (np.fmin.reduce(values, axis=1) >= low) & (np.fmax.reduce(values, axis=1) <= high)
                fine |= nulls == values.shape[1]  # all null (allowed): nothing to check
            else:
                fine = (values.min(axis=1) >= low) & (values.max(axis=1) <= high)
            for row, ((item, nulls_of), ok) in enumerate(zip(group, fine.tolist(), strict=True)):
                if not ok:
                    failing.append(item)
                elif not (nulls_of and self.contract.columns[item[1]].type == "int"):
                    typed[item[1]] = values[row]
        return failing, typed

    def _check_numbers(
        self, position: int, name: str, array: pa.Array, bad: np.ndarray, found: _Found
    ) -> None:
        """NaN and infinity (floats), then the bounds; the common case, all within, in two reductions."""
        spec = self.contract.columns[name]
        values = array.to_numpy(zero_copy_only=False)  # a null is NaN here, and in `bad` already
        if spec.type == "float":
            finite = np.isfinite(values)
            if not finite.all():
                broken = ~bad & ~finite
                self._note(found, position, name, "type", ONLINE_TYPE_TEXT["float"], broken, bad, array)
        checked = values[~bad] if bad.any() else values  # what the bounds apply to
        rule = self._ranges[name]
        if rule is None or not len(checked):
            return
        low, high = checked.min(), checked.max()
        if (spec.min is None or low >= spec.min) and (spec.max is None or high <= spec.max):
            return
        outside = np.zeros(len(values), dtype=bool)
        if spec.min is not None:
            outside |= values < spec.min
        if spec.max is not None:
            outside |= values > spec.max
        self._note(found, position, name, rule[0], rule[1], ~bad & outside, bad, array)

    def _check_texts(
        self, position: int, name: str, array: pa.Array, texts: _Texts, bad: np.ndarray, found: _Found
    ) -> None:
        """Pattern, then time format: each distinct text checked once (and remembered when it passes)."""
        spec = self.contract.columns[name]
        pattern = self._patterns.get(name)
        time_format = self._time_format(name)
        if pattern is None and time_format is None:
            return
        passed = self._passed.setdefault(name, set())
        failing: dict[str, tuple[str, str]] = {}  # text -> (rule, expected)
        distinct = texts.factorized[1].tolist()
        fresh = [] if passed.issuperset(distinct) else [text for text in distinct if text not in passed]
        mismatch = ("type", ONLINE_TYPE_TEXT["datetime"]) if spec.type == "datetime" else None
        for text in fresh:
            if pattern is not None and not pattern.search(text):
                failing[text] = mismatch or ("pattern", pattern_text(spec))
            elif time_format is not None and not _parses(text, time_format):
                failing[text] = ("type", f"a time written as {time_format}")
        if len(passed) + len(fresh) > MEMO_LIMIT:
            passed.clear()
        passed.update(text for text in fresh if text not in failing)
        for rule, expected in sorted(set(failing.values())):
            texts = pa.array([text for text, why in failing.items() if why == (rule, expected)], pa.string())
            rows = ~bad & np.asarray(pc.fill_null(pc.is_in(array, value_set=texts), False))
            self._note(found, position, name, rule, expected, rows, bad, array)

    @staticmethod
    def _note(
        found: _Found,
        position: int,
        name: str,
        rule: str,
        expected: str,
        broken: np.ndarray,
        bad: np.ndarray,
        array: pa.Array,
    ) -> None:
        if broken.any():
            found.cells_of(position, name, rule, expected, np.flatnonzero(broken), array)
            bad |= broken

    def _check_times(self, columns: dict[str, np.ndarray], coded: dict[str, Factorized]) -> None:
        """A time of the right form that names no instant: refused as the JSON path refuses it."""
        column = self.contract.time.column
        if column not in columns:
            return
        times = columns[column] if columns[column].dtype == object else columns[column].astype(object)
        impossible = np.flatnonzero(self.unreadable_times(times, coded.get(column)))
        if len(impossible):
            raise times_that_cannot_exist(self.contract, impossible.tolist(), times, "rows")


class _Texts:
    """A text column dictionary-encoded once: its codes (-1 where null) and distinct texts, for the checks,
    the typed column and everything after (`Factorized`)."""

    def __init__(self, array: pa.Array) -> None:
        encoded = array.dictionary_encode()
        indices = pc.fill_null(encoded.indices, -1) if encoded.indices.null_count else encoded.indices
        self.dictionary: pa.Array = encoded.dictionary
        self.factorized: Factorized = (
            np.asarray(indices.to_numpy(), dtype=np.intp),
            self.dictionary.to_numpy(zero_copy_only=False).astype(object, copy=False),
        )

    def values(self) -> np.ndarray:
        """The texts as `record_columns` holds them: an object array, None where null."""
        codes, uniques = self.factorized
        return np.append(uniques, None)[codes]  # code -1 picks the trailing None


def _value_set(allowed: Any, kind: pa.DataType) -> pa.Array:
    """The allowed values as the column's Arrow type; a value no column of that type can hold is left out
    (no value of the column could equal it)."""
    kept = []
    for value in allowed:
        try:
            kept.append(pa.scalar(value).cast(kind))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
    return pa.array([scalar.as_py() for scalar in kept], kind)


def _pattern(spec: ColumnSpec, time_format: str | None) -> str | None:
    """The pattern the JSON schema enforces on the field (`schema._annotation`): the contract's, else an
    ISO-8601 time for a datetime without a `time.format`."""
    if spec.pattern is not None:
        return spec.pattern
    if spec.type == "datetime" and time_format is None:
        return ISO_8601
    return None


def _parses(text: str, time_format: str) -> bool:
    try:
        datetime.strptime(text, time_format)
    except ValueError:
        return False
    return True


def _typed(array: pa.Array, kind: str) -> np.ndarray:
    """A checked column as `record_columns` holds it: an int column with a null as float64, a bool column
    with a null and every text as objects (None where null), NaN for a missing float."""
    if kind == "int" and array.null_count:
        return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if kind in ("int", "float"):
        return np.array(array.to_numpy(zero_copy_only=False), dtype=np.int64 if kind == "int" else np.float64)
    values = array.to_numpy(zero_copy_only=False)
    if kind == "bool" and not array.null_count:
        return np.asarray(values, dtype=bool)
    if values.dtype != object:
        values = values.astype(object)
    return values


# ---- the answer --------------------------------------------------------------------------------------
def arrow_answer(probabilities: np.ndarray, model: str, model_version: str, request_id: str) -> bytes:
    """An Arrow IPC stream of one `probability` column (float64, in row order); the model, its version
    and the request id in the schema's metadata (and the response's headers)."""
    schema = pa.schema(
        [_PROBABILITY], metadata={"model": model, "model_version": model_version, "request_id": request_id}
    )
    batch = pa.RecordBatch.from_arrays([pa.array(probabilities, pa.float64())], schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=_WRITE_OPTIONS) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def selected(body: bytes, table: pa.Table, fields: tuple[str, ...]) -> bytes:
    """The body without its undeclared columns (`extra_columns: drop`), as an IPC stream; the body itself
    when it has none."""
    kept = [name for name in table.column_names if name in fields]
    if len(kept) == table.num_columns:
        return body
    sink = pa.BufferOutputStream()
    narrowed = table.select(kept)
    with pa.ipc.new_stream(sink, narrowed.schema) as writer:
        writer.write_table(narrowed)
    return sink.getvalue().to_pybytes()
