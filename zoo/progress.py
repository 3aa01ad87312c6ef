"""Training progress on a console: a transient progress bar and one log line per log point."""

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from zoo.training import LogRecord


@contextlib.contextmanager
def training_progress(
    label: str, console: Console
) -> Iterator[tuple[Callable[[LogRecord], None], Callable[[int, int], None]]]:
    """``(on_log, on_step)`` callbacks for :func:`zoo.training.train` that draw on ``console`` (the CLI's stderr,
    or a notebook's output); the bar only where it can redraw itself (a terminal or a notebook)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (console.is_terminal or console.is_jupyter),  # elsewhere it would leave a blank line behind
    ) as progress:
        task = progress.add_task(label, total=None)

        def on_step(step: int, total: int) -> None:
            progress.update(task, completed=step, total=total)

        def on_log(record: LogRecord) -> None:
            progress.console.print(record.line(label), markup=False, highlight=False, soft_wrap=True)

        yield on_log, on_step
