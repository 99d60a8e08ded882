#!/usr/bin/env bash
# The main job end to end: a real multiprocess run under mpmon, then mpmon-analyze on its logs.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
rm -rf demo-output
.venv/bin/python examples/demo.py demo-output/logs
.venv/bin/mpmon-analyze --logdir demo-output/logs --out demo-output/report --tag demo \
  --subtitle "examples/demo.py: Pool(2), 400 tasks" --trace demo-output/trace.json
echo "figures and report.html are in: $(ls -d demo-output/report/*/)"
echo "open demo-output/trace.json in https://ui.perfetto.dev or chrome://tracing"
