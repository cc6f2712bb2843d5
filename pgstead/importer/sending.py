"""A COPY writer that sends from a thread of its own, a few blocks behind at most.

The importing thread hands on batches faster than one backend takes them in (ahead.py
converts ahead), and each batch also goes to the backend that sums it (summing.py): sending
from this thread would keep that one waiting while it blocked on the COPY. psycopg's
QueuedLibpqWriter sends from a thread too, but it queues up to a thousand blocks, which here
would be a hundred megabytes once the server falls behind; this one blocks after
BLOCKS_AHEAD.
"""

from __future__ import annotations

import threading
from queue import Queue
from typing import Any

from psycopg import Cursor
from psycopg.copy import LibpqWriter

BLOCKS_AHEAD = 8  # the batches the importer writes are about half a megabyte


class SendingWriter(LibpqWriter):
    def __init__(self, cursor: Cursor[Any]) -> None:
        super().__init__(cursor)
        self._blocks: Queue[bytes | None] = Queue(maxsize=BLOCKS_AHEAD)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="pgstead-import-send",
                                        daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._blocks.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        self._blocks.put(None)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error
        super().finish(exc)

    def _send(self) -> None:
        while (data := self._blocks.get()) is not None:
            if self._error is None:
                try:
                    super().write(data)
                except BaseException as error:  # noqa: BLE001 - raised by write or finish
                    self._error = error  # and the queue is drained, so write never blocks
