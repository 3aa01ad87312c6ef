"""Training progress on stderr: a transient progress bar and one log line per log point."""

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from zoo.cli.app import err
from zoo.train import LogRecord


@contextlib.contextmanager
def training_progress(label: str) -> Iterator[tuple[Callable[[LogRecord], None], Callable[[int, int], None]]]:
    """``(on_log, on_step)`` callbacks for :func:`zoo.train.train` that draw on stderr."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # off a terminal the bar would leave a blank line behind
    ) as progress:
        task = progress.add_task(label, total=None)

        def on_step(step: int, total: int) -> None:
            progress.update(task, completed=step, total=total)

        def on_log(record: LogRecord) -> None:
            progress.console.print(record.line(label), markup=False, highlight=False, soft_wrap=True)

        yield on_log, on_step
