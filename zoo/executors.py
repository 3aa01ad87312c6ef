"""Running many trials: in local worker processes (``--jobs N``) or on a Dask cluster.

Every trial runs with one BLAS thread, whatever runs it: OpenBLAS splits a matrix product
differently for different thread counts, which changes the last bits of float32 results.
With one thread per trial, a trial's numbers depend only on its entry, settings and seed,
never on the executor, the number of jobs or the order trials ran in.

Local workers write their run directories as they train; Dask workers (:mod:`zoo.dask_executor`)
return what they trained, and this process writes the run directories.
"""

import concurrent.futures
import contextlib
import functools
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from zoo.cores import THREAD_VARIABLES
from zoo.errors import ZooError
from zoo.training import Interrupted
from zoo.trial import Trial, TrialContext, run_trial

EXECUTORS = ("local", "dask")

_stop_event = None  # in a worker process: set by the parent to ask running trials to stop


def execute(trial: Trial, options: TrialContext) -> dict[str, Any]:
    """Run one trial (in a worker) and report it as a plain dict, whatever its outcome.

    ``status`` is completed, interrupted or failed; the latter two carry ``error``.
    """
    started: dict[str, str] = {}
    label = trial.label()
    try:
        summary = run_trial(
            trial,
            options,
            on_log=lambda record: print(record.line(label), file=sys.stderr, flush=True),
            should_stop=lambda: _stop_event is not None and _stop_event.is_set(),
            on_start=lambda run: started.update(run=run.info["id"]),
        )
        return {"status": "completed", **summary}
    except Interrupted as error:
        return {"status": "interrupted", "error": str(error), "settings": trial.settings, **started}
    except ZooError as error:
        return {"status": "failed", "error": str(error), "settings": trial.settings, **started}


@attrs.frozen
class Outcome:
    """Every trial's result dict, in the order the trials were given; None for trials never started
    (on Dask, an ``interrupted`` result: "stopped before it started")."""

    results: list[dict[str, Any] | None]
    stopped: bool


Runner = Callable[[Callable[[], bool], Callable[[int, dict[str, Any]], None]], Outcome]
"""``run(should_stop, on_result)``: runs the trials, calling ``on_result(index, result)`` as each ends;
``should_stop()`` turning true stops new trials and asks running ones to stop after their current step."""


@contextlib.contextmanager
def prepared(
    trials: list[Trial],
    options: TrialContext,
    *,
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
) -> Iterator[Runner]:
    """``executor`` made ready to run ``trials``, every check done before the caller records anything (for Dask:
    the scheduler reached, each trial's entry resolved, every worker able to load the plugins)."""
    check_executor(executor, address)
    if executor == "dask":
        from zoo import dask_executor  # which builds on this module

        with dask_executor.connected(trials, options, address) as run:
            yield run
    else:
        yield functools.partial(_run_local, trials, options, jobs or os.cpu_count() or 1)


def check_executor(executor: str, address: str | None) -> None:
    """Refuse an unknown executor, or Dask without a scheduler address, before any work starts."""
    if executor not in EXECUTORS:
        raise ZooError(f"unknown executor {executor!r} (available: {', '.join(EXECUTORS)})")
    if executor == "dask" and not address:
        raise ZooError("--executor dask needs --address of a scheduler, e.g. tcp://scheduler:8786")


def _init_worker(stop_event) -> None:
    global _stop_event
    _stop_event = stop_event
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop, through stop_event


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Set the BLAS thread variables for processes started inside the block, then restore them."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_local(trials, options, jobs, should_stop, on_result) -> Outcome:
    context = multiprocessing.get_context("spawn")  # fresh interpreters: BLAS reads the thread variables
    stop_event = context.Event()
    results: list[dict[str, Any] | None] = [None] * len(trials)
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(trials)) or 1, mp_context=context, initializer=_init_worker, initargs=(stop_event,)
    )
    try:
        with _one_blas_thread():
            pending = {pool.submit(execute, trial, options): i for i, trial in enumerate(trials)}
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                if not future.cancelled():
                    results[index] = future.result()
                    on_result(index, results[index])
            if should_stop() and not stop_event.is_set():
                stop_event.set()  # running trials checkpoint and stop after their current step
                for future in list(pending):
                    if future.cancel():
                        del pending[future]
    except BaseException:  # a second Ctrl-C: stop the workers now (every file they write is atomic)
        for child in multiprocessing.active_children():
            child.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return Outcome(results, stop_event.is_set())
