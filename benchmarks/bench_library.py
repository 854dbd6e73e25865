"""The library's realization rates: how often each scenario really is its edge case, on its own map
and on two of CARLA's towns.

For every scenario in scenarios/ and each map (its own, ../shared/maps/Town10HD.xodr,
../shared/maps/Town01.xodr), 50 seeds are run on the embedded backend without sensors; the rate is
the share whose `expect` oracles all hold. The towns are tried through a temporary file that
`extends:` the scenario and overrides `map:`: nothing else changes, so a low rate there says the
scenario leans on its builtin map's layout. A seed that does not compile counts as not held; a map
where no seed compiles (it lacks the lanes or junctions the scenario asks for) is recorded as
'n/a: <the first error>'. Writes bench-results/library.json and the table in docs/library.md
(between the LIBRARY-TABLE markers). Several minutes: scenarios x 3 maps x 50 seeds episodes.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import parse_args, write  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOWNS = {"Town10HD": REPO.parent / "shared" / "maps" / "Town10HD.xodr", "Town01": REPO.parent / "shared" / "maps" / "Town01.xodr"}
SEEDS = 50
DOC = REPO / "docs" / "library.md"
BEGIN, END = "<!-- LIBRARY-TABLE:BEGIN (benchmarks/bench_library.py writes this) -->", "<!-- LIBRARY-TABLE:END -->"


def rate(path: str, map_source: str | None) -> dict:
    """Seeds 0..49 of the scenario at `path` (on `map_source`, if given): held, run, first error."""
    import edgecase
    from edgecase.errors import EdgecaseError

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(path)
        if map_source is not None:
            file = Path(tmp) / "on_map.yaml"
            file.write_text(f"extends: {Path(path).resolve()}\nmap: {map_source}\n")
        try:
            scenario = edgecase.load(file)
        except EdgecaseError as err:
            return {"held": 0, "compiled": 0, "error": str(err)}
        held, compiled, error = 0, 0, None
        for seed in range(SEEDS):
            try:
                result = edgecase.run(scenario, seed)
            except EdgecaseError as err:
                error = error or str(err)
                continue
            compiled += 1
            held += bool(result.passed)
    return {"held": held, "compiled": compiled, "error": error}


def cell(outcome: dict) -> str:
    if outcome["compiled"] == 0:
        return "n/a: " + _short(outcome["error"] or "no seed compiled")
    return f"{outcome['held'] / SEEDS:.0%}"


def _short(error: str) -> str:
    return re.sub(r"^\S*/", "", error.splitlines()[0])[:160].replace("|", "/")


def main() -> None:
    out = parse_args("library")
    from edgecase.scenario.library import list_library

    entries = [e for e in list_library(REPO / "scenarios") if not e.error]
    maps = {"builtin": None, **{name: str(path) for name, path in TOWNS.items()}}
    jobs = {(e.name, m): (str(e.path), source) for e in entries for m, source in maps.items()}
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        futures = {key: pool.submit(rate, *args) for key, args in jobs.items()}
        outcomes = {key: f.result() for key, f in futures.items()}
    results = {}
    for e in entries:
        import edgecase

        results[e.name] = {"tags": list(e.tags), "map": edgecase.load(e.path).spec.map,
                           **{m: {**outcomes[(e.name, m)], "rate": cell(outcomes[(e.name, m)])} for m in maps}}
    write(out, "library", {"seeds": SEEDS, "scenarios": results})
    write_table(results)


def write_table(results: dict) -> None:
    """Replace the table between the markers in docs/library.md (appended if the markers are missing)."""
    rows = ["| scenario | tags | builtin map | rate builtin | rate Town10HD | rate Town01 |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(f"| {name} | {', '.join(r['tags'])} | `{r['map']}` | {r['builtin']['rate']} | "
                    f"{r['Town10HD']['rate']} | {r['Town01']['rate']} |")
    table = "\n".join([BEGIN, *rows, END])
    text = DOC.read_text() if DOC.exists() else "# The scenario library\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + table + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + table + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    main()
