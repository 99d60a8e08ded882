"""Checked by `mypy --strict` (scripts/test.sh): decorated functions keep their parameters and return type.

Each `type: ignore[...]` marks a call that must be an error; with warn_unused_ignores (on in strict
mode) mypy fails if the decorator lost the signature and the call stopped being an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, assert_type

import mpmon


@mpmon.Timer
def scale(x: int, factor: float = 2.0) -> float:
    return x * factor


@mpmon.Timer(log_to_console=False, max_arg_length=50)
def greet(name: str, *, shout: bool = False) -> str:
    return name.upper() if shout else name


@mpmon.ErrorCatcher
@mpmon.Timer(sanitize_func=mpmon.sanitizer)
def parse(text: str) -> int:
    return int(text)


@mpmon.ErrorCatcher(error_log_file="errors.log")
def count(n: int) -> Iterator[int]:
    yield from range(n)


assert_type(scale(3), float)
assert_type(greet("ada", shout=True), str)
assert_type(parse("12"), int)
assert_type(count(3), Iterator[int])

scale("3")  # type: ignore[arg-type]
greet("ada", True)  # type: ignore[call-arg]
parse(12)  # type: ignore[arg-type]

with mpmon.Timer(name="block") as timer:
    assert_type(timer, mpmon.decorators.TimerDecorator)
with mpmon.ErrorCatcher():
    pass
with mpmon.Timer("load", log_to_console=False) as load:  # codetiming's habit: the text is the name
    assert_type(load, mpmon.decorators.TimerDecorator)
started = mpmon.Timer(name="span").start()
started.stop()


@mpmon.ErrorCatcher(results_format="csv", use_multiprocessing=False)  # the published versions' parameters
@mpmon.Timer(results_format="parquet", use_multiprocessing=True)
def published(x: int) -> int:
    return x


assert_type(published(1), int)
assert_type(mpmon.get_metrics_end(mpmon.get_metrics_start())["duration"], Any)
