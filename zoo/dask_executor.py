"""Trials on a Dask cluster whose workers share no files with this process.

What crosses the wire: to a worker, each trial's entry table, seed and settings
(:class:`zoo.remote.RemoteTrial`), the plugins (:mod:`zoo.worker_plugins`), the ``--data-dir``
path if one was given, and the name of a stop flag on the scheduler; back, a
:class:`zoo.remote.Trained` per trial. Workers write nothing; this process writes every run
directory as results arrive. Workers need zoo, its installed plugins and the data (at the
``--data-dir`` path, or their own ``ZOO_DATA``).

Once ``should_stop()`` is true, trials not yet sent to a worker are cancelled, and every trial
that has not begun training is reported interrupted ("stopped before it started"); one that has
stops after its current step, as it would locally, and its checkpoint is recorded here.
"""

import contextlib
import functools
import math
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError, one_line
from zoo.executors import Outcome, Runner
from zoo.loading import default_catalog
from zoo.remote import RemoteTrial, Trained, not_started, record, remote_trial, train_detached
from zoo.runs import runs_root
from zoo.trial import Trial, TrialContext
from zoo.worker_plugins import PluginSetup, check_workers, client_plugins, worker_catalog

NOT_STARTED = "stopped before it started"
POLL_SECONDS = 0.5
"""How often a training trial asks the scheduler whether to stop."""


@contextlib.contextmanager
def connected(trials: list[Trial], options: TrialContext, address: str) -> Iterator[Runner]:
    """A runner of ``trials`` on the scheduler at ``address``, once the entries resolve and every worker can
    load the plugins; the connection lasts while the block runs."""
    try:
        import distributed
    except ImportError:
        raise ZooError("--executor dask needs dask.distributed: pip install 'numpy-zoo[dask]'") from None
    catalog = default_catalog()
    resolved = [remote_trial(trial, catalog) for trial in trials]
    plugins = client_plugins(catalog)
    try:
        client = distributed.Client(address, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise ZooError(f"cannot reach the Dask scheduler at {address}: {one_line(error)}") from None
    with client:
        check_workers(client, plugins)
        yield functools.partial(_run, distributed, client, resolved, plugins, options, catalog)


def _run(distributed, client, resolved, plugins, options, catalog, should_stop, on_result) -> Outcome:
    """Submit every trial and record each result as it arrives; stop as the module says once ``should_stop()``."""
    root = runs_root(options.runs_dir)
    results: list[dict[str, Any] | None] = [None] * len(resolved)

    def report(index: int, future=None) -> None:
        """Record trial ``index`` from its ``future``; without one, as stopped before it started."""
        task, entry = resolved[index]
        try:
            trained = not_started(task, NOT_STARTED) if future is None else future.result()
        except distributed.KilledWorker:
            trained = Trained("failed", "its Dask worker died (killed, or out of memory)", task.settings)
        results[index] = record(trained, entry, root, catalog)
        on_result(index, results[index])

    stop = distributed.Event(f"zoo-stop-{secrets.token_hex(8)}", client=client)
    submit = functools.partial(client.submit, _train, plugins=plugins, data_dir=options.data_dir, stop=stop.name)
    pending = {submit(task, pure=False): i for i, (task, _) in enumerate(resolved)}
    stopped = False
    try:
        while pending:
            try:
                done = distributed.wait(list(pending), timeout=0.2, return_when="FIRST_COMPLETED").done
            except distributed.TimeoutError:
                done = set()
            for future in done:
                report(pending.pop(future), future)
            if should_stop() and not stopped:
                stopped = True
                stop.set()  # first: a trial that starts from now on returns at once, not started
                on_workers = {key for keys in client.processing().values() for key in keys}
                waiting = [future for future in pending if future.key not in on_workers and not future.done()]
                client.cancel(waiting)
                for future in waiting:
                    report(pending.pop(future))
    except BaseException:  # a second Ctrl-C, or a result that cannot be recorded: run nothing more
        stop.set()  # and leave it set: a cancelled trial still training on a worker stops at its next look
        client.cancel(list(pending))
        raise
    stop.clear()  # nothing is running: this removes the flag from the scheduler
    return Outcome(results, stopped)


def _train(task: RemoteTrial, *, plugins: PluginSetup, data_dir: Path | None, stop: str) -> Trained:
    """What a worker runs for one trial: train with one BLAS thread; return everything to record."""
    from distributed import Event
    from threadpoolctl import threadpool_limits

    should_stop = _polled(Event(stop).is_set, POLL_SECONDS)
    if should_stop():
        return not_started(task, NOT_STARTED)
    try:
        catalog = worker_catalog(plugins)
    except ZooError as error:
        return Trained("failed", str(error), task.settings)
    with threadpool_limits(limits=1, user_api="blas"):
        return train_detached(
            task,
            catalog,
            data_dir,
            on_log=lambda record: print(record.line(task.label), file=sys.stderr, flush=True),
            should_stop=should_stop,
        )


def _polled(check: Callable[[], bool], seconds: float) -> Callable[[], bool]:
    """``check``, asked at most once every ``seconds`` (its last answer in between), and true for good once true."""
    last = {"time": -math.inf, "answer": False}

    def polled() -> bool:
        if not last["answer"] and time.monotonic() - last["time"] >= seconds:
            last["time"], last["answer"] = time.monotonic(), bool(check())
        return last["answer"]

    return polled
