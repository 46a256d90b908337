"""One way for the tests' HTTP servers to run: `serve_forever` in a daemon thread between `with` and its end."""

from __future__ import annotations

import socketserver
import threading
from typing import Self


class ServedInThread:
    """Mixin: set `self.httpd`, call `_serve_in_thread()` in __init__; `with` starts it, leaving stops and closes it.

    A short poll interval: shutdown() waits up to one interval, and the tests start many servers.
    `_stopping()` runs first at the end (to release handlers that wait).
    """

    httpd: socketserver.BaseServer

    def _serve_in_thread(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def _stopping(self) -> None:
        """Hook before shutdown (nothing by default)."""

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping()
        self.httpd.shutdown()
        self.httpd.server_close()
