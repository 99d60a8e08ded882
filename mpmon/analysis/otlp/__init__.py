"""Export a run as OpenTelemetry traces over OTLP/HTTP protobuf (``mpmon-analyze --otlp-endpoint URL``).

    from mpmon.analysis import export_otlp
    summary = export_otlp("logs", "http://localhost:4318", headers={"Authorization": "Bearer ..."})
    print(summary.line())

:mod:`.translate` turns rows into request bodies (pure), :mod:`.exporter` sends them (stdlib HTTP, gzip,
retries), :mod:`.export` ties them to a selected run, :mod:`.cli` holds the command-line flags. Nothing
here imports ``opentelemetry`` until an export starts; without ``mpmon[otlp]`` it fails with that hint.
"""

from __future__ import annotations

from mpmon.analysis.otlp.export import ExportSummary, OtlpError, export_otlp, export_run

__all__ = ["ExportSummary", "OtlpError", "export_otlp", "export_run"]
