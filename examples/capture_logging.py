"""mpmon's capture_logging: ordinary `logging` calls in every process of the run go to timing.log.

    python examples/capture_logging.py [LOG_DIR]

The workers use the standard logging module and nothing else; their lines reach timing.log (as JSON
lines with "event": "log") through the collector, one writer, never interleaved. Makes 6 rows of
`resize`, and 7 log lines: one per call and one from the parent.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys

import mpmon

log = logging.getLogger("example")
log.setLevel(logging.INFO)  # at import, so that workers started with spawn or forkserver get it too


@mpmon.Timer
def resize(image: int) -> tuple[int, int]:
    width, height = 640 + image, 480 + image
    log.info("resized image %d to %dx%d", image, width, height)  # an ordinary logging call
    return width, height


def main(log_dir: str) -> None:
    # capture_logging=True forwards the logging records of this process and of every process it starts.
    mpmon.start_collector(log_dir, log_to_console=False, capture_logging=True)
    log.info("resizing 6 images")
    with multiprocessing.Pool(2) as pool:
        sizes = pool.map(resize, range(6))
    print(f"capture_logging: {sizes}; logs in {log_dir}")
    mpmon.stop_collector()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")
