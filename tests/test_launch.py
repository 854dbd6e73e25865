"""launch/: the checked-in compose file is what the generator writes, and the scripts parse."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO

LAUNCH = REPO / "launch"


def test_the_checked_in_compose_file_is_the_generated_one():
    done = subprocess.run([sys.executable, str(LAUNCH / "gen_compose.py"), "--servers", "2", "--check"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in LAUNCH.rglob("*.sh")) or ["none"])
def test_launch_scripts_parse(script):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    path = next(LAUNCH.rglob(script))
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
