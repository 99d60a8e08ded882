"""The published "monitoring" package's parameters on mpmon's decorators, checked in this process (issue 12,
item 2); the published program itself runs in tests/test_published_api.py."""

from __future__ import annotations

import warnings

import pytest

import mpmon
from mpmon.decorators import ErrorCatcherDecorator, TimerDecorator


class TestPublishedParameters:
    def test_use_multiprocessing_warns_once_per_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Accepted on both decorators and ignored; the warning points at the caller's line."""
        monkeypatch.setattr("mpmon.decorators._warned_multiprocessing", False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            timer = mpmon.Timer(use_multiprocessing=True)
            catcher = mpmon.ErrorCatcher(use_multiprocessing=False)
        assert [str(w.message).split(":")[0] for w in caught] == ["use_multiprocessing is ignored"]
        assert caught[0].category is DeprecationWarning and caught[0].filename == __file__
        assert isinstance(timer, TimerDecorator) and isinstance(catcher, ErrorCatcherDecorator)
        assert timer.settings == TimerDecorator().settings

    def test_error_catcher_results_format_is_routed(self) -> None:
        """The sixth item of an error record's route; None leaves it to the collector."""
        assert mpmon.ErrorCatcher(results_format="parquet").settings.route[5] == "parquet"
        assert mpmon.ErrorCatcher(log_to_console=True).settings.route[5] is None
        with pytest.raises(ValueError, match="results_format"):
            mpmon.ErrorCatcher(results_format="xlsx")
