"""A process that records one segment forever, shipping its pieces to the object store, until
a test kills it (``kill -9``: a node dying mid-segment). Run as::

    python -m tests.support.piece_writer STORAGE_URL DATA_DIR

with the store's keys in EXAMCAST_TEST_STORAGE_ACCESS_KEY / _SECRET_KEY. It writes
``recordings/t-dead/segment-000.webm`` under DATA_DIR (VP8 at 30 frames a second, a keyframe
every 15) and prints ``frames N`` to stdout every second.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from media.shipping import LivePieces
from media.writer import MuxPool, SegmentWriter, StreamSpec
from storage.objects import open_store
from tests.support import seaweed
from tests.support.encoded import video_packets

PIECE_S = 0.5
FPS = 30


async def record(url: str, data_dir: Path) -> None:
    store = open_store(url, *seaweed.keys())
    live = LivePieces(store, data_dir, PIECE_S)
    pool = MuxPool(1, watcher=live)
    packets = video_packets("vp8", 90, gop=15)
    path = data_dir / "recordings" / "t-dead" / "segment-000.webm"
    writer = SegmentWriter(path, [StreamSpec("video", "vp8", 320, 240)], pool.templates, 1.5)
    pool.add(writer)
    began = time.monotonic()
    n = 0
    while True:
        writer.submit("video", packets[n % len(packets)], round(n * 1000 / FPS), n % 15 == 0)
        n += 1
        if n % FPS == 0:
            print(f"frames {n}", flush=True)
        await asyncio.sleep(max(0.0, began + n / FPS - time.monotonic()))


def main() -> None:
    asyncio.run(record(sys.argv[1], Path(sys.argv[2])))


if __name__ == "__main__":
    main()
