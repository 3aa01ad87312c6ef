"""Throwaway virtual environments for tests that install packages, e.g. plugin packages, and run zoo in them.

Making one is fast and needs no network for what is already installed: the environment
is created without pip, and a ``.pth`` file adds the site-packages of the interpreter
running the tests (numpy, scipy, pytest, zoo itself, ...) after its own. Packages are
then installed into its own site-packages with this interpreter's pip (``pip --python``,
pip >= 22.3), so their entry points, and only theirs, come and go with ``install`` and
``uninstall`` while everything else stays shared::

    from throwaway import ThrowawayVenv, build_wheel

    venv = ThrowawayVenv(tmp_path / "venv")
    venv.install(ROOT / "examples" / "zoo-plugin-example")    # a project directory: built on the way
    result = venv.zoo("plugins", "--json")     # python -m zoo inside the environment
    venv.uninstall("zoo-plugin-example")
    wheel = build_wheel(ROOT / "examples" / "zoo-plugin-example", tmp_path / "wheels")
    venv.install(wheel)                        # a wheel built once installs again without building

Building a package from source still fetches its build backend (``[build-system]
requires``) from the package index, as ``pip install`` always does.
"""

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import venv
from collections.abc import Mapping
from pathlib import Path

_COPY_IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
PATH_VARIABLES = ("ZOO_DATA", "ZOO_RUNS")
"""zoo's variables holding one path: made absolute, as commands in the venv run in another directory."""


class ThrowawayVenv:
    """A virtual environment at ``path`` that sees the current interpreter's packages below its own."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(self.path)
        self.bin = self.path / ("Scripts" if os.name == "nt" else "bin")
        self.executable = self.bin / ("python.exe" if os.name == "nt" else "python")
        self.site_packages = Path(sysconfig.get_path("purelib", vars={"base": self.path, "platbase": self.path}))
        parents = [p for p in site.getsitepackages() if Path(p).is_dir() and Path(p) != self.site_packages]
        # addsitedir, not a bare path line, so the parents' own .pth files (editable installs) run too.
        line = "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents)
        (self.site_packages / "_throwaway_parent_site.pth").write_text(line + "\n")

    def environ(self, env: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """The current environment with this venv activated, updated by ``env`` (a value of None removes a name).

        Relative paths in :data:`PATH_VARIABLES` (CI sets ``ZOO_DATA=../shared/data``) are made
        absolute from the current directory, where they were meant.
        """
        environ = dict(os.environ)
        environ.pop("PYTHONHOME", None)
        environ["VIRTUAL_ENV"] = str(self.path)
        environ["PATH"] = str(self.bin) + os.pathsep + environ.get("PATH", "")
        environ["PYTHONDONTWRITEBYTECODE"] = "1"  # runs from a source tree leave no __pycache__ in it
        for name, value in (env or {}).items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        for name in PATH_VARIABLES:
            if environ.get(name):
                environ[name] = os.path.abspath(environ[name])
        return environ

    def run(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the command ``args`` with this venv activated; output is captured as text, the exit code not checked.

        ``cwd`` defaults to the venv's own directory, so a source tree the tests run from can
        neither shadow the installed packages (``python -m`` puts the working directory first
        on ``sys.path``) nor receive files the command writes, such as ``./runs``. Relative paths
        in arguments are read from there too.
        """
        return subprocess.run(
            [str(a) for a in args],
            env=self.environ(env),
            cwd=self.path if cwd is None else cwd,
            timeout=timeout,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def python(self, *args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
        """Run this venv's interpreter with ``args`` (keyword arguments as for :meth:`run`)."""
        return self.run(self.executable, *args, **kwargs)

    def zoo(self, *args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
        """Run ``zoo args`` (as ``python -m zoo``) in this venv."""
        return self.python("-m", "zoo", *args, **kwargs)

    def pytest(self, *args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
        """Run ``python -m pytest args`` in this venv, without writing a ``.pytest_cache`` anywhere."""
        return self.python("-m", "pytest", "-p", "no:cacheprovider", *args, **kwargs)

    def pip(self, *args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
        """Run the current interpreter's pip on this venv (``pip --python``); raises if pip fails."""
        command = [sys.executable, "-m", "pip", "--python", self.executable, "--disable-pip-version-check"]
        result = self.run(*command, "--no-input", *args, **kwargs)
        if result.returncode:
            raise RuntimeError(f"pip {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def install(self, *targets: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
        """Install ``targets`` (project directories, wheels, requirement strings) without their dependencies.

        A directory is built into a wheel first, by :func:`build_wheel`. To install one
        project again (after :meth:`uninstall`, or into another venv) without building it
        again, build its wheel once with :func:`build_wheel` and install that.
        """
        scratch = Path(tempfile.mkdtemp(prefix="src-", dir=self.path))
        try:
            resolved = [build_wheel(t, scratch / str(i)) if Path(t).is_dir() else t for i, t in enumerate(targets)]
            return self.pip("install", "--no-deps", *resolved)
        finally:
            shutil.rmtree(scratch)

    def uninstall(self, *distributions: str) -> subprocess.CompletedProcess[str]:
        """Uninstall the named distributions from this venv (never from the environments it borrows from)."""
        return self.pip("uninstall", "--yes", *distributions)


def build_wheel(project: str | os.PathLike[str], directory: str | os.PathLike[str]) -> Path:
    """Build the project in the directory ``project`` into a wheel below ``directory`` (made if missing); its path.

    The project is copied to a scratch folder first and built by the current interpreter, so
    the build leaves no ``build/`` or ``*.egg-info`` in the source tree, and its isolated build
    environment gets the backend the project asks for: inside a throwaway venv, the borrowed
    site-packages (an older setuptools, say) would shadow it.
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="wheel-", dir=directory))  # its own folder: the one wheel in it is this one
    with tempfile.TemporaryDirectory(prefix="src-") as scratch:
        copy = Path(scratch) / Path(project).resolve().name
        shutil.copytree(project, copy, ignore=_COPY_IGNORE)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, copy]
        built = subprocess.run([str(c) for c in command], capture_output=True, text=True)
        if built.returncode:
            raise RuntimeError(f"building {project} failed:\n{built.stdout}\n{built.stderr}")
    return next(out.glob("*.whl"))
