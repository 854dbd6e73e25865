"""`edgecase replay EPISODE --html`: one self-contained HTML page per episode, to read or to mail.

What a reviewer of an edge case asks, top to bottom: what was asked for (the scenario text and the
parameters this seed drew), did it hold (each `expect` oracle: passed / failed / not evaluated,
its value against its threshold), how close did it get (TTC and distance between the ego and the
edge-case actors against time, events marked), and what did the sensors see (a scrubber over the
frames: the camera image with its 2D boxes, and the frame's labels as a table).

Self-contained: images are base64 JPEG data URIs, plots inline SVG, the scrubber ~40 lines of
inline JS; nothing is fetched, so the file works offline, from a mail, from a CI artifact. Small:
at most `max_frames` frames (evenly spaced), downscaled to `width_px` wide, JPEG quality 80
(~40 kB a frame). Episodes without sensors scrub bird's-eye views (edgecase.replay.bev) instead,
or, where that renderer is unavailable, a table of the actors per tick.

Every text from the episode (names, expressions, the scenario file) goes through html.escape, and
the frame data through JSON with '<' escaped, so no episode can inject markup or script.

The scrubber: a range input; its 'input' handler shows frame i (image, tick, labels table, and a
cursor on the plots). `#frame=N` in the URL selects frame N on load and on hash change (by setting
the range and dispatching 'input', the same path as a user's drag), so a link can point at a frame.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgecase.labels.model import FrameLabels
from edgecase.plan.summary import summarize
from edgecase.replay import style
from edgecase.replay.check import find_scenario
from edgecase.replay.episode_data import EpisodeData, load_episode
from edgecase.sim.metrics import TTC_HORIZON_S, distance_m, ttc_s

MAX_FRAMES = 100
WIDTH_PX = 640
JPEG_QUALITY = 80
BEV_SIZE_PX = (480, 560)  # width, height of bird's-eye frames
PLOT_W, PLOT_H, PAD_L, PAD_R, PAD_T, PAD_B = 760, 230, 52, 130, 24, 30


@dataclass(frozen=True)
class Frame:
    """One scrubber position: a tick, its picture (a data URI, or None: table only) and its table."""

    tick: int
    t_s: float
    src: str | None
    table: str  # HTML, escaped


def write_html(episode_dir: str | Path, out_file: str | Path | None = None, *, camera: str | None = None,
               scenario: str | Path | None = None, max_frames: int = MAX_FRAMES, width_px: int = WIDTH_PX) -> Path:
    """Write the report (default EPISODE/report.html) and return its path.

    `camera`: which camera the scrubber shows (default: the rig's first); `scenario`: the scenario
    file when it is not found near the episode (its text is shown; else the plan's summary)."""
    episode = load_episode(episode_dir)
    out = Path(out_file) if out_file is not None else episode.path / "report.html"
    frames = episode_frames(episode, camera, max_frames, width_px)
    page = render_page(episode, frames, _scenario_section(episode, scenario), _frames_caption(episode, camera, frames))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def render_page(episode: EpisodeData, frames: Sequence[Frame], scenario_html: str, caption: str = "") -> str:
    meta, plan = episode.meta, episode.plan
    passed = meta.get("outcome", {}).get("passed")
    title = f"{plan.scenario} · seed {plan.seed}"
    verdict = _badge(passed)
    facts = (f"backend {meta.get('backend', '?')} · map {plan.map.source} · {plan.duration_s:g} s at {plan.step_s:g} s/step"
             f" · plan {meta.get('plan_sha256', '')[:16]} · edgecase {meta.get('versions', {}).get('edgecase', '?')}")
    body = "\n".join([
        f"<header><h1>{_e(title)} {verdict}</h1><p class=dim>{_e(facts)}</p></header>",
        scenario_html,
        _oracles_section(meta),
        _plots_section(episode),
        _events_section(episode),
        _frames_section(frames, caption),
    ])
    return _PAGE.format(title=_e(title), css=_CSS, body=body, data=_frame_json(frames), script=_SCRIPT)


# --- scenario, oracles, events -------------------------------------------------------------------


def _scenario_section(episode: EpisodeData, hint: str | Path | None) -> str:
    plan = episode.plan
    params = "".join(f"<tr><td>{_e(k)}</td><td class=num>{_e(_fmt(v))}</td></tr>" for k, v in plan.params.items())
    params_html = (f"<h3>Sampled parameters</h3><table><tr><th>param</th><th>value</th></tr>{params}</table>"
                   if params else "<p class=dim>no sampled parameters</p>")
    found = find_scenario(plan, episode.path, hint)
    if found is not None:
        path = Path(found.doc.file)
        source = f"<h3>Scenario file <code>{_e(str(path))}</code></h3><pre>{_e(path.read_text(encoding='utf-8'))}</pre>"
    else:
        plan_json = json.dumps(plan.model_dump(mode="json"), indent=1)
        source = (f"<h3>Plan (the scenario file {_e(plan.scenario)}.yaml was not found near the episode)</h3>"
                  f"<pre>{_e(summarize(plan))}</pre><details><summary>plan JSON</summary><pre>{_e(plan_json)}</pre></details>")
    return f"<section id=scenario><h2>Scenario</h2>{params_html}{source}</section>"


def _oracles_section(meta: dict[str, Any]) -> str:
    rows = []
    for o in meta.get("outcome", {}).get("oracles", []):
        status = {True: "passed", False: "failed"}.get(o.get("passed"), "not evaluated")
        unit = o.get("unit") or ""
        first = o.get("first_violation_t_s")
        extra = "; ".join(x for x in (o.get("note") or "", f"first violated at {_fmt(first)} s" if first is not None else "") if x)
        rows.append(f"<tr class={status.replace(' ', '-')}><td><code>{_e(o.get('expr', ''))}</code></td>"
                    f"<td>{status}</td><td class=num>{_e(_fmt(o.get('actual')))} {_e(unit)}</td>"
                    f"<td class=num>{_e(_fmt(o.get('threshold')))} {_e(unit)}</td><td>{_e(extra)}</td></tr>")
    if not rows:
        return "<section id=oracles><h2>Oracles</h2><p class=dim>the scenario has no expect lines</p></section>"
    head = "<tr><th>expect</th><th>outcome</th><th>actual</th><th>threshold</th><th>note</th></tr>"
    return f"<section id=oracles><h2>Oracles</h2><table>{head}{''.join(rows)}</table></section>"


def _events_section(episode: EpisodeData) -> str:
    rows = "".join(f"<tr><td class=num>{e.tick}</td><td class=num>{e.t_s:.2f}</td><td>{_e(e.kind)}</td>"
                   f"<td>{_e(e.actor)}</td><td>{_e(e.detail)}</td></tr>" for e in episode.events)
    head = "<tr><th>tick</th><th>t (s)</th><th>kind</th><th>actor</th><th>detail</th></tr>"
    return f"<section id=events><h2>Events</h2><table>{head}{rows}</table></section>"


# --- plots ---------------------------------------------------------------------------------------


def plotted_actors(episode: EpisodeData) -> tuple[int, ...]:
    """Rows plotted against the ego: the edge-case actors, else the criticality pair's other actor,
    else the three actors that came closest."""
    rows = episode.edge_case_indices
    if not rows and episode.plan.criticality is not None:
        rows = tuple(episode.names.index(n) for n in episode.plan.criticality.actors if n != episode.plan.ego.name)
    if not rows:
        e = episode.ego_index
        closest = sorted((float(np.min(distance_m(episode.trace, e, i))), i) for i in range(len(episode.names)) if i != e)
        rows = tuple(i for _, i in closest[:3])
    return rows[:6]


def _plots_section(episode: EpisodeData) -> str:
    e, t = episode.ego_index, np.asarray(episode.arrays["t_s"], float)
    rows = plotted_actors(episode)
    colours = [_css(style.actor_colour(episode.plan.actors[i].actor_class, episode.plan.actors[i].role)) for i in rows]
    colours = [c if k == 0 or c != colours[0] else _PALETTE[k % len(_PALETTE)] for k, c in enumerate(colours)]
    names = [episode.names[i] for i in rows]
    ttc = [ttc_s(episode.trace, e, i) for i in rows]
    dist = [distance_m(episode.trace, e, i) for i in rows]
    events = [(ev.t_s, f"{ev.kind} {ev.actor} {ev.detail}".strip()) for ev in episode.events]
    ttc_svg = svg_plot("ttc", f"TTC ego → actor (s; none within {TTC_HORIZON_S:g} s: gap)", t, list(zip(names, colours, ttc)), events,
                       y_max=TTC_HORIZON_S)
    dist_svg = svg_plot("distance", "box-to-box distance ego → actor (m)", t, list(zip(names, colours, dist)), events)
    return f"<section id=plots><h2>Metrics</h2>{ttc_svg}{dist_svg}</section>"


def svg_plot(plot_id: str, title: str, t: np.ndarray, series: list[tuple[str, str, np.ndarray]],
             events: list[tuple[float, str]], y_max: float | None = None) -> str:
    """A line plot as inline SVG: one line per series (gaps where a value is not finite), dashed
    event markers, and a cursor line (id cursor-PLOT_ID) that the scrubber moves."""
    t0 = float(t[0])
    t1 = float(t[-1]) if len(t) > 1 and t[-1] > t[0] else t0 + 1.0
    finite = np.concatenate([v[np.isfinite(v)] for _, _, v in series]) if series else np.zeros(0)
    top = y_max if y_max is not None else (float(finite.max()) if finite.size else 1.0)
    top = _nice_ceiling(top if top > 0 else 1.0)
    w, h = PLOT_W - PAD_L - PAD_R, PLOT_H - PAD_T - PAD_B

    def x(v: float) -> float:
        return PAD_L + (v - t0) / (t1 - t0) * w

    def y(v: float) -> float:
        return PAD_T + h - min(v, top) / top * h

    parts = [f'<svg class=plot id="plot-{plot_id}" viewBox="0 0 {PLOT_W} {PLOT_H}" width="{PLOT_W}" height="{PLOT_H}" '
             f'data-t0="{t0}" data-t1="{t1}" data-x0="{PAD_L}" data-x1="{PAD_L + w}" role=img>',
             f"<title>{_e(title)}</title>", f'<text x="{PAD_L}" y="{PAD_T - 9}" class=ptitle>{_e(title)}</text>']
    for k in range(5):
        v = top * k / 4
        parts.append(f'<line class=grid x1="{PAD_L}" x2="{PAD_L + w}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
                     f'<text class=tick x="{PAD_L - 6}" y="{y(v) + 4:.1f}" text-anchor=end>{v:g}</text>')
    for v in _time_ticks(t0, t1):
        parts.append(f'<text class=tick x="{x(v):.1f}" y="{PAD_T + h + 16}" text-anchor=middle>{v:g}</text>')
    parts.append(f'<text class=tick x="{PAD_L + w}" y="{PLOT_H - 2}" text-anchor=end>t (s)</text>')
    for t_s, label in events:
        parts.append(f'<line class=event x1="{x(t_s):.1f}" x2="{x(t_s):.1f}" y1="{PAD_T}" y2="{PAD_T + h}">'
                     f"<title>{_e(label)} at {t_s:.2f} s</title></line>")
    for k, (name, colour, values) in enumerate(series):
        parts.append(f'<path d="{_path(t, values, x, y)}" stroke="{colour}" class=line><title>{_e(name)}</title></path>'
                     f'<text x="{PAD_L + w + 10}" y="{PAD_T + 14 + 16 * k}" fill="{colour}" class=legend>{_e(name)}</text>')
    parts.append(f'<line id="cursor-{plot_id}" class=cursor x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{PAD_T + h}"/>')
    return "".join(parts) + "</svg>"


def _path(t: np.ndarray, values: np.ndarray, x: Any, y: Any) -> str:
    """SVG path data; a non-finite value ends the current run (the next finite one starts a new one)."""
    out, pen = [], "M"
    for t_s, v in zip(t, values):
        if not math.isfinite(float(v)):
            pen = "M"
            continue
        out.append(f"{pen}{x(float(t_s)):.1f},{y(float(v)):.1f}")
        pen = "L"
    return " ".join(out) or "M0,0"


def _nice_ceiling(v: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above v: round axis ends."""
    base = 10 ** math.floor(math.log10(v))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= v - 1e-12)


def _time_ticks(t0: float, t1: float) -> list[float]:
    step = _nice_ceiling((t1 - t0) / 8)
    first = math.ceil(t0 / step) * step
    return [round(first + k * step, 6) for k in range(int((t1 - first) / step + 1e-9) + 1)]


# --- frames --------------------------------------------------------------------------------------


def frame_ticks(episode: EpisodeData, max_frames: int) -> list[int]:
    """The ticks the scrubber offers: every frame tick (every trace tick without sensors), thinned
    evenly to at most max_frames, first and last kept."""
    ticks = list(episode.frame_ticks or range(episode.ticks))
    if len(ticks) <= max_frames:
        return ticks
    picks = np.unique(np.round(np.linspace(0, len(ticks) - 1, max_frames)).astype(int))
    return [ticks[i] for i in picks]


def episode_frames(episode: EpisodeData, camera: str | None, max_frames: int, width_px: int) -> list[Frame]:
    ticks = frame_ticks(episode, max_frames)
    if episode.cameras:
        cam = episode.camera(camera)
        return [_camera_frame(episode, cam, tick, width_px) for tick in ticks]
    bev = _bev_renderer(episode)
    e = episode.ego_index
    gaps = {i: distance_m(episode.trace, e, i) for i in range(len(episode.names)) if i != e}
    return [Frame(tick, float(episode.arrays["t_s"][tick]), _data_uri(bev.render(tick)) if bev else None,
                  _trace_table(episode, tick, gaps)) for tick in ticks]


def _bev_renderer(episode: EpisodeData) -> Any:
    """The bird's-eye renderer (edgecase.replay.bev) when it is there and works on this episode, else None."""
    try:
        from edgecase.replay.bev import BevRenderer
    except ImportError:
        return None
    return BevRenderer(episode, *BEV_SIZE_PX)


def _camera_frame(episode: EpisodeData, cam: str, tick: int, width_px: int) -> Frame:
    labels = episode.labels(tick)
    image = cv2.imread(str(episode.image_path(cam, tick)), cv2.IMREAD_COLOR)
    if image is None:
        return Frame(tick, labels.t_s, None, _labels_table(labels, cam))
    return Frame(tick, labels.t_s, _data_uri(boxed_image(image, labels, cam, width_px)), _labels_table(labels, cam))


def boxed_image(image: np.ndarray, labels: FrameLabels, cam: str, width_px: int) -> np.ndarray:
    """The camera image downscaled to width_px, each object's amodal 2D box drawn in its colour
    (the replay style's: edge-case actors magenta) with its name; boxes are scaled, not the
    drawing, so lines stay one crisp pixel wide."""
    scale = min(1.0, width_px / image.shape[1])
    if scale < 1.0:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    for o in labels.objects:
        view = o.cameras.get(cam)
        if view is None:
            continue
        x0, y0, x1, y1 = (v * scale for v in view.amodal)
        colour = style.actor_colour(o.actor_class, o.role)
        cv2.rectangle(image, (round(x0), round(y0)), (max(round(x0), round(x1) - 1), max(round(y0), round(y1) - 1)),
                      colour, 2 if o.role == "adversary" else 1, cv2.LINE_AA)
        style.label(image, o.name, x0, max(12.0, y0 - 3), colour, 0.4)
    return image


def _labels_table(labels: FrameLabels, cam: str) -> str:
    head = ("<tr><th>track</th><th>name</th><th>role</th><th>class</th><th>distance (m)</th><th>speed (m/s)</th>"
            "<th>visible</th><th>occlusion</th><th>amodal box (px)</th></tr>")
    rows = []
    for o in labels.objects:
        view = o.cameras.get(cam)
        dist = math.hypot(o.box_ego.centre_m[0], o.box_ego.centre_m[1])
        seen = f"{view.visibility:.0%}" if view else "—"
        box = ", ".join(f"{v:.0f}" for v in view.amodal) if view else "not in view"
        rows.append(f"<tr class={_e(o.role)}><td class=num>{o.track_id}</td><td>{_e(o.name)}</td><td>{_e(o.role)}</td>"
                    f"<td>{_e(o.actor_class)}</td><td class=num>{dist:.1f}</td><td class=num>{o.speed_mps:.1f}</td>"
                    f"<td class=num>{seen}</td><td class=num>{view.occlusion if view else '—'}</td><td class=num>{box}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _trace_table(episode: EpisodeData, tick: int, gaps: dict[int, np.ndarray]) -> str:
    a, e = episode.arrays, episode.ego_index
    head = ("<tr><th>track</th><th>name</th><th>role</th><th>x (m)</th><th>y (m)</th><th>yaw (°)</th>"
            "<th>speed (m/s)</th><th>distance to ego (m)</th></tr>")
    rows = []
    for i, actor in enumerate(episode.plan.actors):
        if not a["active"][tick, i]:
            continue
        gap = "—" if i == e else f"{gaps[i][tick]:.1f}"
        rows.append(f"<tr class={_e(actor.role)}><td class=num>{actor.id}</td><td>{_e(actor.name)}</td><td>{_e(actor.role)}</td>"
                    f"<td class=num>{a['x_m'][tick, i]:.2f}</td><td class=num>{a['y_m'][tick, i]:.2f}</td>"
                    f"<td class=num>{math.degrees(a['yaw_rad'][tick, i]):.1f}</td><td class=num>{a['speed_mps'][tick, i]:.1f}</td>"
                    f"<td class=num>{gap}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _frames_caption(episode: EpisodeData, camera: str | None, frames: Sequence[Frame]) -> str:
    total = len(episode.frame_ticks or range(episode.ticks))
    if episode.cameras:
        what = f"camera {episode.camera(camera)} with each object's amodal 2D box (edge-case actors magenta)"
    elif any(f.src for f in frames):
        what = "bird's-eye view (no sensors were recorded)"
    else:
        what = "the actors per tick (no sensors were recorded)"
    return f"{what}; {len(frames)} of {total} frames; drag the slider, use the arrow keys, or link #frame=N"


def _frames_section(frames: Sequence[Frame], caption: str = "") -> str:
    if not frames:
        return "<section id=frames><h2>Frames</h2><p class=dim>no frames</p></section>"
    tables = "".join(f'<div class=frame-table data-index="{k}"{"" if k == 0 else " hidden"}>{f.table}</div>'
                     for k, f in enumerate(frames))
    image = ('<img id=frame-image alt="frame" data-index="0">' if any(f.src for f in frames)
             else '<img id=frame-image alt="frame" data-index="0" hidden>')
    return (f"<section id=frames><h2>Frames</h2><p class=dim>{_e(caption)}</p>"
            f'<div class=scrub><input type=range id=scrubber min=0 max="{len(frames) - 1}" value=0 step=1 '
            f'aria-label="frame"><span id=frame-label></span></div>{image}{tables}</section>')


def _frame_json(frames: Sequence[Frame]) -> str:
    data = [{"tick": f.tick, "t": round(f.t_s, 4), "src": f.src} for f in frames]
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def _data_uri(bgr: np.ndarray) -> str:
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a report frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


# --- small things --------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _badge(passed: Any) -> str:
    text = {True: "passed", False: "failed"}.get(passed, "not evaluated")
    return f"<span class='badge {text.replace(' ', '-')}'>{text}</span>"


def _css(bgr: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(bgr[2], bgr[1], bgr[0])


_PALETTE = ("#d62fd6", "#e8a33c", "#3cb4e8", "#7bd13c", "#e85a3c", "#9a7be8")

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:12px 20px;color:#222;background:#fafafa}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:2px}h3{font-size:15px}
.dim{color:#666}pre{background:#f0f0f0;padding:8px;overflow:auto;max-height:420px;font-size:12px}
table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #ddd;padding:2px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#eee}
.badge{font-size:13px;padding:2px 8px;border-radius:10px;vertical-align:middle;color:#fff}
.badge.passed,tr.passed td:nth-child(2){background:#2e8b3e;color:#fff}
.badge.failed,tr.failed td:nth-child(2){background:#c62828;color:#fff}
.badge.not-evaluated,tr.not-evaluated td:nth-child(2){background:#888;color:#fff}
tr.adversary td{background:#fbe9fb}
svg.plot{display:block;margin:6px 0;background:#fff;border:1px solid #ddd}
.grid{stroke:#eee}.tick,.ptitle,.legend{font-size:11px;fill:#444}.legend{font-weight:600}
.line{fill:none;stroke-width:1.8}.event{stroke:#999;stroke-dasharray:4 3}.cursor{stroke:#222;stroke-width:1}
.scrub{display:flex;gap:12px;align-items:center;margin:6px 0}#scrubber{flex:1}
#frame-image{display:block;max-width:100%;border:1px solid #ccc;margin-bottom:6px}
"""

_SCRIPT = """
(function () {
  const frames = JSON.parse(document.getElementById('frame-data').textContent);
  const range = document.getElementById('scrubber');
  if (!range || !frames.length) return;
  const image = document.getElementById('frame-image');
  const label = document.getElementById('frame-label');
  const tables = document.querySelectorAll('.frame-table');
  function moveCursors(t) {
    document.querySelectorAll('svg.plot').forEach(function (svg) {
      const d = svg.dataset, x0 = +d.x0, x1 = +d.x1;
      const x = x0 + (t - d.t0) / (d.t1 - d.t0) * (x1 - x0);
      const line = svg.querySelector('.cursor');
      line.setAttribute('x1', x); line.setAttribute('x2', x);
    });
  }
  function show(index) {
    const i = Math.max(0, Math.min(frames.length - 1, index | 0));
    const f = frames[i];
    if (f.src) { image.src = f.src; image.hidden = false; } else { image.removeAttribute('src'); image.hidden = true; }
    image.dataset.index = String(i);
    image.dataset.tick = String(f.tick);
    label.textContent = 'frame ' + (i + 1) + ' / ' + frames.length + ' \\u00b7 tick ' + f.tick + ' \\u00b7 t = ' + f.t.toFixed(2) + ' s';
    tables.forEach(function (t) { t.hidden = (+t.dataset.index !== i); });
    document.body.dataset.frame = String(i);
    moveCursors(f.t);
  }
  range.addEventListener('input', function () { show(+range.value); });
  function fromHash() {
    const m = /frame=(\\d+)/.exec(location.hash);
    if (!m) return;
    range.value = m[1];
    range.dispatchEvent(new Event('input'));
  }
  window.addEventListener('hashchange', fromHash);
  show(0);
  fromHash();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body>
{body}
<script type="application/json" id="frame-data">{data}</script>
<script>{script}</script>
</body></html>
"""
