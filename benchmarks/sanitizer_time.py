"""Worst-case time of every rule of the default sanitizer on adversarial text, and how it grows.

A rule's adversarial texts (`adversarial_texts`) are built from its own hints (the substrings that make
`default` run it) followed, interleaved or preceded by pieces that make regular expressions backtrack:
runs of backslashes, unclosed quotes, separators, scheme and token characters. For each rule the
slowest of them at 5,000 and at 10,000 characters is timed (median of `--rounds`): a rule that runs in
linear time takes about twice as long at twice the length; a quadratic one four times; an exponential
one never finishes (on 0b19303 the quoted-value rule took 0.65 s at 32 backslashes).

    python -m benchmarks.sanitizer_time [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from typing import Any

from mpmon import sanitizers

__all__ = ["adversarial_texts", "rules", "slowest", "timed"]

PIECES = (
    "\\", "a", "0", " ", "=", ":", '"', "'", ".", "-", "_", "/", "@", "%3D", "%22", "%20", "://", "\n",
    "a.", "a ", "a=", 'a="', "a:", '\\"', "a://b", "x:y", "eyJ", "bearer ", "-----BEGIN PRIVATE KEY-----",
)  # fmt: skip
SEPARATORS = ("", "=", '="', "='", ": ", "%3D", "://a:")


def rules() -> list[tuple[str, Any]]:
    """(a name, the rule) of every rule of `sanitizers.default`, in the order it runs them."""
    named = []
    for index, rule in enumerate(sanitizers._RULES):
        named.append((f"{index:02d} {rule[0][0]!r}: {rule[2].pattern[:48]}", rule))
    return named


def adversarial_texts(rule: Any, length: int) -> Iterator[tuple[str, str]]:
    """(a description, a text of `length` characters) made to make `rule` backtrack."""
    hint = rule[0][0]
    for piece in PIECES:
        for separator in SEPARATORS:
            head = hint + separator
            shape = f"{head!r} + {piece!r}"
            yield f"{shape} * n", (head + piece * length)[:length]
            yield f"({shape}) * n", ((head + piece) * length)[:length]
            yield f"{piece!r} * n + {head!r}", (piece * length)[: length - len(head)] + head


def timed(rule: Any, text: str) -> float:
    """Seconds `rule` takes over `text`."""
    started = time.perf_counter()
    rule[2].sub(rule[3], text)
    return time.perf_counter() - started


def slowest(rule: Any, length: int) -> tuple[float, str, str]:
    """The slowest adversarial text of `rule` at `length` characters: (seconds, description, text)."""
    return max((timed(rule, text), name, text) for name, text in adversarial_texts(rule, length))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    print(f"{'rule':<70} {'5,000 ch':>10} {'10,000 ch':>10} {'ratio':>6}  slowest text")
    worst = 0.0
    for name, rule in rules():
        _, shape, _ = slowest(rule, 10_000)
        texts = {n: t for n, t in adversarial_texts(rule, 5_000)}, dict(adversarial_texts(rule, 10_000))
        half, full = (statistics.median(timed(rule, ts[shape]) for _ in range(rounds)) for ts in texts)
        worst = max(worst, full)
        print(f"{name:<70} {half * 1e3:8.3f}ms {full * 1e3:8.3f}ms {full / half:6.2f}  {shape}")
    print(f"worst rule at 10,000 characters: {worst * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
