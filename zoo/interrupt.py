"""Graceful Ctrl-C: the first SIGINT (or SIGTERM) asks training to stop after the current step,
which writes a checkpoint and marks the run interrupted; a second one stops at once."""

import signal
import threading
from collections.abc import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """A context manager whose instances are ``should_stop`` callables for :func:`zoo.training.train`.

    Outside the main thread (where Python cannot install handlers) it only reports ``also``.
    """

    def __init__(self, on_first: Callable[[], None] = lambda: None, also: Callable[[], bool] = lambda: False):
        self.requested = False
        self._on_first, self._also, self._previous = on_first, also, {}

    def __call__(self) -> bool:
        return self.requested or self._also()

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _handle(self, signum, frame) -> None:
        if self.requested:  # the second time: no more waiting
            self._restore()
            raise KeyboardInterrupt
        self.requested = True
        self._on_first()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
