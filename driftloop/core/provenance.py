"""What a result was made with: the code version and the versions of the libraries that shape it."""

from __future__ import annotations

import platform
from importlib import metadata

CODE_VERSION = "driftloop-0.2.0"  # bump when training or evaluation changes meaning; part of cache keys
_LIBRARIES = ("lightgbm", "numpy", "pandas", "scikit-learn", "pyarrow")


def library_versions() -> dict[str, str]:
    """Python and the libraries whose versions can change a trained model's bytes."""
    versions = {"python": platform.python_version()}
    versions |= {name: metadata.version(name) for name in _LIBRARIES}
    return versions
