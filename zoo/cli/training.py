"""The ``train`` command: one run, recorded in a run directory, stoppable with Ctrl-C and resumable."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.atomic import write_atomic
from zoo.cli.app import (
    DataDirOption,
    JsonOption,
    RunsDirOption,
    SeedOption,
    SetOption,
    command,
    echo,
    err,
    print_json,
)
from zoo.cli.models import entry_names
from zoo.errors import ConfigError
from zoo.interrupt import StopRequest
from zoo.modelfile import check_writable
from zoo.progress import training_progress
from zoo.runs import runs_root
from zoo.trial import Trial, TrialContext, resume_trial, run_trial


@command("train")
def train_command(
    name: Annotated[
        Optional[str],
        typer.Argument(help="Registry entry name, or a path to an entry's .toml file.", autocompletion=entry_names),
    ] = None,
    overrides: SetOption = None,
    seed: SeedOption = None,
    data_dir: DataDirOption = None,
    output: Annotated[
        Optional[Path], typer.Option("--out", help="Also save the trained model to this .npz file.")
    ] = None,
    runs_dir: RunsDirOption = None,
    checkpoint_every: Annotated[
        int, typer.Option(min=0, help="Checkpoint every N training steps (Ctrl-C always writes one).")
    ] = 0,
    resume: Annotated[
        Optional[str], typer.Option(help="Continue this run (id, id prefix or directory) from its checkpoint.")
    ] = None,
    as_json: JsonOption = False,
):
    """Train an entry on its dataset and report test accuracy; the run is kept under --runs-dir.

    Ctrl-C stops after the current step, writing a checkpoint to resume from; a second Ctrl-C stops at once.
    """
    if (name is None) == (resume is None):
        raise ConfigError("give an entry to train, or --resume RUN to continue one (not both)")
    if resume is not None and (overrides or seed is not None):
        raise ConfigError("--resume continues a run exactly as it started: --set and --seed cannot change it")
    if output is not None:
        check_writable(output)  # before training, not after minutes of it
    options = TrialContext(runs_root(runs_dir).resolve(), data_dir, checkpoint_every)
    announce = lambda: err.print("stopping after this step (Ctrl-C again to stop at once)", highlight=False)  # noqa: E731
    with StopRequest(on_first=announce) as stop, training_progress(name or resume, err) as (on_log, on_step):
        callbacks = {"on_log": on_log, "on_step": on_step, "should_stop": stop}
        if resume is None:
            started = lambda run: err.print(f"run {run.path}", markup=False, highlight=False)  # noqa: E731
            result = run_trial(Trial(name, tuple(overrides or ()), seed), options, on_start=started, **callbacks)
        else:
            result = resume_trial(resume, options, **callbacks)
    model = options.runs_dir / result["run"] / "model.npz"
    if output is not None:
        data = model.read_bytes()
        write_atomic(output, lambda f: f.write(data))
        err.print(f"saved {output}", markup=False, highlight=False)
    if as_json:
        return print_json(result)
    val = "" if result["val_accuracy"] is None else f", validation accuracy {result['val_accuracy']:.2%}"
    echo(
        f"{result['name']}: test accuracy {result['test_accuracy']:.2%}{_shifts(result)}{val}{_kept(result)} "
        f"({result['params']:,} parameters, {result['train_seconds']:.1f} s training, seed {result['seed']}, "
        f"run {result['run']})"
    )


def _shifts(result: dict) -> str:
    """Says the test figure averaged test-time shifts, when it did (the validation figure never does)."""
    shifts = result.get("test_time_shifts")
    return f" (with {shifts} test-time shifts)" if shifts else ""


def _kept(result: dict) -> str:
    """Which epoch's weights were kept, when that is not simply the last one trained."""
    last = result["history"][-1]["epoch"]
    if result["ended"] == "early stopping":
        return f"; early stopping at epoch {last:g} kept epoch {result['kept_epoch']:g}, the best on validation"
    if result["kept_epoch"] != last:
        return f"; kept epoch {result['kept_epoch']:g} of {last:g}, the best on validation"
    return ""
