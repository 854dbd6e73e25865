"""The sweep report: what a sweep found, read from its manifest alone.

A sweep's point is a rate, not an episode: how often the scenario's edge case actually happened
(every evaluated `expect` line held), which lines held, how close the encounters came, and what
broke. `build_report(DIR)` reads DIR/manifest.sqlite (one consistent snapshot, so it also works
while a sweep is running or after one was killed) and returns plain JSON data; `write_report(DIR)`
writes it as DIR/report.json (sorted keys, floats rounded, no NaN or infinity: null instead, with
a note) and as DIR/report.html, one self-contained page (inline CSS and SVG, no script, nothing
fetched) that opens anywhere, offline, years later. Both files are written atomically (temp file
+ os.replace) and are byte-identical for the same manifest. Every text that comes from the
manifest (names, expressions, errors) is escaped in the HTML.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecase.sweep.schema import MANIFEST, STATUSES, connect

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
REPORT_VERSION = 1
HIST_BINS = 10
DECIMALS = 6
DISTRIBUTIONS = ("min_ttc_s", "min_distance_m")  # stats and histograms; ego_max_decel_mps2: stats only
NOTES = (
    "realization_rate: share of done episodes with passed == 1 (every evaluated expect line held); null when none is done.",
    "held_share: held / (held + failed) for one expect line; not-evaluated outcomes are left out; null when never evaluated.",
    "min_ttc_s, min_distance_m: null or infinite values (never on a collision course, never closer, no other actor) "
    "are left out of the stats and histograms and counted in null_count.",
    "oracle actual values 'inf' (infinity) are written as null: left out of actual_stats and counted in actual_inf_count.",
    "percentiles interpolate linearly between the sorted values; histograms have equal-width bins from min to max, "
    "the last bin closed.",
    "failures: episodes with status 'failed', grouped by identical error text.",
    "oracles, collisions, distributions, label_counts and mean_wall_s count done episodes only.",
)


# --- reading the manifest -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Episode:
    """One manifest row with its JSON columns decoded (missing or unreadable JSON: empty)."""

    scenario_name: str
    scenario_path: str
    seed: int
    overrides: Mapping[str, Any]
    status: str
    exit_code: int | None
    error: str | None
    passed: int | None
    oracles: tuple[Mapping[str, Any], ...]
    metrics: Mapping[str, Any]
    label_counts: Mapping[str, Any]
    wall_s: float | None


def _loads(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def _read_episodes(sweep_dir: Path) -> list[_Episode]:
    if not (Path(sweep_dir) / MANIFEST).is_file():
        raise FileNotFoundError(f"{Path(sweep_dir) / MANIFEST}: no sweep manifest here")
    db = connect(sweep_dir)
    try:
        rows = db.execute("SELECT * FROM episodes ORDER BY scenario_name, scenario_path, seed, key").fetchall()
    finally:
        db.close()
    return [
        _Episode(
            r["scenario_name"], r["scenario_path"], r["seed"], _loads(r["overrides"], {}), r["status"],
            r["exit_code"], r["error"], r["passed"], tuple(o for o in _loads(r["oracles"], []) if isinstance(o, dict)),
            _loads(r["metrics"], {}), _loads(r["label_counts"], {}), r["wall_s"],
        )
        for r in rows
    ]


# --- numbers ------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number as float; None for null, booleans, 'inf', NaN and anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _is_infinite(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("inf", "+inf", "infinity")
    return isinstance(value, float) and math.isinf(value)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _quantile(sorted_values: list[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _stats(values: Iterable[float]) -> dict[str, Any]:
    xs = sorted(values)
    if not xs:
        return {"count": 0, "min": None, "p5": None, "median": None, "p95": None, "max": None}
    return {"count": len(xs), "min": xs[0], "p5": _quantile(xs, 0.05), "median": _quantile(xs, 0.5),
            "p95": _quantile(xs, 0.95), "max": xs[-1]}


def _histogram(values: Iterable[float], bins: int = HIST_BINS) -> dict[str, list]:
    """Equal-width bins from min to max (the last one closed); one zero-width bin if all are equal."""
    xs = sorted(values)
    if not xs:
        return {"edges": [], "counts": []}
    lo, hi = xs[0], xs[-1]
    if hi == lo:
        return {"edges": [lo, hi], "counts": [len(xs)]}
    width = (hi - lo) / bins
    counts = [0] * bins
    for x in xs:
        counts[min(int((x - lo) / width), bins - 1)] += 1
    return {"edges": [lo + i * width for i in range(bins)] + [hi], "counts": counts}


def _plain(value: Any) -> Any:
    """JSON-ready: floats rounded (no -0.0), NaN and infinity as null, tuples as lists."""
    if isinstance(value, float):
        return round(value, DECIMALS) + 0.0 if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- per scenario -------------------------------------------------------------------------------


def _status_counts(episodes: list[_Episode]) -> dict[str, int]:
    counts = {status: sum(e.status == status for e in episodes) for status in STATUSES}
    return {"total": len(episodes), **counts}


def _realization(episodes: list[_Episode]) -> dict[str, Any]:
    done = [e for e in episodes if e.status == "done"]
    realized = sum(e.passed == 1 for e in done)
    return {"done": len(done), "realized": realized, "realization_rate": _rate(realized, len(done))}


def _oracles(done: list[_Episode]) -> list[dict[str, Any]]:
    """Per expect line, in the order the lines first appear: held / failed / not evaluated."""
    by_expr: dict[str, list[Mapping[str, Any]]] = {}
    for episode in done:
        for outcome in episode.oracles:
            by_expr.setdefault(str(outcome.get("expr", "")), []).append(outcome)
    return [_oracle(expr, outcomes) for expr, outcomes in by_expr.items()]


def _oracle(expr: str, outcomes: list[Mapping[str, Any]]) -> dict[str, Any]:
    held = sum(o.get("passed") is True for o in outcomes)
    failed = sum(o.get("passed") is False for o in outcomes)
    actuals = [o.get("actual") for o in outcomes]
    return {
        "expr": expr, "held": held, "failed": failed, "not_evaluated": len(outcomes) - held - failed,
        "held_share": _rate(held, held + failed),
        "actual_stats": _stats(x for x in map(_number, actuals) if x is not None),
        "actual_inf_count": sum(map(_is_infinite, actuals)),
    }


def _collision_count(metrics: Mapping[str, Any]) -> int:
    value = metrics.get("collisions", 0)
    if isinstance(value, list):
        return len(value)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _collisions(done: list[_Episode]) -> dict[str, int]:
    counts = [_collision_count(e.metrics) for e in done]
    return {"episodes_with_collision": sum(c >= 1 for c in counts), "total": sum(counts)}


def _distribution(done: list[_Episode], metric: str, histogram: bool = True) -> dict[str, Any]:
    values = [_number(e.metrics.get(metric)) for e in done]
    finite = [v for v in values if v is not None]
    result = {"stats": _stats(finite), "null_count": len(values) - len(finite)}
    return {**result, "histogram": _histogram(finite)} if histogram else result


def _label_counts(done: list[_Episode]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for episode in done:
        for name, count in episode.label_counts.items():
            if isinstance(count, (int, float)) and not isinstance(count, bool):
                totals[str(name)] = totals.get(str(name), 0) + int(count)
    return dict(sorted(totals.items()))


def _mean_wall_s(done: list[_Episode]) -> float | None:
    walls = [w for w in (_number(e.wall_s) for e in done) if w is not None]
    return sum(walls) / len(walls) if walls else None


def _failures(episodes: list[_Episode]) -> list[dict[str, Any]]:
    """Failed episodes grouped by identical error text: most frequent first, then by text."""
    groups: dict[str | None, list[_Episode]] = {}
    for episode in episodes:
        if episode.status == "failed":
            groups.setdefault(episode.error, []).append(episode)
    return [
        {"error": error, "count": len(group), "seeds": sorted({e.seed for e in group}),
         "exit_codes": sorted({e.exit_code for e in group if e.exit_code is not None})}
        for error, group in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0] or ""))
    ]


def _override_key(overrides: Mapping[str, Any]) -> tuple:
    """Grid points in natural order: by param, numbers by value before texts."""
    def rank(value: Any) -> tuple:
        number = _number(value)
        return (0, number, "") if number is not None else (1, 0.0, json.dumps(value, sort_keys=True))
    return tuple((name, rank(overrides[name])) for name in sorted(overrides))


def _grid(episodes: list[_Episode]) -> list[dict[str, Any]]:
    """The realization rate per grid point; [] when the scenario has no grid."""
    points: dict[str, list[_Episode]] = {}
    for episode in episodes:
        points.setdefault(json.dumps(episode.overrides, sort_keys=True), []).append(episode)
    if list(points) == ["{}"]:
        return []
    ordered = sorted(points.values(), key=lambda group: _override_key(group[0].overrides))
    return [{"overrides": dict(sorted(g[0].overrides.items())), "episodes": len(g), **_realization(g)} for g in ordered]


def _scenario(episodes: list[_Episode]) -> dict[str, Any]:
    done = [e for e in episodes if e.status == "done"]
    exit_codes: dict[str, int] = {}
    for code in sorted(e.exit_code for e in episodes if e.exit_code is not None):
        exit_codes[str(code)] = exit_codes.get(str(code), 0) + 1
    return {
        "name": episodes[0].scenario_name, "path": episodes[0].scenario_path,
        "episodes": _status_counts(episodes), "exit_codes": exit_codes, **_realization(episodes),
        "oracles": _oracles(done), "collisions": _collisions(done),
        **{metric: _distribution(done, metric) for metric in DISTRIBUTIONS},
        "ego_max_decel_mps2": _distribution(done, "ego_max_decel_mps2", histogram=False),
        "label_counts": _label_counts(done), "mean_wall_s": _mean_wall_s(done),
        "failures": _failures(episodes), "grid": _grid(episodes),
    }


# --- the whole sweep ----------------------------------------------------------------------------


def _summary(episodes: list[_Episode], scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    done = [e for e in episodes if e.status == "done"]
    failures = _failures(episodes)
    return {
        "scenarios": len(scenarios), "episodes": _status_counts(episodes), **_realization(episodes),
        "collisions": _collisions(done),
        "failures": {"episodes": sum(f["count"] for f in failures), "distinct_errors": len(failures)},
        "episode_wall_s_sum": sum(w for w in (_number(e.wall_s) for e in episodes) if w is not None),
    }


def build_report(sweep_dir: Path) -> dict[str, Any]:
    """The report of the sweep in `sweep_dir` as plain JSON data (see NOTES for the definitions)."""
    episodes = _read_episodes(Path(sweep_dir))
    by_scenario: dict[tuple[str, str], list[_Episode]] = {}
    for episode in episodes:
        by_scenario.setdefault((episode.scenario_name, episode.scenario_path), []).append(episode)
    scenarios = [_scenario(group) for _, group in sorted(by_scenario.items(), key=lambda item: item[0])]
    notes = list(NOTES) if episodes else ["no episodes in the manifest", *NOTES]
    report = {"report_version": REPORT_VERSION, "summary": _summary(episodes, scenarios),
              "scenarios": scenarios, "notes": notes}
    return _plain(report)


def write_report(sweep_dir: Path) -> tuple[Path, Path]:
    """Write DIR/report.json and DIR/report.html atomically; returns their paths (json, html)."""
    sweep_dir = Path(sweep_dir)
    report = build_report(sweep_dir)
    json_text = json.dumps(report, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    json_path = _write_atomic(sweep_dir / REPORT_JSON, json_text)
    html_path = _write_atomic(sweep_dir / REPORT_HTML, render_html(report))
    return json_path, html_path


def _write_atomic(path: Path, text: str) -> Path:
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


# --- HTML ---------------------------------------------------------------------------------------

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 2px solid #ccd; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border: 1px solid #dde; padding: .25em .6em; text-align: right; vertical-align: top; }
th { background: #f2f3f8; } td.text, th.text { text-align: left; }
tr.total td { font-weight: 600; background: #fafafa; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .92em; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; max-width: 60em; }
.muted { color: #777; } .plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
svg { background: #fcfcfe; border: 1px solid #e4e4ee; }
"""


TEXT_CLASS = ' class="text"'


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell (fixed decimals for floats); '—' for null."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e9 else f"{value:.3g}"
    return _esc(value)


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.1f}%"


def _table(head: list[str], rows: list[list[str]], text_cols: int = 1, total: list[str] | None = None) -> str:
    """An HTML table; cells are already escaped HTML; the first `text_cols` columns align left."""
    def cells(tag: str, row: list[str]) -> str:
        return "".join(f"<{tag}{TEXT_CLASS if i < text_cols else ''}>{c}</{tag}>" for i, c in enumerate(row))
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    foot = f'<tr class="total">{cells("td", total)}</tr>' if total else ""
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}{foot}</tbody></table>\n"


# --- SVG plots (inline, drawn here: no library, no script) ---------------------------------------


def _svg(width: int, height: int, title: str, body: str) -> str:
    return (f'<svg width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
            f'<text x="8" y="16" font-size="13" font-weight="600">{_esc(title)}</text>{body}</svg>\n')


def _svg_histogram(histogram: Mapping[str, list], title: str, unit: str) -> str:
    """Bars of a histogram (edges, counts) with the first and last edge and the tallest count marked."""
    width, height, left, right, top, bottom = 380, 200, 40, 12, 26, 34
    counts, edges = histogram["counts"], histogram["edges"]
    if not counts:
        return _svg(width, height, title, f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" '
                                          'font-size="12" fill="#777">no finite values</text>')
    plot_w, plot_h, tallest = width - left - right, height - top - bottom, max(counts)
    bar_w = plot_w / len(counts)
    bars = []
    for i, count in enumerate(counts):
        bar_h = plot_h * count / tallest
        tip = f"{_fmt(edges[i])} – {_fmt(edges[i + 1])} {unit}: {count}"
        bars.append(f'<rect x="{left + i * bar_w + 1:.1f}" y="{top + plot_h - bar_h:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                    f'height="{bar_h:.1f}" fill="#4c78a8"><title>{_esc(tip)}</title></rect>')
    base = top + plot_h
    axes = (f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#555"/>'
            f'<text x="{left}" y="{base + 14}" font-size="11">{_fmt(edges[0])}</text>'
            f'<text x="{width - right}" y="{base + 14}" font-size="11" text-anchor="end">{_fmt(edges[-1])}</text>'
            f'<text x="{left + plot_w / 2:.1f}" y="{base + 28}" font-size="11" text-anchor="middle">{_esc(unit)}</text>'
            f'<text x="{left - 4}" y="{top + 10}" font-size="11" text-anchor="end">{tallest}</text>'
            f'<text x="{left - 4}" y="{base}" font-size="11" text-anchor="end">0</text>')
    return _svg(width, height, title, "".join(bars) + axes)


def _svg_rates(items: list[tuple[str, float | None]], title: str) -> str:
    """Horizontal bars of shares in [0, 1], one per labelled item (null: no bar, a dash)."""
    label_w, bar_max, row_h, top = 300, 300, 22, 28
    width, height = label_w + bar_max + 70, top + row_h * max(len(items), 1) + 8
    rows = []
    for i, (label, rate) in enumerate(items):
        y = top + i * row_h
        short = label if len(label) <= 44 else label[:43] + "…"
        bar_len = bar_max * (rate or 0.0)
        rows.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="12" text-anchor="end"><title>{_esc(label)}</title>'
                    f'{_esc(short)}</text><rect x="{label_w}" y="{y + 3}" width="{bar_max}" height="15" fill="#eef"/>'
                    f'<rect x="{label_w}" y="{y + 3}" width="{bar_len:.1f}" height="15" fill="#59a14f"/>'
                    f'<text x="{label_w + bar_max + 6}" y="{y + 14}" font-size="12">{_pct(rate)}</text>')
    return _svg(width, height, title, "".join(rows))


# --- the page -----------------------------------------------------------------------------------


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: summary, one section per scenario, failures, notes."""
    scenarios = report["scenarios"]
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>edgecase sweep report</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        "<h1>edgecase sweep report</h1>\n",
        _summary_html(report),
        *(_scenario_html(i, scenario) for i, scenario in enumerate(scenarios)),
        _failures_html(scenarios) if scenarios else "",
        "<h2>Notes</h2>\n<ul>" + "".join(f"<li>{_esc(note)}</li>" for note in report["notes"]) + "</ul>\n",
        "</body>\n</html>\n",
    ]
    return "".join(parts)


def _summary_html(report: Mapping[str, Any]) -> str:
    summary, scenarios = report["summary"], report["scenarios"]
    if not scenarios:
        return '<h2 id="summary">Summary</h2>\n<p class="empty">There are no episodes in this sweep\'s manifest.</p>\n'
    head = ["Scenario", "Episodes", "Done", "Failed", "Pending", "Running", "Realized", "Realization",
            "Collision episodes", "Mean wall (s)"]
    rows = [[f'<a href="#s{i}">{_esc(s["name"])}</a>', *_summary_cells(s), _fmt(s["mean_wall_s"])]
            for i, s in enumerate(scenarios)]
    total = ["All scenarios", *_summary_cells(summary), ""]
    failures = summary["failures"]
    return (f'<h2 id="summary">Summary</h2>\n<p>{summary["scenarios"]} scenarios, {summary["episodes"]["total"]} episodes; '
            f'edge case realized in {summary["realized"]} of {summary["done"]} done episodes '
            f'({_pct(summary["realization_rate"])}); {failures["episodes"]} failed episodes '
            f'({failures["distinct_errors"]} distinct errors).</p>\n'
            + _table(head, rows, total=total)
            + _svg_rates([(s["name"], s["realization_rate"]) for s in scenarios], "Realization rate per scenario"))


def _summary_cells(block: Mapping[str, Any]) -> list[str]:
    counts = block["episodes"]
    return [str(counts["total"]), str(counts["done"]), str(counts["failed"]), str(counts["pending"]),
            str(counts["running"]), str(block["realized"]), _pct(block["realization_rate"]),
            str(block["collisions"]["episodes_with_collision"])]


def _scenario_html(index: int, s: Mapping[str, Any]) -> str:
    counts = s["episodes"]
    return "".join([
        f'<section id="s{index}">\n<h2>{_esc(s["name"])}</h2>\n<p class="muted"><code>{_esc(s["path"])}</code></p>\n',
        f'<p>{counts["total"]} episodes ({counts["done"]} done, {counts["failed"]} failed, {counts["pending"]} pending, '
        f'{counts["running"]} running); edge case realized in {s["realized"]} of {s["done"]} done '
        f'({_pct(s["realization_rate"])}); mean episode wall time {_fmt(s["mean_wall_s"])} s.</p>\n',
        _oracles_html(s["oracles"]), _measures_html(s), _labels_html(s["label_counts"]), _grid_html(s["grid"]),
        "</section>\n",
    ])


def _oracles_html(oracles: list[Mapping[str, Any]]) -> str:
    if not oracles:
        return "<h3>Expect lines</h3>\n<p class=\"muted\">No oracle outcomes (no done episodes, or no expect lines).</p>\n"
    head = ["Expect line", "Held", "Failed", "Not evaluated", "Held share", "Actual median", "Actual inf"]
    rows = [[f"<code>{_esc(o['expr'])}</code>", str(o["held"]), str(o["failed"]), str(o["not_evaluated"]),
             _pct(o["held_share"]), _fmt(o["actual_stats"]["median"]), str(o["actual_inf_count"])] for o in oracles]
    chart = _svg_rates([(o["expr"], o["held_share"]) for o in oracles], "Held share per expect line")
    return "<h3>Expect lines</h3>\n" + _table(head, rows) + chart


def _measures_html(s: Mapping[str, Any]) -> str:
    head = ["Measure (done episodes)", "Count", "Min", "p5", "Median", "p95", "Max", "Null / inf"]
    names = {"min_ttc_s": "min TTC (s)", "min_distance_m": "min distance (m)", "ego_max_decel_mps2": "ego max decel (m/s²)"}
    rows = [[names[key], *_stats_cells(s[key])] for key in (*DISTRIBUTIONS, "ego_max_decel_mps2")]
    collisions = s["collisions"]
    plots = "".join(_svg_histogram(s[key]["histogram"], f"{names[key]} histogram", key.rsplit("_", 1)[1])
                    for key in DISTRIBUTIONS)
    return ("<h3>Encounters</h3>\n"
            f'<p>Collisions: {collisions["episodes_with_collision"]} episodes with at least one, '
            f'{collisions["total"]} in all.</p>\n' + _table(head, rows) + f'<div class="plots">{plots}</div>\n')


def _stats_cells(block: Mapping[str, Any]) -> list[str]:
    stats = block["stats"]
    return [str(stats["count"]), *(_fmt(stats[k]) for k in ("min", "p5", "median", "p95", "max")), str(block["null_count"])]


def _labels_html(label_counts: Mapping[str, int]) -> str:
    if not label_counts:
        return ""
    rows = [[_esc(name), str(count)] for name, count in label_counts.items()]
    return "<h3>Labelled objects by class (all frames, done episodes)</h3>\n" + _table(["Class", "Labels"], rows)


def _grid_html(grid: list[Mapping[str, Any]]) -> str:
    if not grid:
        return ""
    params = sorted({name for point in grid for name in point["overrides"]})
    head = [*(_esc(p) for p in params), "Episodes", "Done", "Realized", "Realization"]
    rows = [[*(_fmt(point["overrides"].get(p), 3) for p in params), str(point["episodes"]), str(point["done"]),
             str(point["realized"]), _pct(point["realization_rate"])] for point in grid]
    return "<h3>Grid points</h3>\n" + _table(head, rows, text_cols=len(params))


def _failures_html(scenarios: list[Mapping[str, Any]]) -> str:
    rows = [[_esc(s["name"]), "<pre>" + ("(no error recorded)" if f["error"] is None else _esc(f["error"])) + "</pre>",
             str(f["count"]), _esc(", ".join(map(str, f["exit_codes"]))) or "—", _seeds(f["seeds"])]
            for s in scenarios for f in s["failures"]]
    if not rows:
        return '<h2 id="failures">Failures</h2>\n<p>No failed episodes.</p>\n'
    return '<h2 id="failures">Failures</h2>\n' + _table(["Scenario", "Error", "Episodes", "Exit codes", "Seeds"], rows, 2)


def _seeds(seeds: list[int], shown: int = 20) -> str:
    text = ", ".join(map(str, seeds[:shown]))
    return text + (f" … (+{len(seeds) - shown} more)" if len(seeds) > shown else "")
