"""A cached virtual environment with the official nuScenes devkit, for validating our exports.

Why a separate venv: nuscenes-devkit 1.2.0 pins numpy<2 and Shapely~=2.0.3, which conflict with
this project's environment (labels-reference 6.3), so the devkit runs in its own interpreter and
the test talks to it through a subprocess and JSON.

The venv lives in $EDGECASE_CACHE_DIR (default ~/.cache/edgecase)/nuscenes-venv-1.2.0 and is
built once: `python -m venv` + `pip install nuscenes-devkit==1.2.0`. A file lock serialises
parallel test runs (pytest-xdist, two checkouts), and a stamp file written last marks it complete,
so an interrupted build is thrown away and redone rather than half-used. When it cannot be built
(no network, no pip) `DevkitUnavailable` says why and the test skips with that reason.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEVKIT = "nuscenes-devkit==1.2.0"
STAMP = ".edgecase-ready"
INSTALL_TIMEOUT_S = 900


class DevkitUnavailable(RuntimeError):
    """The devkit venv could not be built; the message is the reason a test prints when it skips."""


def cache_dir() -> Path:
    return Path(os.environ.get("EDGECASE_CACHE_DIR") or Path.home() / ".cache" / "edgecase")


def venv_dir() -> Path:
    return cache_dir() / f"nuscenes-venv-{DEVKIT.split('==')[1]}"


def venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def devkit_python() -> Path:
    """The devkit venv's interpreter, building the venv first if needed (under a lock).

    Returns at once when the stamp exists; otherwise takes the lock, re-checks (another process may
    have finished meanwhile), and builds. Build time goes to `<venv>/build-seconds.txt`.
    """
    folder = venv_dir()
    if (folder / STAMP).is_file():
        return venv_python(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / STAMP).is_file():
            _build(folder)
    return venv_python(folder)


def _build(folder: Path) -> None:
    """Create the venv from scratch and install the devkit; raise DevkitUnavailable on any failure."""
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    _step([sys.executable, "-m", "venv", str(folder)], "python -m venv")
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_DEFAULT_TIMEOUT="30")
    _step([str(venv_python(folder)), "-m", "pip", "install", "--retries", "2", DEVKIT], f"pip install {DEVKIT}", env)
    _step([str(venv_python(folder)), "-c", "import nuscenes.nuscenes, numpy; assert numpy.__version__ < '2'"],
          "import check of the devkit", env)
    (folder / "build-seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    (folder / STAMP).write_text(DEVKIT + "\n")


def _step(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevkitUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise DevkitUnavailable(f"{what} failed (exit {done.returncode}; no network to PyPI?): {tail}")


def run_script(script: str, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a Python script text in the devkit venv with `args` as sys.argv[1:]."""
    python = devkit_python()
    return subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True, timeout=timeout_s)


if __name__ == "__main__":  # build it ahead of time: python -m tests.nuscenes_venv
    print(devkit_python())
