"""docs/reliability.md: every input class, path, fault and load test with its figures.

    python tools/reliability_report.py [--results bench-results] [--out docs/reliability.md]

Reads bench-results/fuzz.json (benchmarks/bench_fuzz.py) and bench-results/load.json
(benchmarks/bench_load.py) when present, and lists the path and fault tests: each test's name,
its case count (pytest parametrizations, read from the source, not run) and what it asserts.
A test named below that no longer exists in its file is flagged, so the table cannot go stale
silently. `make reliability` runs this.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# (file, test, what is injected, what it asserts, what is lost)
TESTS: dict[str, list[tuple[str, str, str, str, str]]] = {
    "Paths (scenario names, episode paths, symlinks, map files, export captures)": [
        ("tests/test_paths.py", "test_a_hostile_scenario_name_is_refused_at_load",
         "`name:` = ../escape, /tmp/abs, a/b, NUL, `..`, `.`, spaces, non-ASCII ...",
         "InputError at load (the language's name pattern `^[A-Za-z][A-Za-z0-9_]*$`)", "nothing"),
        ("tests/test_paths.py", "test_a_hostile_name_in_a_sweep_is_a_bad_input_row_and_writes_nothing_outside",
         "a sweep of a scenario named ../escape or /tmp/abs",
         "one failed row (exit 2, no out_path), no episodes/ folder, nothing outside --out", "nothing"),
        ("tests/test_paths.py", "test_episode_paths_stay_under_episodes_whatever_the_grid_values",
         "grid values ../../x, /etc/passwd, a/../.., NUL",
         "every out_path is episodes/<name>/s<seed>[-<grid hash>]: relative, no '..', 3 parts", "nothing"),
        ("tests/test_paths.py", "test_a_grid_value_that_is_a_path_is_a_value_not_a_place",
         "grid value \"../../../victim\" for a numeric param",
         "refused or a failed episode; no victim folder; everything stays under DIR/episodes", "nothing"),
        ("tests/test_paths.py", "test_run_out_that_is_a_symlink_to_an_existing_directory_is_refused_without_force",
         "`run --out LINK`, LINK -> an existing folder", "'already exists' (exit 2); the target untouched", "nothing"),
        ("tests/test_paths.py", "test_run_force_onto_a_symlink_replaces_the_link_not_its_target",
         "`run --force --out LINK`", "LINK becomes the episode directory; the link's target untouched", "nothing"),
        ("tests/test_paths.py", "test_run_onto_a_dangling_symlink_does_not_create_its_target",
         "`run --out LINK`, LINK -> a missing path", "an error; the target is not created; no temporary left", "nothing"),
        ("tests/test_paths.py", "test_sweep_out_that_is_a_symlink_writes_where_the_user_pointed_it",
         "`sweep --out LINK`", "resolved once at the start: the sweep is written into the link's target", "nothing"),
        ("tests/test_paths.py", "test_a_symlink_planted_inside_the_sweep_is_not_written_through",
         "DIR/episodes/pair -> victim/, then --resume",
         "the episodes fail ('symbolic link'), victim/ stays empty", "the affected episodes (failed rows)"),
        ("tests/test_paths.py", "test_a_symlink_planted_as_an_episode_directory_is_not_followed",
         "DIR/episodes/pair/s0 -> victim/, then --resume", "victim/ unchanged (not trusted as done, not written)", "that episode"),
        ("tests/test_paths.py", "test_a_relative_map_path_resolves_against_the_scenario_file_not_the_cwd",
         "`map: maps/road.xodr`, cwd elsewhere", "the map beside the scenario file is used", "nothing"),
        ("tests/test_paths.py", "test_a_map_that_is_not_a_map_is_a_clean_error_without_its_contents",
         "`map:` /etc/passwd, /etc/shadow, /proc/self/environ, ../../../../etc/passwd, /dev/zero",
         "InputError at the `map:` line; no line of the file (nor an env secret) in the message", "nothing"),
        ("tests/test_paths.py", "test_export_refuses_captures_that_escape_the_episode",
         "a labels file whose capture is ../../../../../../etc/passwd, /etc/passwd, sensors/../../outside.jpg (KITTI, COCO)",
         "InputError 'outside the episode directory'; no dataset, no temporary", "nothing"),
        ("tests/test_paths.py", "test_export_refuses_a_capture_file_that_is_a_symlink_out_of_the_episode",
         "sensors/front/000000.jpg -> a file outside the episode", "InputError 'outside the episode directory'", "nothing"),
        ("tests/test_paths.py", "test_export_of_the_untouched_episode_still_works",
         "(control)", "the same episode exports 3 frames", "nothing"),
    ],
    "Faults: full disk, dead workers, interrupted runs": [
        ("tests/test_faults.py", "test_a_full_disk_fails_the_run_clearly_and_leaves_nothing",
         "ENOSPC from cv2.imwrite (1st / 4th image), from the 2nd labels file, from trace.npz",
         "`edgecase run` exits 3 with 'cannot write the episode DIR: No space left on device' (no 'internal error', no traceback); no DIR, no temporary",
         "that episode"),
        ("tests/test_faults.py", "test_a_full_disk_in_a_sweep_is_one_failed_episode_and_the_manifest_stays_true",
         "ENOSPC on every image of episode s1 of 3 (sensors on)",
         "s1 failed (exit 3, 1 attempt: not retried), s0 and s2 done; done rows == whole directories, no temporary",
         "s1 until a --resume"),
        ("tests/test_faults.py", "test_after_the_disk_is_freed_a_resume_runs_only_the_failed_episode",
         "ENOSPC on s1, then the disk freed and --resume", "only s1 runs again; all 3 done; manifest consistent", "nothing"),
        ("tests/test_faults.py", "test_a_worker_killed_mid_frames_is_replaced_and_its_episode_retried_whole",
         "os._exit halfway through s0 and s2 with sensors (the frame writer mid-episode), 2 local workers",
         "attempts [2, 1, 2], exit 0, every episode has its 3 frames and labels, no temporary", "nothing"),
        ("tests/test_run.py", "test_a_failed_write_leaves_no_directory",
         "OSError from the trace writer", "no episode directory and no temporary", "that episode"),
        ("tests/test_run.py", "test_ctrl_c_during_a_run_leaves_no_episode_and_no_temporary",
         "SIGINT mid-simulation", "exit 130, no traceback, no episode, no temporary", "that episode"),
        ("tests/test_run.py", "test_kill_9_during_a_run_leaves_nothing_that_looks_complete_and_the_next_run_cleans_up",
         "kill -9 mid-recording", "no episode directory, only a hidden temporary; the next run removes it and writes the whole episode",
         "that episode (until it runs again)"),
        ("tests/test_sweep.py", "test_kill_9_mid_sweep_then_resume_runs_every_episode_exactly_once",
         "kill -9 of the coordinator mid-sweep", "--resume runs every episode exactly once; manifest consistent", "nothing"),
        ("tests/test_sweep.py", "test_resume_trusts_complete_directories_and_removes_half_written_ones",
         "complete and half-written episode directories left behind", "whole ones kept as done, temporaries removed", "nothing"),
        ("tests/test_sweep.py", "test_backend_failures_are_retried_with_a_bound_and_dead_workers_replaced",
         "EDGECASE_SWEEP_FAULTS: backend once / always, crash (os._exit) mid-episode, crash after the rename",
         "bounded retries, fresh workers, the renamed episode kept (not run twice)", "the always-failing episode"),
        ("tests/test_sweep.py", "test_workers_that_keep_failing_are_retired_and_the_sweep_stops_resumable",
         "every episode fails in the backend", "workers retired after 5 in a row; rows left pending for --resume", "nothing (resumable)"),
        ("tests/test_sweep.py", "test_the_ray_engine_replaces_a_dead_actor",
         "os._exit in a Ray actor (ray.init(num_cpus=2))", "the episode is retried on a new actor and completes", "nothing"),
        ("tests/test_carla_bridge.py", "test_no_server_is_exit_3_and_no_address_is_exit_2",
         "no CARLA server (fake)", "exit 3; no address: exit 2", "that episode"),
        ("tests/test_carla_bridge.py", "test_a_missing_sensor_frame_is_a_retryable_error_naming_the_sensor",
         "a sensor frame that never arrives (fake)", "a retryable error naming the sensor", "that episode"),
        ("tests/test_carla_bridge.py", "test_a_tick_time_out_is_exit_3_not_a_hang",
         "a tick that times out (fake)", "exit 3, no hang", "that episode"),
        ("tests/test_carla_bridge.py", "test_a_refused_spawn_names_the_actor_and_its_pose_and_leaves_nothing",
         "a refused spawn (fake)", "the error names the actor and pose; no actor left", "that episode"),
        ("tests/test_carla_bridge.py", "test_a_lost_server_is_exit_3_and_the_clean_up_gives_up_quickly",
         "the server lost mid-episode (fake)", "exit 3; the clean-up gives up quickly", "that episode"),
    ],
}


def _test_cases(file: Path) -> dict[str, int]:
    """Test function -> number of cases (product of its parametrize lists, where they are literals)."""
    if not file.is_file():
        return {}
    tree = ast.parse(file.read_text())
    constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
    cases: dict[str, int] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        count = 1
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize" and len(deco.args) >= 2:
                values = deco.args[1]
                if isinstance(values, ast.Name):
                    values = constants.get(values.id, values)
                if isinstance(values, (ast.List, ast.Tuple)):
                    count *= len(values.elts)
        cases[node.name] = count
    return cases


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
    return out


def _tests_section(title: str, entries: list[tuple[str, str, str, str, str]]) -> tuple[list[str], int]:
    cache: dict[str, dict[str, int]] = {}
    rows, total = [], 0
    for file, name, injected, asserts, lost in entries:
        cases = cache.setdefault(file, _test_cases(REPO / file))
        count = cases.get(name)
        shown = f"`{name}`" if count is not None else f"`{name}` **(missing from {file})**"
        total += count or 0
        rows.append([f"{file}", shown, str(count or 0), injected, asserts, lost])
    lines = [f"## {title}", "", *_table(rows, ["file", "test", "cases", "input or fault injected", "asserts", "lost"]), ""]
    return lines, total


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _load_section(doc: dict[str, Any] | None) -> list[str]:
    lines = ["## Load (benchmarks/bench_load.py -> bench-results/load.json)", ""]
    if doc is None:
        return lines + ["Not run yet: `python benchmarks/bench_load.py --out bench-results [--episodes N]`.", ""]
    r = doc.get("results", {})
    f, m = r.get("figures", {}), r.get("meets_target", {})

    def ok(key: str) -> str:
        return "" if key not in m else (" (meets target)" if m[key] else " (**misses target**)")

    rows = [
        ["episodes", f"{r.get('episodes')} ({r.get('workers')} local workers, {r.get('scenario')})", ""],
        ["coordinator RSS growth, episode 100 -> end", f"{f.get('rss_growth_mb')} MB{ok('rss_growth_mb')}", "<= 50 MB"],
        ["coordinator RSS range", f"{f.get('rss_range_mb')} MB ({r.get('rss_source')})", ""],
        ["open fds growth (range)", f"{f.get('fd_growth')}{ok('fd_growth')} ({f.get('fd_range')})", "0 (flat)"],
        ["descendant processes growth (range)", f"{f.get('process_growth')}{ok('process_growth')} ({f.get('process_range')})", "0 (flat)"],
        ["episodes lost", f"{f.get('episodes_lost')}{ok('episodes_lost')}", "0"],
        ["throughput", f"{f.get('episodes_per_s')} episodes/s, {r.get('total_wall_s')} s in all", ""],
    ]
    machine = doc.get("machine", {})
    lines += _table(rows, ["figure", "value", "target"])
    lines += ["", f"Machine: {machine.get('cpus')} CPUs, Python {machine.get('python')}. Sampled every "
                  f"{r.get('sample_every')} episodes; the full run is 10,000 episodes (`--episodes` shrinks it).", ""]
    return lines + _memory_curve(r.get("samples", []))


def _memory_curve(samples: list[dict[str, Any]], points: int = 11) -> list[str]:
    """The coordinator's RSS, fds and processes at about `points` evenly spaced samples."""
    if not samples:
        return []
    step = max(1, (len(samples) - 1) // (points - 1))
    picked = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    rows = [[str(x.get("episodes")), str(x.get("rss_mb")), str(x.get("fds")), str(x.get("processes"))] for x in picked]
    return ["Memory curve:", ""] + _table(rows, ["episodes done", "RSS MB", "open fds", "processes"]) + [""]


def _fuzz_section(doc: dict[str, Any] | None) -> list[str]:
    """bench_fuzz.py's figures, shown generically: its format belongs to that benchmark."""
    lines = ["## Input classes (benchmarks/bench_fuzz.py -> bench-results/fuzz.json)", ""]
    if doc is None:
        return lines + ["Not run yet: `python benchmarks/bench_fuzz.py --out bench-results`.", ""]
    results = doc.get("results", doc)
    per_class = next((results[k] for k in ("classes", "inputs", "input_classes", "by_class") if isinstance(results.get(k), dict)), None)
    if per_class:
        keys = sorted({k for v in per_class.values() if isinstance(v, dict) for k, x in v.items() if not isinstance(x, (dict, list))})
        kinds = sorted({k for v in per_class.values() if isinstance(v, dict) for k in v.get("outcomes", {})})
        rows = [[name, *(str(v.get(k, "")) for k in keys), *(str(v.get("outcomes", {}).get(o, 0)) for o in kinds)]
                for name, v in per_class.items() if isinstance(v, dict)]
        lines += _table(rows, ["input class", *keys, *kinds]) + [""]
    scalars = {k: v for k, v in results.items() if not isinstance(v, (dict, list))}
    scalars |= {f"outcome: {k}": v for k, v in results.get("outcomes", {}).items()}
    if isinstance(results.get("slowest_case"), dict):
        scalars["slowest case"] = "{ms} ms ({cls}, seed {seed})".format(**results["slowest_case"])
    if isinstance(results.get("peak_rss_mb"), dict):
        scalars["peak RSS growth after warm-up"] = f"{results['peak_rss_mb'].get('growth_after_warmup')} MB"
    if "sentinel_files" in results:
        scalars["code ran (sentinel files created)"] = len(results["sentinel_files"])
    for key in ("figures", "totals"):
        if isinstance(results.get(key), dict):
            scalars |= {k: v for k, v in results[key].items() if not isinstance(v, (dict, list))}
    if scalars:
        lines += _table([[k, str(v)] for k, v in scalars.items()], ["figure", "value"]) + [""]
    return lines


def render(results_dir: Path) -> str:
    lines = [
        "# Reliability",
        "",
        "What edgecase was tried against, and what it lost. Generated by `make reliability`",
        "(tools/reliability_report.py) from the tests' source and bench-results/{fuzz,load}.json; do not edit by hand.",
        "",
        "Decisions the tests hold the code to:",
        "",
        "- A scenario `name:` must match `^[A-Za-z][A-Za-z0-9_]*$`; it is the only scenario text that becomes a path",
        "  (episodes/<name>/s<seed>[-<grid hash>]): grid values reach a path only as a hash.",
        "- `--out` is the user's: `run --out LINK` treats an existing target as existing (refused without --force;",
        "  --force replaces the link itself, never the target's contents); `sweep --out LINK` is resolved once and",
        "  the sweep written in the link's target. Inside a sweep directory no symbolic link is followed: an episode",
        "  whose path passes through one fails ('symbolic link'), --resume neither trusts nor deletes through it.",
        "- `map:` paths are relative to the scenario file; a file that is not OpenDRIVE is an InputError at the",
        "  `map:` line that names the file and the XML position, never its contents.",
        "- An export reads only the files the episode's labels list, and only inside the episode directory",
        "  (symbolic links resolved): anything else is an InputError.",
        "- A full disk (ENOSPC, EDQUOT, EFBIG, EROFS, EIO, EACCES) while an episode is written is exit 3,",
        "  'cannot write the episode DIR: ...'; nothing of the episode is kept. In a sweep it is a failed row that",
        "  is not retried in that run (it would fail again); --resume runs it again once space is freed.",
        "",
    ]
    totals = []
    for title, entries in TESTS.items():
        section, cases = _tests_section(title, entries)
        lines += section
        totals.append((title.split(":")[0].split(" (")[0], len(entries), cases))
    lines += _fuzz_section(_load(results_dir / "fuzz.json"))
    lines += _load_section(_load(results_dir / "load.json"))
    lines += ["## Totals", "", *_table([[t, str(n), str(c)] for t, n, c in totals], ["group", "tests", "cases"]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench-results")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.md")
    args = parser.parse_args()
    text = render(args.results)
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
