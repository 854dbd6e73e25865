"""Recorded episodes -> KITTI, COCO and nuScenes datasets, each checked by its own official tools.

    from edgecase.export import export
    summary = export(["out/child-1", "out/child-2"], "kitti", "out/kitti", force=True)

Several episodes merge into one dataset (continuous KITTI indices, one COCO file, one nuScenes
scene per episode). The output is a pure function of the inputs (same episodes, same options ->
byte-identical files) and appears atomically: everything is written into a hidden sibling
directory that is renamed into `out` at the end, so `out` is either complete or untouched.
Formats, frames and how each was validated: docs/exports.md.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgecase.errors import InputError
from edgecase.export.reader import Episode, read_episode_dir

FORMATS = ("kitti", "coco", "nuscenes")
_ITEMS = {"kitti": "samples", "coco": "images", "nuscenes": "sample_data"}


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote; `wall_s` is the only field that differs between identical exports."""

    format: str
    out: Path
    episodes: int
    frames: int  # (episode, frame) pairs exported
    items: int  # KITTI samples, COCO images, nuScenes sample_data records
    annotations: int  # KITTI label lines, COCO annotations, nuScenes sample_annotations
    notes: tuple[str, ...]  # what the user should know (no LiDAR, objects without a category, ...)
    wall_s: float

    def __str__(self) -> str:
        """What the CLI prints: one line, then the notes."""
        line = (f"{self.format}: {self.frames} frames of {self.episodes} episode(s) -> {self.out} "
                f"({self.items} {_ITEMS[self.format]}, {self.annotations} annotations, {self.wall_s:.1f} s)")
        return "\n".join([line, *(f"note: {n}" for n in self.notes)])

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else float("inf")


def export(episodes: Sequence[str | os.PathLike[str]], fmt: str, out: str | os.PathLike[str], *, force: bool = False,
           camera: str | None = None, workers: int | None = None, png_compression: int | None = None) -> ExportSummary:
    """Export episode directories as one dataset in `fmt` (kitti, coco, nuscenes) into `out`.

    `out` must not exist or be empty unless `force` (then it is replaced, only once the new one is
    complete). `camera`: KITTI's camera (default: each episode's first camera in calib.json), for
    COCO the only camera exported (default: all); nuScenes always takes every sensor. `workers`:
    threads for image and point-cloud files (default: the CPU count). `png_compression`: KITTI's
    PNG zlib level 0..9 (default: OpenCV's, level 1; 0: stored, ~2x faster, 2-12x bigger).
    """
    started = time.perf_counter()
    if fmt not in FORMATS:
        raise InputError(f"unknown export format '{fmt}' (formats: {', '.join(FORMATS)})")
    if not episodes:
        raise InputError("no episodes to export")
    if png_compression is not None and not 0 <= png_compression <= 9:
        raise InputError(f"PNG compression level {png_compression} is outside 0..9")
    out = Path(out)
    paths = [Path(p) for p in episodes]
    _check_out(out, paths, force)
    read = [read_episode_dir(p) for p in paths]
    for episode in read:
        _check_captures(episode)
    threads = workers or os.cpu_count() or 1
    with _Staging(out) as tmp:
        counts = _write(fmt, read, tmp, camera, threads, png_compression)
        _replace(tmp, out)
    return ExportSummary(fmt, out, len(read), counts["frames"], counts["items"], counts["annotations"],
                         tuple(counts["notes"]), round(time.perf_counter() - started, 4))


def _write(fmt: str, episodes: list[Episode], tmp: Path, camera: str | None, workers: int,
           png_compression: int | None) -> dict:
    """Dispatch to the format's writer, imported on use (COCO alone needs pycocotools)."""
    if fmt == "kitti":
        from edgecase.export.kitti import write_kitti

        return write_kitti(episodes, tmp, camera, workers, png_compression)
    if fmt == "coco":
        from edgecase.export.coco import write_coco

        return write_coco(episodes, tmp, camera, workers)
    from edgecase.export.nuscenes import write_nuscenes

    return write_nuscenes(episodes, tmp, workers)


def _check_out(out: Path, episodes: list[Path], force: bool) -> None:
    """Refuse a non-empty `out` without `force`, and any `out` that is or holds an input episode."""
    target = out.resolve()
    for path in episodes:
        source = path.resolve()
        if source == target or target in source.parents or source in target.parents:
            raise InputError(f"--out {out} overlaps the input episode {path}")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"--out {out} exists and is not empty (pass --force to replace it)")


def _check_captures(episode: Episode) -> None:
    """Every capture file a label lists must lie inside its episode directory, symbolic links
    resolved: a hand-edited labels file ('../../etc/passwd', an absolute path) or a planted link
    must not make an export read, and copy into a dataset, a file the user never named."""
    root = episode.path.resolve()
    for frame in episode.frames:
        for sensor, capture in frame.captures.items():
            for kind, name in capture.files.items():
                if not (episode.path / name).resolve().is_relative_to(root):
                    raise InputError(f"{episode.labels_file(frame.tick)}: the '{kind}' file of sensor '{sensor}' "
                                     f"({name!r}) is outside the episode directory {episode.path}")


class _Staging:
    """A fresh hidden sibling of `out` to write into; removed again if writing fails."""

    def __init__(self, out: Path) -> None:
        self.path = out.parent / f".{out.name}.tmp-{os.getpid()}"

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir()
        return self.path

    def __exit__(self, kind, *rest) -> None:
        if kind is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def _replace(tmp: Path, out: Path) -> None:
    """Rename the finished staging directory into `out`; an old `out` is moved aside first, then removed."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


__all__ = ["FORMATS", "ExportSummary", "export"]
