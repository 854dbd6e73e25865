"""Fuzzing at scale: >= 10,000 hostile and mutated inputs through `edgecase check` (and, for sensor
rigs and custom Limits, the loaders in-process), with the generators of tests/test_fuzz.py.

Every case must end in exit 0, 1 or 2, an exit 2 must say `FILE:LINE:COL: ...` (or `FILE: ...`),
nothing may run (the injected payloads would create a sentinel file in the case's cwd), and each
case must take under a second.  On top of the random classes, every scalar of every library
scenario is replaced in turn by two code-execution payloads ("every_scalar").

Writes DIR/fuzz.json: per input class the cases tried and their outcomes (ok / exit1 / exit2 /
failures by kind, with the class and seed that reproduces each: `generate(cls, seed)`), the
slowest case in ms, the wall time and the peak RSS growth.  `--cases N` sets the number of random
cases (default 10,000; spread evenly over the classes); exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))
from common import write  # noqa: E402

from tests.test_fuzz import (CLASSES, LIBRARY, PAYLOADS, SENTINEL, Case, _scalar_paths, _set,  # noqa: E402
                             generate, load_yaml, peak_rss_mb, run_case)

FREE_TEXT = ("description", "tags")  # a payload there is just text: exit 0 is right


def main() -> int:
    parser = argparse.ArgumentParser(description="benchmark: fuzz")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for the JSON result")
    parser.add_argument("--cases", type=int, default=10_000, help="random cases, spread evenly over the classes")
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()

    stats: dict[str, dict] = defaultdict(lambda: {"tried": 0, "outcomes": Counter(), "slowest_ms": 0.0, "slowest_seed": None})
    failures: list[dict] = []
    slowest = {"ms": 0.0}

    def record(cls: str, seed: object, case: Case, outcome) -> None:
        s = stats[cls]
        s["tried"] += 1
        s["outcomes"][outcome.verdict] += 1
        ms = outcome.elapsed_s * 1000
        if ms > s["slowest_ms"]:
            s["slowest_ms"], s["slowest_seed"] = round(ms, 2), seed
        if ms > slowest["ms"]:
            slowest.update(ms=round(ms, 2), cls=cls, seed=seed)
        if outcome.failed and len(failures) < 50:
            failures.append({"class": cls, "seed": seed, "verdict": outcome.verdict, "exit": outcome.code,
                             "message": outcome.message[:500]})

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgecase-fuzz-") as tmp:
        root = Path(tmp)
        run_case(Case("warm", {"c.yaml": LIBRARY["occluded_child_dartout.yaml"].encode()}, "c.yaml"), root)
        rss_warm = peak_rss_mb()
        # every scalar of every library scenario, replaced by each payload
        for name, text in LIBRARY.items():
            data = load_yaml(text, name).data
            for path in _scalar_paths(data):
                for payload in PAYLOADS:
                    mutated = copy.deepcopy(data)
                    _set(mutated, path, payload)
                    case = Case("every_scalar", {"c.yaml": yaml.safe_dump(mutated, sort_keys=False).encode()}, "c.yaml")
                    outcome = run_case(case, root)
                    if outcome.code == 0 and path[0] not in FREE_TEXT:
                        outcome.verdict = "payload_accepted"
                    record("every_scalar", f"{name}:{'/'.join(map(str, path))}", case, outcome)
        # the random classes, round robin
        for i in range(args.cases):
            cls = CLASSES[i % len(CLASSES)]
            seed = args.first_seed + i // len(CLASSES)
            case = generate(cls, seed)
            record(cls, seed, case, run_case(case, root))
        stray = sorted(str(p) for p in root.rglob(SENTINEL))
    wall_s = time.perf_counter() - started

    classes = {cls: {"tried": s["tried"], "outcomes": dict(sorted(s["outcomes"].items())),
                     "slowest_ms": s["slowest_ms"], "slowest_seed": s["slowest_seed"]} for cls, s in stats.items()}
    total = Counter()
    for s in stats.values():
        total.update(s["outcomes"])
    failed = sum(n for verdict, n in total.items() if verdict not in ("ok", "exit1", "exit2")) + len(stray)
    results = {
        "cases": sum(s["tried"] for s in stats.values()),
        "random_cases": args.cases,
        "failures": failed,
        "outcomes": dict(sorted(total.items())),
        "classes": classes,
        "slowest_case": slowest,
        "wall_s": round(wall_s, 1),
        "cases_per_s": round(sum(s["tried"] for s in stats.values()) / wall_s, 1),
        "peak_rss_mb": {"before": round(rss_before, 1), "after_warmup": round(rss_warm, 1), "after": round(peak_rss_mb(), 1),
                        "growth_after_warmup": round(peak_rss_mb() - rss_warm, 1)},
        "sentinel_files": stray,
        "failure_examples": failures,
    }
    write(args.out, "fuzz", results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
