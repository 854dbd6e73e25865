"""What every benchmark shares: an --out folder, timing helpers, and the machine it ran on."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable


def parse_args(name: str) -> Path:
    parser = argparse.ArgumentParser(description=f"benchmark: {name}")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for the JSON result")
    return parser.parse_args().out


def median_s(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write(out: Path, name: str, results: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2))
    tmp.replace(path)
    print(json.dumps(document, indent=2))
    return path
