"""Whether a process of this host still runs: how a writer tells work left by a killed process from work in
progress (a registration claim, a temporary file)."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True while process `pid` of this host exists (another user's counts: it is alive, not ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
