"""Every CPython private attribute mpmon relies on is in compat.py, and each hook is active on this Python.

If a Python upgrade removes one, these tests fail loudly instead of mpmon quietly getting slower (the
pool hand-over falling back to a flush per call, say).
"""

from __future__ import annotations

import asyncio
import multiprocessing.util
import re

from helpers import ROOT

import mpmon
from mpmon import compat

PRIVATE = re.compile(r"\._wlock\b|\b_target\b|\b_args\b|_exit_function|_run_finalizers|_is_coroutine")


def test_private_attributes_are_used_only_in_compat() -> None:
    """No module but compat.py names one of the private attributes."""
    users = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "mpmon").rglob("*.py"))
        if path.name != "compat.py" and PRIVATE.search(path.read_text())
    ]
    assert users == []


def test_the_hooks_of_this_process_are_active() -> None:
    """multiprocessing's exit handler and finalizers are found; an async Timer is a coroutine function."""
    assert compat.exit_function(multiprocessing.util) is not None
    assert callable(getattr(multiprocessing.util, "_run_finalizers", None))

    @mpmon.Timer
    async def nap() -> None:
        pass

    assert asyncio.iscoroutinefunction(nap)
