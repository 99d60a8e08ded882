"""Every rule of the default sanitizer runs in linear time: no adversarial text of 10,000 characters makes it
backtrack (precise timings and growth: benchmarks/sanitizer_time.py). The bound is loose for a loaded
machine, yet far below what exponential or quadratic rules took (0b19303: 0.65 s for 32 backslashes after
`password="`, about 0.7 s for a 10,000-character URL scheme run)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import pytest

from benchmarks.sanitizer_time import adversarial_texts, rules, timed
from mpmon.sanitizers import default

BOUND_SECONDS = 0.05
GUARD_SECONDS = 5.0  # a rule that backtracks exponentially is interrupted, not waited for


@pytest.fixture
def guard() -> Iterator[Callable[[], None]]:
    """A function that (re)arms an alarm: past GUARD_SECONDS from then the test is interrupted
    (TimeoutError), since `re` checks signals as it runs. Armed per text, so that a loaded machine
    running many linear texts is not mistaken for one that backtracks."""

    def interrupt(*_: object) -> None:
        raise TimeoutError(f"a sanitizer rule ran over {GUARD_SECONDS} s on one text")

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        yield lambda: signal.setitimer(signal.ITIMER_REAL, GUARD_SECONDS)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("name", "rule"), rules(), ids=[name[:2] for name, _ in rules()])
def test_no_adversarial_text_of_10000_characters_makes_a_rule_slow(
    name: str, rule: object, guard: Callable[[], None]
) -> None:
    """The slowest adversarial text, timed again (best of 3 against a loaded machine), under 50 ms."""
    slow = []
    for shape, text in adversarial_texts(rule, 10_000):
        guard()
        slow.append((timed(rule, text), shape, text))
    _, shape, text = max(slow)
    guard()
    best = min(timed(rule, text) for _ in range(3))
    assert best < BOUND_SECONDS, f"{name}: {best * 1e3:.1f} ms on {shape}"


def test_the_shapes_that_leaked_are_masked() -> None:
    """mysql -p<password>, a URL whose first query parameter is ?token=, redis://:<password>@host."""
    texts = {
        "mysql -u root -phunter2 shop": "hunter2",
        "GET https://api.example.com/v1/items?token=hunter2&page=2": "hunter2",
        "fetch('https://h.example.com/a?access_token=hunter2')": "hunter2",
        "redis://:hunter2@cache:6379/0": "hunter2",
    }
    for text, secret in texts.items():
        assert secret not in default(text), text
