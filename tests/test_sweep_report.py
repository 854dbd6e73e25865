"""The sweep report, from a manifest written by hand: its numbers equal the ones worked out below
by hand, its HTML is one well-formed, self-contained page with manifest text escaped, an empty
sweep says so, and the same manifest gives the same bytes."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from edgecase.sweep.report import build_report, write_report
from edgecase.sweep.schema import connect

CUT_IN = "min_ttc_s(ego, cutter) < 1.5"
NO_HIT = "not collision(ego, cutter)"
CLOSE = 'min_distance_m(ego, child) < 1 and "x" & y'
WEIRD = 'weird <name> & "q"'
SCRIPT_ERROR = "backend died <script>alert('x')</script> & more"


def _oracle(expr, passed, actual):
    return {"expr": expr, "passed": passed, "actual": actual}


def _metrics(ttc, dist, collisions=0):
    return {"min_ttc_s": ttc, "min_distance_m": dist, "collisions": collisions, "ego_max_decel_mps2": 4.0}


def _insert(db, name, seed, status, overrides=None, passed=None, oracles=None, metrics=None, labels=None,
            wall_s=None, exit_code=None, error=None):
    overrides = overrides or {}
    key = f"{name}:{seed}:{json.dumps(overrides, sort_keys=True)}"
    db.execute(
        "INSERT INTO episodes (key, scenario_path, scenario_name, scenario_sha256, seed, overrides, status, attempts,"
        " error, exit_code, passed, oracles, metrics, label_counts, out_path, wall_s)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
        (key, f"/scenarios/{name}.yaml", name, "0" * 64, seed, json.dumps(overrides), status, error, exit_code, passed,
         None if oracles is None else json.dumps(oracles), None if metrics is None else json.dumps(metrics),
         None if labels is None else json.dumps(labels), f"episodes/{name}/{seed}", wall_s),
    )


def _cut_in(db):
    """Five done episodes, three failed (two with the same error), one pending; no grid."""
    rows = [  # seed, passed, no-hit held, cut-in (passed, actual), ttc, dist, collisions, labels
        (1, 1, True, (True, 1.0), 1.0, 2.0, 0, {"car": 10, "pedestrian": 2}),
        (2, 0, True, (False, 2.0), 2.0, 3.0, 0, {"car": 5}),
        (3, 0, False, (True, 0.5), 0.5, 0.0, 2, {}),
        (4, 1, True, (None, None), 4.0, 6.0, 0, {}),
        (5, 0, True, (False, "inf"), None, 10.0, 1, {}),
    ]
    for seed, passed, no_hit, (held, actual), ttc, dist, hits, labels in rows:
        oracles = [_oracle(NO_HIT, no_hit, not no_hit), _oracle(CUT_IN, held, actual)]
        _insert(db, "cut_in", seed, "done", passed=passed, oracles=oracles, metrics=_metrics(ttc, dist, hits),
                labels=labels, wall_s=float(seed), exit_code=1 - passed)
    _insert(db, "cut_in", 6, "failed", wall_s=0.5, exit_code=3, error=SCRIPT_ERROR)
    _insert(db, "cut_in", 7, "failed", wall_s=0.5, exit_code=3, error=SCRIPT_ERROR)
    _insert(db, "cut_in", 8, "failed", exit_code=2, error="cut_in.yaml:3:4: unknown key 'speedd'")
    _insert(db, "cut_in", 9, "pending")


def _crossing(db):
    """A grid over ttc_s (1, 2, 10: natural order, not text order): realized 2 of 2, 0 of 2, none done."""
    points = [({"ttc_s": 2.0}, 1, 0, False), ({"ttc_s": 1.0}, 1, 1, True), ({"ttc_s": 1.0}, 2, 1, True),
              ({"ttc_s": 2.0}, 2, None, None)]
    for overrides, seed, passed, held in points:
        _insert(db, "crossing", seed, "done", overrides, passed, [_oracle(CLOSE, held, 0.4)],
                _metrics(1.0 + seed, 5.0), {}, 2.0, 0 if passed else 1)
    _insert(db, "crossing", 1, "running", {"ttc_s": 10.0})


@pytest.fixture
def sweep(tmp_path):
    db = connect(tmp_path)
    _cut_in(db)
    _crossing(db)
    _insert(db, WEIRD, 1, "done", passed=1, oracles=[], metrics=_metrics(None, 5.0), labels={}, wall_s=1.0, exit_code=0)
    db.close()
    return tmp_path


def _by_name(report):
    return {s["name"]: s for s in report["scenarios"]}


def test_realization_and_oracle_shares(sweep):
    report = build_report(sweep)
    cut_in, crossing = _by_name(report)["cut_in"], _by_name(report)["crossing"]
    assert [s["name"] for s in report["scenarios"]] == ["crossing", "cut_in", WEIRD]
    assert cut_in["episodes"] == {"total": 9, "done": 5, "failed": 3, "pending": 1, "running": 0}
    assert (cut_in["realized"], cut_in["realization_rate"]) == (2, 0.4)  # seeds 1 and 4 of 5 done
    no_hit, ttc = cut_in["oracles"]
    assert (no_hit["expr"], no_hit["held"], no_hit["failed"], no_hit["not_evaluated"], no_hit["held_share"]) == (
        NO_HIT, 4, 1, 0, 0.8)
    assert (ttc["held"], ttc["failed"], ttc["not_evaluated"], ttc["held_share"]) == (2, 2, 1, 0.5)
    assert ttc["actual_inf_count"] == 1 and ttc["actual_stats"]["count"] == 3  # 1.0, 2.0, 0.5; 'inf' left out
    assert (crossing["realized"], crossing["realization_rate"]) == (2, 0.5)
    assert crossing["oracles"][0] | {"actual_stats": None} == {
        "expr": CLOSE, "held": 2, "failed": 1, "not_evaluated": 1, "held_share": 0.666667,  # 2 / 3, rounded
        "actual_inf_count": 0, "actual_stats": None}
    summary = report["summary"]
    assert (summary["done"], summary["realized"], summary["realization_rate"]) == (10, 5, 0.5)  # (2 + 2 + 1) / (5 + 4 + 1)
    assert summary["episodes"] == {"total": 15, "done": 10, "failed": 3, "pending": 1, "running": 1}
    assert summary["failures"] == {"episodes": 3, "distinct_errors": 2}


def test_grid_points_in_natural_order(sweep):
    grid = _by_name(build_report(sweep))["crossing"]["grid"]
    assert [(p["overrides"], p["episodes"], p["done"], p["realized"], p["realization_rate"]) for p in grid] == [
        ({"ttc_s": 1.0}, 2, 2, 2, 1.0), ({"ttc_s": 2.0}, 2, 2, 0, 0.0), ({"ttc_s": 10.0}, 1, 0, 0, None)]
    assert _by_name(build_report(sweep))["cut_in"]["grid"] == []


def test_collisions_distributions_labels_failures(sweep):
    report = build_report(sweep)
    cut_in = _by_name(report)["cut_in"]
    assert cut_in["collisions"] == {"episodes_with_collision": 2, "total": 3}
    assert report["summary"]["collisions"] == {"episodes_with_collision": 2, "total": 3}
    # min TTC, finite values sorted: 0.5, 1, 2, 4 (seed 5's null left out). p5 at rank 0.05 * 3 = 0.15:
    # 0.5 + 0.15 * 0.5; median halfway between 1 and 2; p95 at rank 2.85: 2 + 0.85 * 2.
    assert cut_in["min_ttc_s"]["stats"] == {"count": 4, "min": 0.5, "p5": 0.575, "median": 1.5, "p95": 3.7, "max": 4.0}
    assert cut_in["min_ttc_s"]["null_count"] == 1
    # min distance 0, 2, 3, 6, 10: p5 at rank 0.2 -> 0.4; p95 at rank 3.8 -> 6 + 0.8 * 4 = 9.2; bins of 1 m.
    distance = cut_in["min_distance_m"]
    assert distance["stats"] == {"count": 5, "min": 0.0, "p5": 0.4, "median": 3.0, "p95": 9.2, "max": 10.0}
    assert distance["histogram"] == {"edges": [float(i) for i in range(11)], "counts": [1, 0, 1, 1, 0, 0, 1, 0, 0, 1]}
    assert cut_in["label_counts"] == {"car": 15, "pedestrian": 2}
    assert cut_in["mean_wall_s"] == 3.0  # (1 + 2 + 3 + 4 + 5) / 5, failed episodes not counted
    assert cut_in["failures"] == [
        {"error": SCRIPT_ERROR, "count": 2, "seeds": [6, 7], "exit_codes": [3]},
        {"error": "cut_in.yaml:3:4: unknown key 'speedd'", "count": 1, "seeds": [8], "exit_codes": [2]}]
    weird = _by_name(report)[WEIRD]
    assert weird["min_ttc_s"]["histogram"] == {"edges": [], "counts": []}
    assert weird["min_distance_m"]["histogram"] == {"edges": [5.0, 5.0], "counts": [1]}


class _Page(HTMLParser):
    """Checks nesting and collects what the page would load or run."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.attrs, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def test_html_is_self_contained_and_escaped(sweep):
    _, html_path = write_report(sweep)
    page = html_path.read_text(encoding="utf-8")
    parsed = _parse(page)
    assert "http://" not in page and "https://" not in page and "src=" not in page.lower()
    assert "script" not in parsed.tags and "<script" not in page.lower()
    assert all(name != "href" or value.startswith("#") for name, value in parsed.attrs)
    assert "&lt;script&gt;" in page and SCRIPT_ERROR in "".join(parsed.text)
    assert html_path.parent.joinpath("report.json").is_file()
    assert page.count("histogram</title>") == 2 * 3  # min TTC and min distance for each of the three scenarios
    assert parsed.tags.count("svg") == 2 * 3 + 1 + 2  # histograms, the per-scenario bars, per-oracle bars (2 with lines)
    assert "weird &lt;name&gt; &amp; &quot;q&quot;" in page and "&quot;x&quot; &amp; y" in page


def test_json_is_plain_sorted_and_deterministic(sweep):
    first = [p.read_bytes() for p in write_report(sweep)]
    second = [p.read_bytes() for p in write_report(sweep)]
    assert first == second
    text = first[0].decode("utf-8")

    def refuse(constant):
        raise AssertionError(f"{constant} in report.json")

    data = json.loads(text, parse_constant=refuse)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert sorted(p.name for p in sweep.iterdir() if p.name.startswith(".")) == []  # no temp files left


def test_empty_manifest_says_no_episodes(tmp_path):
    connect(tmp_path).close()
    report = build_report(tmp_path)
    assert report["scenarios"] == [] and report["summary"]["episodes"]["total"] == 0
    assert report["summary"]["realization_rate"] is None and report["notes"][0] == "no episodes in the manifest"
    _, html_path = write_report(tmp_path)
    page = html_path.read_text(encoding="utf-8")
    _parse(page)
    assert "There are no episodes in this sweep" in page.replace("&#x27;", "'")


def test_missing_manifest_is_an_error_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_report(tmp_path)
    assert list(tmp_path.iterdir()) == []
