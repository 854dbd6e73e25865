"""The episode directory: episode.json + trace.npz, written atomically, read back by `read_episode`.

Layout (format 1, documented in docs/episode-format.md):
    DIR/episode.json   plan, hashes, versions, oracle outcomes, metrics, events, and a separate
                       `wall_clock` section (the only part that differs between two runs)
    DIR/trace.npz      per-tick arrays (T, N) for every actor, light states (T, L), times (T,)

Everything is first written into a sibling temporary directory that is renamed into place, so an
interrupted run never leaves a directory that looks complete: either DIR is whole or absent.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import zipfile
from dataclasses import asdict, dataclass
from glob import escape as glob_escape
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgecase.errors import EdgecaseError, InputError
from edgecase.plan import EpisodePlan
from edgecase.record.frames import FrameRecorder, calibration, dump_json
from edgecase.sensors import Rig
from edgecase.sim.loop import EpisodeResult
from edgecase.sim.trace import FIELDS, LIGHT_COLORS

EPISODE_FORMAT_VERSION = 1
# what a full, read-only or failing disk raises while the episode is written (not a bug: say so plainly)
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES}


class EpisodeWriteError(EdgecaseError):
    """The episode directory could not be written (disk full, quota, read-only); nothing of it is kept (exit 3)."""

    exit_code = 3
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same trace gives the same bytes


@dataclass(frozen=True)
class EpisodeRecord:
    """An episode read back from disk."""

    path: Path
    meta: dict[str, Any]  # episode.json
    plan: EpisodePlan
    arrays: dict[str, np.ndarray]  # trace.npz: t_s, light_codes and one (T, N) array per field


def episode_document(result: EpisodeResult, backend: str, wall_clock: dict[str, Any]) -> dict[str, Any]:
    plan, trace = result.plan, result.trace
    return {
        "format_version": EPISODE_FORMAT_VERSION,
        "versions": {"edgecase": _version("edgecase"), "carla": _version("carla")},
        "scenario": plan.scenario,
        "seed": plan.seed,
        "backend": backend,
        "plan_sha256": plan.content_hash(),
        "plan": plan.model_dump(mode="json"),
        "outcome": {
            "passed": result.passed,
            "oracles": [_jsonable(asdict(o)) for o in result.oracles],
        },
        "metrics": _jsonable(result.metrics.to_json()),
        "events": [asdict(e) for e in trace.events],
        "trace": {"file": "trace.npz", "ticks": len(trace.t_s), "actors": list(trace.names), "fields": list(FIELDS),
                  "light_ids": list(trace.light_ids), "light_colors": list(LIGHT_COLORS)},
        "wall_clock": wall_clock,
    }  # fmt: skip


class EpisodeWriter:
    """An episode directory being written: files go into a hidden sibling that `finish` renames
    into place, so DIR is whole or absent. Sensor frames stream in during the run (`frames`);
    leaving the `with` block without `finish` (an error, Ctrl-C) removes the temporary."""

    def __init__(self, out_dir: Path, force: bool = False) -> None:
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not force:
            raise InputError(f"{self.out_dir} already exists (pass --force to replace it)")
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out_dir.parent / f".{self.out_dir.name}.tmp-{os.getpid()}"
        _remove_stale_temporaries(self.out_dir)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self._frames: FrameRecorder | None = None
        self._calib: dict[str, Any] | None = None

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if self._frames is not None:
            self._frames.abort()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if isinstance(error, OSError) and not isinstance(error, ConnectionError) and error.errno in _DISK_ERRNOS:
            reason = error.strerror or str(error)
            raise EpisodeWriteError(f"cannot write the episode {self.out_dir}: {reason}; nothing of it was kept",
                                    hint="free disk space (or choose another --out) and run it again") from error

    def record_sensors(self, plan: EpisodePlan, rig: Rig, frame_every: int, lossless: bool = False) -> FrameRecorder:
        """Start the background frame writer; returns it (its `submit` is the loop's `on_frames`)."""
        self._frames = FrameRecorder(self.tmp, plan, rig, lossless)
        self._calib = {"rig": rig, "plan": plan, "frame_every": frame_every}
        return self._frames

    def finish(self, result: EpisodeResult, backend: str, wall_clock: dict[str, Any], renderer: dict[str, Any] | None = None) -> Path:
        """Write the rest (trace, episode.json, calibration), make it durable, rename into place."""
        if self._frames is not None:
            self._frames.close()
            calib = calibration(self._calib["rig"], result.plan, self._calib["frame_every"], renderer or {})
            dump_json(self.tmp / "calib.json", calib, sort_keys=False)  # the rig's sensor order is meaningful
            dump_json(self.tmp / "frames.json", {"ticks": self._frames.ticks})
            self._frames = None
        _write_trace(self.tmp / "trace.npz", result)
        dump_json(self.tmp / "episode.json", episode_document(result, backend, wall_clock))
        _make_durable(self.tmp)
        if self.out_dir.exists():  # --force: move the old one aside first, so a crash leaves one whole copy
            old = self.out_dir.parent / f".{self.out_dir.name}.old-{os.getpid()}"
            self.out_dir.rename(old)
            self.tmp.rename(self.out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            self.tmp.rename(self.out_dir)
        return self.out_dir


def write_episode(result: EpisodeResult, out_dir: Path, backend: str, wall_clock: dict[str, Any], force: bool = False) -> Path:
    """Write an episode without sensor data into `out_dir` atomically; an existing directory is an error unless `force`."""
    with EpisodeWriter(out_dir, force) as writer:
        return writer.finish(result, backend, wall_clock)


def read_episode(path: Path) -> EpisodeRecord:
    path = Path(path)
    meta_file = path / "episode.json"
    if not meta_file.is_file():
        raise InputError(f"{path} is not an episode directory (no episode.json)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format_version") != EPISODE_FORMAT_VERSION:
        raise InputError(f"{meta_file}: episode format {meta.get('format_version')}; this edgecase reads {EPISODE_FORMAT_VERSION}")
    with np.load(path / "trace.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    return EpisodeRecord(path, meta, EpisodePlan.model_validate(meta["plan"]), arrays)


def _write_trace(file: Path, result: EpisodeResult) -> None:
    trace = result.trace
    arrays = {"t_s": trace.t_s, "light_codes": trace.light_codes, **{f: getattr(trace, f) for f in FIELDS}}
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE), buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED)


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Hidden temporaries of this episode left by runs that were killed (kill -9, a crash): their
    process is gone. A live process's temporary (another run writing the same DIR) is left alone."""
    for tmp in out_dir.parent.glob(f".{glob_escape(out_dir.name)}.tmp-*"):
        pid = tmp.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_durable(folder: Path) -> None:
    """Every file on disk before the rename, so a crash never leaves a complete-looking DIR with
    empty files. Many sensor files: one sync() is far cheaper than an fsync per file."""
    files = [f for f in folder.rglob("*") if f.is_file()]
    if len(files) > 8:
        os.sync()
        return
    for file in files:
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())


def _jsonable(value: Any) -> Any:
    """JSON has no inf: write it as the string 'inf' (and -inf), which readers map back."""
    if isinstance(value, float) and not np.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
