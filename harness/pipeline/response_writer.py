"""Stores response rows from a background thread, so a run's next responses are produced (and the engine keeps
generating) while the last ones are written and fsynced.

Rows that wait together are appended as one write and one fsync (a group commit): a burst of responses, such as a
vLLM batch that finishes at once, costs a few fsyncs instead of one per 16 rows, and a slow stream gets each row
stored as soon as it comes. Crash safety is the store's, as before: a row counts once its append returned; a kill
loses only rows still queued (their samples run again on resume) and never writes a row twice.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from harness.store import RunStore

QUEUE_ROWS = 4096
"""Rows the producer may be ahead of the disk before it waits (bounds memory when the disk is slow)."""
_CLOSE = object()


class ResponseWriter:
    """Appends rows to ``store``'s responses file from one background thread; use as a context manager.

    Leaving the block (normally, on an error or on Ctrl-C) stores every row already put, then re-raises the first
    error of the writing thread (a full disk, say) in the caller; ``put`` raises it as soon as it is seen.
    """

    def __init__(self, store: RunStore, max_rows: int = QUEUE_ROWS) -> None:
        self.store = store
        self._rows: queue.Queue[Any] = queue.Queue(maxsize=max_rows)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="onkobench-response-writer", daemon=True)

    def __enter__(self) -> "ResponseWriter":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def put(self, row: dict[str, Any]) -> None:
        """Queue one row; waits while the queue is full, and raises the writing thread's error if it has failed."""
        self._put(row)

    def close(self) -> None:
        """Store everything queued, stop the thread, raise its error if it had one."""
        if self._thread.is_alive():
            self._put(_CLOSE)
            self._thread.join()
        self._raise_failure()

    def _put(self, item: Any) -> None:
        while True:
            self._raise_failure()
            try:
                self._rows.put(item, timeout=0.1)
                return
            except queue.Full:
                continue  # the writer is behind (or has died: checked above)

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _write_loop(self) -> None:
        closing = False
        while not closing:
            batch = [self._rows.get()]
            while True:  # everything that waits goes in the same append
                try:
                    batch.append(self._rows.get_nowait())
                except queue.Empty:
                    break
            closing = any(item is _CLOSE for item in batch)
            rows = [item for item in batch if item is not _CLOSE]
            try:
                self.store.append_responses(rows)
            except BaseException as err:  # noqa: BLE001 - handed to the producing thread, which raises it
                self._error = err
                return
