"""The collector's settings, one typed object: made by `start_collector()`, sent to the collector process
as JSON on its stdin, read back there by the supervisor, the server and the writer.

Every check of a setting lives here, once (`Settings.make`), so the parent refuses a bad value before
any process starts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from .. import schema

__all__ = ["RUN_ID", "Settings", "check_run_id", "new_run_id"]

RUN_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""A run id given to start_collector(run_id=...): 1-128 characters, letters, digits and `._:-`."""


@dataclass
class Settings:
    """What one collector needs to know about its run."""

    log_dir: str
    run_id: str
    address: str
    authkey: str  # hex
    private_dir: str = ""  # the collector's own 0700 directory (socket, ledger, owner marker)
    ledger: str | None = None
    results_format: str = "csv"
    max_bytes: int = 10 * 1024 * 1024
    backup_count: int = 5
    log_to_console: bool = True
    log_to_file: bool = True
    capture_logging: bool = True
    tag: str | None = None
    drop_policy: str = "block"
    logging_config: dict[str, Any] | None = None
    sanitize: str | None = None
    umask: int = 0o077
    resumed: bool = False
    allow_remote: bool = False
    program: dict[str, str] = dataclasses.field(default_factory=dict)  # see run/program.py

    def __post_init__(self) -> None:
        check_choice("results_format", self.results_format, schema.RESULTS_FORMATS)
        check_choice("drop_policy", self.drop_policy, schema.DROP_POLICIES)
        for name in ("max_bytes", "backup_count"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be a non-negative int, not {value!r}")
        check_run_id(self.run_id)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """ValueError unless `value` is one of `choices`."""
    if value not in choices:
        allowed = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be {allowed}, not {value!r}")


def check_run_id(run_id: object) -> str:
    """The run id if it is 1-128 characters of [A-Za-z0-9._:-], else ValueError."""
    if not (isinstance(run_id, str) and RUN_ID.fullmatch(run_id)):
        raise ValueError(f"run_id must be 1-128 characters of letters, digits and '._:-', not {run_id!r}")
    return run_id


def new_run_id() -> str:
    """A fresh run id: the UTC start time and six random hex digits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
