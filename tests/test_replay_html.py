"""The HTML episode report: one self-contained file, checked as text and in a real headless Chromium.

In the browser (tests/chromium.py, the DevTools protocol over a pipe) the page must load without a
console error or exception, and the scrubber must change the shown frame the way a person makes
it: keyboard presses on the focused range input and a mouse click on its track (trusted input
events, so the page's own 'input' handler runs), and a #frame=N link. After each, the image shown
must be that frame's and the tick, the labels table and the plot cursors must follow.
"""

from __future__ import annotations

import base64
import json
import re
import shutil

import cv2
import numpy as np
import pytest

import edgecase
from edgecase.replay import html_report, style
from edgecase.replay.episode_data import load_episode
from edgecase.replay.html_report import frame_ticks, write_html
from tests.chromium import Browser, require_chromium
from tests.helpers import SCENARIOS

CHILD = SCENARIOS / "occluded_child_dartout.yaml"


@pytest.fixture(scope="module")
def camera_episode(tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "child"
    edgecase.run(CHILD, 0, out=out, sensors="front_camera", frame_every=5)
    return out


@pytest.fixture(scope="module")
def plain_episode(tmp_path_factory):
    out = tmp_path_factory.mktemp("html-plain") / "jaywalker"
    edgecase.run(SCENARIOS / "jaywalker_midblock.yaml", 0, out=out, sensors=False)
    return out


@pytest.fixture(scope="module")
def browser():
    with Browser(require_chromium()) as chromium:
        yield chromium


def _frame_data(page: str) -> list[dict]:
    match = re.search(r'<script type="application/json" id="frame-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def _decode(src: str) -> np.ndarray:
    assert src.startswith("data:image/jpeg;base64,")
    return cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)


def test_report_is_one_self_contained_file(camera_episode):
    path = write_html(camera_episode)
    assert path == camera_episode / "report.html"
    page = path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page) and "<link" not in page
    episode = load_episode(camera_episode)
    frames = _frame_data(page)
    assert [f["tick"] for f in frames] == list(episode.frame_ticks) and len(frames) == 41
    assert all(f["src"].startswith("data:image/jpeg;base64,") for f in frames)
    assert "scenarios/occluded_child_dartout.yaml" in page and "child_speed_mps: normal(2.5, 0.3" in page
    for name, value in episode.plan.params.items():
        assert f"<td>{name}</td><td class=num>{value:.4g}</td>" in page
    for oracle in episode.meta["outcome"]["oracles"]:
        assert f"<code>{oracle['expr'].replace('<', '&lt;')}</code></td><td>passed</td>" in page
    assert page.count("<svg class=plot") == 2 and "TTC ego" in page and "distance ego" in page
    assert len(page) < 3_000_000


def test_frames_are_thinned_downscaled_and_boxed(camera_episode, tmp_path):
    page = write_html(camera_episode, tmp_path / "r.html", max_frames=9, width_px=480).read_text()
    frames = _frame_data(page)
    episode = load_episode(camera_episode)
    assert [f["tick"] for f in frames] == frame_ticks(episode, 9) and len(frames) == 9
    assert frames[0]["tick"] == episode.frame_ticks[0] and frames[-1]["tick"] == episode.frame_ticks[-1]
    in_view = [(o.cameras["front"].amodal, f) for f in frames for o in episode.labels(f["tick"]).objects
               if o.name == "child" and "front" in o.cameras]
    box, frame = max(in_view, key=lambda item: item[0][3] - item[0][1])  # where the child looks largest
    image = _decode(frame["src"])
    assert image.shape == (270, 480, 3)
    x0, y0, x1, y1 = (round(v * 480 / 1280) for v in box)
    assert y1 - y0 > 10
    edge = image[max(y0, 0):y1, max(x0 - 1, 0):x0 + 2].reshape(-1, 3).astype(int)  # the box's left side
    magenta = np.abs(edge - np.array(style.HIGHLIGHT)).max(axis=1) < 90
    assert magenta.mean() > 0.5, "the edge-case actor's box is drawn in the highlight colour"


def test_every_text_from_the_episode_is_escaped(camera_episode, tmp_path):
    copy = tmp_path / "episode"
    shutil.copytree(camera_episode, copy)
    meta = json.loads((copy / "episode.json").read_text())
    meta["outcome"]["oracles"][0]["expr"] = "<script>alert('expr')</script>"
    meta["events"][0]["detail"] = '"><img src=x onerror=alert(1)>'
    (copy / "episode.json").write_text(json.dumps(meta))
    page = write_html(copy).read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;expr&#x27;)&lt;/script&gt;" in page and "&quot;&gt;&lt;img src=x" in page


def test_without_the_scenario_file_the_plan_is_summarised(camera_episode, tmp_path, monkeypatch):
    copy = tmp_path / "a" / "b" / "c" / "episode"
    shutil.copytree(camera_episode, copy)
    monkeypatch.chdir(tmp_path)
    page = write_html(copy).read_text()
    assert "occluded_child_dartout.yaml was not found" in page and "scenario  occluded_child_dartout  seed 0" in page
    assert "plan JSON" in page
    hinted = write_html(copy, tmp_path / "hinted.html", scenario=CHILD).read_text()
    assert "child_speed_mps: normal(2.5, 0.3" in hinted


def test_without_sensors_the_scrubber_shows_birds_eye_frames_and_tables(plain_episode):
    page = write_html(plain_episode).read_text()
    episode = load_episode(plain_episode)
    frames = _frame_data(page)
    assert len(frames) == 100 and frames[-1]["tick"] == episode.ticks - 1
    assert all(f["src"] for f in frames)  # edgecase.replay.bev draws each
    assert page.count("class=frame-table") == 100 and "distance to ego (m)" in page


def test_without_a_birds_eye_renderer_the_scrubber_shows_tables(plain_episode, tmp_path, monkeypatch):
    monkeypatch.setattr(html_report, "_bev_renderer", lambda episode: None)
    page = write_html(plain_episode, tmp_path / "tables.html", max_frames=12).read_text()
    frames = _frame_data(page)
    assert len(frames) == 12 and all(f["src"] is None for f in frames)
    assert '<img id=frame-image alt="frame" data-index="0" hidden>' in page and page.count("class=frame-table") == 12


@pytest.mark.timeout(900)  # the first use may install Chromium
def test_the_page_loads_cleanly_and_the_scrubber_changes_the_frame(camera_episode, browser, tmp_path):
    path = write_html(camera_episode, tmp_path / "report.html")
    ticks = [f["tick"] for f in _frame_data(path.read_text())]
    browser.open(path.as_uri())
    assert browser.page_errors() == [], browser.log_tail()
    state = """(() => { const img = document.getElementById('frame-image');
        const frames = JSON.parse(document.getElementById('frame-data').textContent);
        const i = +img.dataset.index;
        const shown = [...document.querySelectorAll('.frame-table')].filter(t => !t.hidden).map(t => +t.dataset.index);
        return {index: i, srcMatches: img.src === frames[i].src, tick: +img.dataset.tick,
                label: document.getElementById('frame-label').textContent, tables: shown,
                cursor: +document.getElementById('cursor-ttc').getAttribute('x1'),
                loaded: img.complete && img.naturalWidth}; })()"""

    def shown(index: int) -> dict:
        now = browser.evaluate(state)
        assert now["index"] == index and now["srcMatches"] and now["tables"] == [index]
        assert now["tick"] == ticks[index] and f"tick {ticks[index]} " in now["label"]
        return now

    first = shown(0)
    assert first["loaded"] == 640
    browser.evaluate("document.getElementById('scrubber').focus()")
    browser.press("ArrowRight", "ArrowRight", 39)
    second = shown(1)
    assert second["cursor"] > first["cursor"]
    browser.press("End", "End", 35)
    shown(len(ticks) - 1)
    rect = browser.evaluate("""(() => { const r = document.getElementById('scrubber');
        r.scrollIntoView({block: 'center'}); const b = r.getBoundingClientRect();
        return {left: b.left, right: b.right, y: b.top + b.height / 2}; })()""")
    browser.click(rect["left"] + 1, rect["y"])
    shown(0)
    browser.click(rect["left"] + 0.5 * (rect["right"] - rect["left"]), rect["y"])
    middle = browser.evaluate(state)["index"]
    assert abs(middle - (len(ticks) - 1) / 2) <= 1.5
    shown(middle)
    browser.evaluate("location.hash = '#frame=7'")
    browser.evaluate("new Promise(r => setTimeout(r, 50))")
    shown(7)
    browser.screenshot(tmp_path / "report.png")
    assert browser.page_errors() == [], browser.log_tail()


@pytest.mark.timeout(900)
def test_a_frame_link_opens_at_that_frame_without_sensors(plain_episode, browser, tmp_path):
    path = write_html(plain_episode, tmp_path / "plain.html")
    browser.open(path.as_uri() + "#frame=42")
    assert browser.page_errors() == [], browser.log_tail()
    index = browser.evaluate("+document.getElementById('frame-image').dataset.index")
    visible = browser.evaluate("[...document.querySelectorAll('.frame-table')].filter(t => !t.hidden).length")
    assert index == 42 and visible == 1
    assert browser.evaluate("document.getElementById('scrubber').value") == "42"
