"""What users import is exactly what `driftloop/__init__.py` exports, and each name resolves to itself."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import driftloop


def test_public_api_is_exactly_what_init_exports() -> None:
    public = {
        name
        for name in dir(driftloop)
        if not name.startswith("_")
        and name not in ("annotations", "importlib", "TYPE_CHECKING", "Any")
        and not isinstance(getattr(driftloop, name), types.ModuleType)
    }
    assert set(driftloop.__all__) == public == set(driftloop._EXPORTS)
    for name in driftloop.__all__:
        value = getattr(driftloop, name)
        assert getattr(value, "__name__", name) == name  # resolves to the object of that name
    with pytest.raises(AttributeError):
        _ = driftloop.not_a_public_name


def test_importing_driftloop_imports_nothing_heavy() -> None:
    heavy = ("prefect", "lightgbm", "great_expectations", "evidently", "pandas")
    code = f"import sys, driftloop; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
