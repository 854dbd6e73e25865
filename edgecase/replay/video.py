"""Replay files: an annotated MP4 of an episode (`write_video`) and a PNG still (`write_still`).

Which frames: with cameras, one video frame per recorded sensor frame (frames.json), at the
recording's rate (1 / (frame_every x step_s)); without sensors, the bird's-eye view every k-th
tick, k = round(0.1 s / step_s), i.e. 10 Hz. `frames` ('A:B', ticks, half-open like a Python
slice, either end may be left out) keeps the frames whose tick is in [A, B).

MP4 through OpenCV: H.264 ('avc1') where the OpenCV build can encode it (it plays everywhere,
browsers included), else MPEG-4 Part 2 ('mp4v': VLC, ffplay, mpv and most desktop players; not
browsers). `VideoSummary.codec` says which. OpenCV's pip wheels carry no H.264 encoder, and its
failed attempt prints FFmpeg errors on stderr, so that probe runs with stderr silenced.

Speed: camera images are decoded on worker threads ahead of the frame being drawn and frames are
encoded on another (OpenCV releases the GIL in both), so drawing, decoding and encoding overlap.
Files are written under a temporary name and renamed into place: FILE is whole or absent.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecase.errors import EdgecaseError, InputError
from edgecase.replay.compose import HEIGHT, WIDTH, FrameRenderer
from edgecase.replay.episode_data import EpisodeData, load_episode

BEV_RATE_HZ = 10.0
CODECS = ("avc1", "mp4v")  # preferred first
_PREFETCH = 6  # camera frames decoded ahead
_IN_FLIGHT = 4  # frames queued for the encoder

Frames = str | tuple[int | None, int | None] | None


@dataclass(frozen=True, slots=True)
class VideoSummary:
    path: Path
    codec: str  # 'avc1' (H.264) or 'mp4v' (MPEG-4 Part 2)
    frames: int
    fps: float
    size: tuple[int, int]  # width, height
    camera: str | None  # None: bird's-eye view only
    ticks: tuple[int, int]  # first and last tick shown


def write_video(episode_dir: str | Path, out_file: str | Path, frames: Frames = None, camera: str | None = None,
                wireframes: bool = False) -> VideoSummary:
    """Render the episode's replay video (layout: edgecase/replay/compose.py) into `out_file` (.mp4)."""
    out = _output(out_file, ".mp4")
    episode = load_episode(episode_dir)
    renderer = FrameRenderer(episode, camera, wireframes)
    ticks = video_ticks(episode, frames, renderer.camera)
    fps = _fps(episode, renderer.camera)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    writer, codec = open_writer(tmp, fps)
    try:
        _render_all(renderer, ticks, writer.write)
        writer.release()
        tmp.replace(out)
    finally:
        writer.release()
        tmp.unlink(missing_ok=True)
    return VideoSummary(out, codec, len(ticks), fps, (WIDTH, HEIGHT), renderer.camera, (ticks[0], ticks[-1]))


def write_still(episode_dir: str | Path, tick: int, out_png: str | Path, camera: str | None = None,
                wireframes: bool = False) -> Path:
    """One replay frame as a PNG (lossless: exact colours). With cameras `tick` must be a sensor
    frame's tick (the error names the nearest ones); without, any tick of the trace."""
    out = _output(out_png, ".png")
    episode = load_episode(episode_dir)
    if not 0 <= int(tick) < episode.ticks:
        raise InputError(f"tick {tick} is outside the episode (ticks 0..{episode.ticks - 1})")
    frame = FrameRenderer(episode, camera, wireframes).render(int(tick))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    try:
        if not cv2.imwrite(str(tmp), frame):
            raise InputError(f"could not write {out}")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def parse_frames(text: str) -> tuple[int | None, int | None]:
    """'A:B', 'A:' or ':B' (ticks, B excluded) -> (A, B); InputError otherwise."""
    parts = str(text).split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise InputError(f"--frames {text!r}: expected A:B (ticks, B excluded; e.g. 40:120, 40: or :120)") from None
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        raise InputError(f"--frames {text!r}: ticks are >= 0")
    return start, stop


def video_ticks(episode: EpisodeData, frames: Frames, camera: str | None) -> list[int]:
    """The ticks that become video frames (see the module docstring); InputError if none."""
    if camera:
        base: Sequence[int] = episode.frame_ticks
    else:
        base = range(0, episode.ticks, bev_step(episode))
    start, stop = parse_frames(frames) if isinstance(frames, str) else (frames or (None, None))
    chosen = [t for t in base if (start is None or t >= start) and (stop is None or t < stop)]
    if not chosen:
        what = "sensor frames at ticks" if camera else "ticks"
        raise InputError(f"no frames in {start if start is not None else ''}:{stop if stop is not None else ''}"
                         f" (the episode has {what} {base[0]}..{base[-1]})")
    return chosen


def bev_step(episode: EpisodeData) -> int:
    """k: the bird's-eye video shows every k-th tick, 10 Hz."""
    return max(1, round(1.0 / (BEV_RATE_HZ * episode.step_s)))


def _fps(episode: EpisodeData, camera: str | None) -> float:
    if camera and len(episode.frame_ticks) > 1:
        every = int(np.median(np.diff(episode.frame_ticks)))
    elif camera:
        every = int((episode.calib or {}).get("frame_every", 1))
    else:
        every = bev_step(episode)
    return 1.0 / (every * episode.step_s)


def open_writer(path: Path, fps: float, size: tuple[int, int] = (WIDTH, HEIGHT)) -> tuple[cv2.VideoWriter, str]:
    """An open cv2.VideoWriter and its codec: the first of CODECS this OpenCV can encode."""
    for codec in CODECS:
        with _quiet_stderr():
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
        if writer.isOpened():
            return writer, codec
        writer.release()
    raise EdgecaseError(f"OpenCV cannot write MP4 here (tried {', '.join(CODECS)}): it lacks FFmpeg video support")


def _render_all(renderer: FrameRenderer, ticks: list[int], sink: Callable[[np.ndarray], None]) -> None:
    """Decode ahead (2 threads), draw here, encode behind (1 thread), at most a few frames each."""
    with ThreadPoolExecutor(2, thread_name_prefix="replay-decode") as decode, \
            ThreadPoolExecutor(1, thread_name_prefix="replay-encode") as encode:
        images = _ahead(decode, renderer.camera_image, ticks) if renderer.camera else itertools.repeat(None)
        pending: deque[Future] = deque()
        for tick, image in zip(ticks, images):
            pending.append(encode.submit(sink, renderer.render(tick, image)))
            while len(pending) > _IN_FLIGHT:
                pending.popleft().result()  # re-raises an encoder error here
        for future in pending:
            future.result()


def _ahead(pool: ThreadPoolExecutor, read: Callable[[int], np.ndarray], ticks: list[int]) -> Iterator[np.ndarray]:
    """read(tick) for each tick in order, up to _PREFETCH running ahead on the pool."""
    pending: deque[Future] = deque(pool.submit(read, t) for t in ticks[:_PREFETCH])
    rest = iter(ticks[_PREFETCH:])
    while pending:
        result = pending.popleft().result()
        nxt = next(rest, None)
        if nxt is not None:
            pending.append(pool.submit(read, nxt))
        yield result


def _output(path: str | Path, suffix: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != suffix:
        raise InputError(f"{out}: expected a {suffix} file name")
    if out.is_dir():
        raise InputError(f"{out} is a directory")
    return out


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (FFmpeg logs there directly, past Python's sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
