"""Entry point of the collector process: `python -m mpmon.collector`, its settings as JSON on stdin.

It binds the listener, says "ready" on stdout, and serves until it is asked to stop or its parent ends.
Files are created readable by their owner only (umask 077) unless the settings say otherwise.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    config = json.loads(sys.stdin.read())
    os.umask(int(config.get("umask", 0o077)))
    from .server import Server

    try:
        server = Server(config)
    except OSError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    print("ready", flush=True)
    sys.stdout.close()
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
