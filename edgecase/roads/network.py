"""RoadNetwork: one road map, loaded once, answering the lane questions scenarios ask.

It wraps an offline `carla.Map` (carla parses OpenDRIVE and answers waypoint queries without a
server), so positions, yaw and lane ids are exactly CARLA's. Loading is cheap (Town10HD ~70 ms)
and cached per file version; outlines and the junction list are computed on first use. A
RoadNetwork is shared by every plan compiled against the same map: treat it as immutable.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import carla

from edgecase.errors import InputError, SourcePos
from edgecase.roads import travel
from edgecase.roads.builtin import builtin_map, builtin_xodr
from edgecase.roads.crosswalks import Crosswalk
from edgecase.roads.crosswalks import crosswalks as list_crosswalks
from edgecase.roads.junctions import junctions as list_junctions
from edgecase.roads.values import Junction, LaneKind, LanePoint, LaneRef, Turn
from edgecase.roads.waypoints import LANE_TYPES, lane_point
from edgecase.roads.xodr import MAX_XODR_BYTES, Xodr, read_xodr

if TYPE_CHECKING:
    import shapely
    from shapely.geometry.base import BaseGeometry

Side = Literal["left", "right"]


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    name: str
    source: str  # "builtin:NAME" or the resolved path: what load() needs to load it again
    xodr_text: str = field(repr=False)
    carla_map: carla.Map = field(repr=False)
    xodr: Xodr = field(repr=False)
    _outlines: dict[tuple, BaseGeometry] = field(default_factory=dict, init=False, repr=False)  # lazy caches

    @classmethod
    def load(cls, source: str, *, base_dir: Path | None = None, pos: SourcePos | None = None) -> RoadNetwork:
        """'builtin:NAME', or a path to an .xodr file (relative to base_dir). Cached: loading the
        same builtin, or the same unchanged file, again returns the same object."""
        try:
            if source.startswith("builtin:"):
                return _load_builtin(source.removeprefix("builtin:"))
            if source.startswith("carla:"):
                return _load_town(source.removeprefix("carla:"))
            path, stat = _map_file(source, base_dir)
            return _load_file(str(path), stat.st_mtime_ns, stat.st_size)
        except InputError as e:
            raise InputError(e.message, pos=pos or e.pos, hint=e.hint) from None

    @functools.cached_property
    def sha256(self) -> str:
        """Of the OpenDRIVE text: plans record it, so an edited map file changes every plan's hash."""
        return hashlib.sha256(self.xodr_text.encode()).hexdigest()

    def __reduce__(self):  # carla.Map cannot be pickled: ship the source, load again on arrival
        return RoadNetwork.load, (self.source,)

    # --- points -------------------------------------------------------------------------------

    def point(self, road_id: int, lane_id: int, s_m: float) -> LanePoint:
        """The centre of that lane at that s; InputError (naming the lanes there) if it does not exist."""
        return lane_point(self._waypoint(road_id, lane_id, s_m))

    def nearest(self, x_m: float, y_m: float, kind: LaneKind | None = None) -> LanePoint | None:
        """The nearest lane centre (of that kind; None: any lane), projected onto the lane."""
        lane_type = LANE_TYPES[kind] if kind else carla.LaneType.Any
        wp = self.carla_map.get_waypoint(carla.Location(x_m, y_m, 0.0), True, lane_type)
        return lane_point(wp) if wp is not None else None

    def lanes(self, kind: LaneKind) -> list[LaneRef]:
        """Every lane of that kind, sorted by (road_id, lane_id)."""
        return list(self._lane_refs.get(kind, ()))

    # --- across -------------------------------------------------------------------------------

    def neighbor(self, p: LanePoint, side: Side) -> LanePoint | None:
        """The adjacent lane of any type on `side` of p's direction of travel, at the same s
        (carla's semantics: left of lane -1 is lane 1, across the centre line)."""
        wp = self._waypoint(p.road_id, p.lane_id, p.s_m)
        other = wp.get_left_lane() if _side(side) == "left" else wp.get_right_lane()
        return lane_point(other) if other is not None and other.lane_id != 0 else None

    def side_lanes(self, p: LanePoint, side: Side) -> list[LanePoint]:
        """All lanes outward on that side, nearest first (e.g. driving -> parking -> sidewalk)."""
        found: list[LanePoint] = []
        current, current_side = p, _side(side)
        while len(found) < 64 and (nxt := self.neighbor(current, current_side)) is not None:
            if (nxt.lane_id > 0) != (current.lane_id > 0):  # crossed the centre line: the lanes
                current_side = "right" if current_side == "left" else "left"  # there face the other way
            found.append(nxt)
            current = nxt
        return found

    def opposite(self, p: LanePoint) -> LanePoint | None:
        """The nearest driving lane of the other direction at the same s (right-hand traffic)."""
        for q in self.side_lanes(p, "left"):
            if (q.lane_id > 0) != (p.lane_id > 0) and q.kind is LaneKind.DRIVING:
                return q
        return None

    # --- along --------------------------------------------------------------------------------

    def advance(self, p: LanePoint, distance_m: float, turns: Sequence[Turn] = ()) -> LanePoint | None:
        """Move `distance_m` along the centre line in the direction of travel (negative: back),
        through junctions, taking the next of `turns` at each branch (default: straight, else the
        first by road id). None where the lane ends first or a wanted turn does not exist."""
        wp = travel.advance(self._waypoint(p.road_id, p.lane_id, p.s_m), distance_m, turns)
        return lane_point(wp) if wp is not None else None

    def walk(self, start: LanePoint, distance_m: float, turns: Sequence[Turn] = (), step_m: float = 1.0,
             backwards: bool = False) -> list[LanePoint]:
        """Points every step_m after `start` (not included) along the direction of travel (against
        it with `backwards`), up to distance_m or where the lane ends. Each of `turns` is used up
        where the lane branches at a junction entry, so the walk follows a route through several."""
        pending = list(turns)
        points: list[LanePoint] = []
        p = start
        for _ in range(int(distance_m / step_m)):
            q = self.advance(p, -step_m if backwards else step_m, pending[:1])
            if q is None:
                break
            if pending and not backwards and p.junction_id is None and q.junction_id is not None:
                if len(self.successors(p, step_m)) > 1:
                    pending.pop(0)
            points.append(q)
            p = q
        return points

    def successors(self, p: LanePoint, step_m: float = 2.0) -> list[tuple[Turn, LanePoint]]:
        """The branch options `step_m` ahead of p, each with the turn it makes."""
        options = travel.successors(self._waypoint(p.road_id, p.lane_id, p.s_m), step_m)
        return [(turn, lane_point(wp)) for turn, wp in options]

    def junctions(self) -> list[Junction]:
        return list(self._junctions)

    def crosswalks(self) -> tuple[Crosswalk, ...]:
        """The map's crosswalks (outline, centre, road, crossing axis and kerb ends); cached."""
        return self._crosswalks

    # --- areas --------------------------------------------------------------------------------

    def lane_polygon(self, road_id: int, lane_id: int) -> shapely.Polygon | shapely.MultiPolygon:
        """The lane's outline over every section where the lane id exists (a MultiPolygon only if
        those sections are not contiguous)."""
        import shapely  # lazily: ~75 ms, and most compiles never need outlines

        from edgecase.roads import polygons

        road = self.xodr.roads.get(road_id)
        runs = polygons.lane_runs(road, lane_id) if road is not None and lane_id != 0 else []
        if not runs:
            raise InputError(f"map {self.name!r} has no lane {lane_id} on road {road_id}")
        return shapely.union_all([self._ribbon(road_id, lane_id, *run) for run in runs])

    def area(self, kind: LaneKind) -> BaseGeometry:
        """The union of all lanes of that kind (prepared for fast point queries); cached."""
        if ("area", kind) not in self._outlines:
            import shapely

            from edgecase.roads import polygons

            parts = [
                self._ribbon(ref.road_id, ref.lane_id, *run)
                for ref in self.lanes(kind)
                for run in polygons.lane_runs(self.xodr.roads[ref.road_id], ref.lane_id, kind.value)
            ]
            union = shapely.union_all(parts)
            shapely.prepare(union)
            self._outlines["area", kind] = union
        return self._outlines["area", kind]

    def contains(self, x_m: float, y_m: float, kind: LaneKind) -> bool:
        import shapely

        return bool(shapely.contains_xy(self.area(kind), x_m, y_m))

    # --- internals ----------------------------------------------------------------------------

    def _waypoint(self, road_id: int, lane_id: int, s_m: float) -> carla.Waypoint:
        """carla's waypoint, or InputError naming what does not exist (carla itself just says None,
        and crashes on a query of the centre lane 0)."""
        road = self.xodr.roads.get(road_id)
        if road is None:
            raise InputError(f"map {self.name!r} has no road {road_id}")
        if not (-1e-3 <= s_m <= road.length_m + 1e-3):  # also False for NaN
            raise InputError(f"s={s_m:g} m is off road {road_id} of map {self.name!r} (0 to {road.length_m:.2f} m)")
        lanes_here = road.lane_ids_at(s_m)
        wp = None
        if lane_id != 0 and lane_id in lanes_here:
            wp = self.carla_map.get_waypoint_xodr(road_id, lane_id, min(max(s_m, 0.0), road.last_s_m))
        if wp is None:
            there = ", ".join(str(i) for i in sorted(lanes_here) if i != 0) or "none"
            raise InputError(
                f"road {road_id} of map {self.name!r} has no lane {lane_id} at s={s_m:g} m",
                hint=f"lanes there: {there}",
            )
        return wp

    def _ribbon(self, road_id: int, lane_id: int, s_start_m: float, s_end_m: float) -> BaseGeometry:
        from edgecase.roads import polygons

        key = ("ribbon", road_id, lane_id, s_start_m, s_end_m)
        if key not in self._outlines:
            road = self.xodr.roads[road_id]
            self._outlines[key] = polygons.ribbon(self.carla_map, road, lane_id, s_start_m, s_end_m)
        return self._outlines[key]

    @functools.cached_property
    def _lane_refs(self) -> dict[LaneKind, list[LaneRef]]:
        refs: dict[LaneKind, list[LaneRef]] = {}
        for road in sorted(self.xodr.roads.values(), key=lambda r: r.id):
            ends = [s.s_m for s in road.sections[1:]] + [road.length_m]
            lengths: dict[tuple[int, LaneKind], float] = {}
            for section, end_m in zip(road.sections, ends):
                for lane in section.lanes.values():
                    if lane.id != 0 and lane.type in _KIND_NAMES:
                        key = (lane.id, LaneKind(lane.type))
                        lengths[key] = lengths.get(key, 0.0) + max(0.0, end_m - section.s_m)
            junction_id = road.junction_id if road.junction_id != -1 else None
            for (lane_id, kind), length_m in sorted(lengths.items()):
                refs.setdefault(kind, []).append(LaneRef(road.id, lane_id, kind, length_m, junction_id))
        return refs

    @functools.cached_property
    def _crosswalks(self) -> tuple[Crosswalk, ...]:
        return list_crosswalks(self)

    @functools.cached_property
    def _junctions(self) -> tuple[Junction, ...]:
        return tuple(list_junctions(self.xodr, self.carla_map))


_KIND_NAMES = {kind.value for kind in LaneKind}


def _side(side: str) -> Side:
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    return side  # type: ignore[return-value]


CARLA_MAPS_ENV = "EDGECASE_CARLA_MAPS"


def _map_file(source: str, base_dir: Path | None) -> tuple[Path, os.stat_result]:
    path = ((base_dir or Path.cwd()) / Path(source).expanduser()).resolve()
    try:
        stat = path.stat()
    except OSError:
        raise InputError(f"map file not found: {path}") from None
    if not path.is_file():
        raise InputError(f"map path is not a file: {path}")
    if stat.st_size > MAX_XODR_BYTES:
        raise InputError(f"map file {path} is over {MAX_XODR_BYTES // 2**20} MB")
    return path, stat


@functools.lru_cache(maxsize=None)
def _load_builtin(name: str) -> RoadNetwork:
    builtin_map(name)  # InputError with a did-you-mean for an unknown name
    return _build(name, f"builtin:{name}", builtin_xodr(name))


def _load_town(town: str) -> RoadNetwork:
    """'carla:TownXX': the town a CARLA server loads by name. Planning needs its roads offline, so
    they are read from TownXX.xodr in $EDGECASE_CARLA_MAPS (e.g. a copy of the server's
    CarlaUE4/Content/Carla/Maps/OpenDrive folder); the network keeps 'carla:TownXX' as its source,
    so plans name the town and the carla backend loads it by name."""
    folder = os.environ.get(CARLA_MAPS_ENV)
    if not folder:
        raise InputError(f"map 'carla:{town}' is a CARLA town: planning needs its OpenDRIVE file",
                         hint=f"set {CARLA_MAPS_ENV} to a folder holding {town}.xodr (CARLA ships them in "
                              "CarlaUE4/Content/Carla/Maps/OpenDrive/), or write the .xodr path as the map")
    path = Path(folder) / f"{town}.xodr"
    if not path.is_file():
        found = sorted(p.stem for p in Path(folder).glob("*.xodr"))
        raise InputError(f"no {town}.xodr in {CARLA_MAPS_ENV}={folder}",
                         hint=f"towns there: {', '.join(found)}" if found else "the folder has no .xodr files")
    stat = path.stat()
    network = _load_file(str(path), stat.st_mtime_ns, stat.st_size)
    return _town(network, town)


@functools.lru_cache(maxsize=16)
def _town(network: RoadNetwork, town: str) -> RoadNetwork:
    return RoadNetwork(town, f"carla:{town}", network.xodr_text, network.carla_map, network.xodr)


@functools.lru_cache(maxsize=None)
def _load_file(path: str, mtime_ns: int, size: int) -> RoadNetwork:
    """Keyed by modification time and size too, so an edited file is read again."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; expected an OpenDRIVE .xodr file") from None
    except OSError as e:
        raise InputError(f"cannot read map file {path}: {e.strerror}") from None
    return _build(Path(path).stem, path, text)


def _build(name: str, source: str, text: str) -> RoadNetwork:
    xodr = read_xodr(text, source)  # first: carla.Map segfaults on some broken references
    if not xodr.roads:
        raise InputError(f"{source}: the OpenDRIVE file has no roads")
    try:
        carla_map = carla.Map(name, text)
    except (RuntimeError, IndexError) as e:
        raise InputError(f"{source}: carla cannot load this map: {e}") from None
    return RoadNetwork(name=name, source=source, xodr_text=text, carla_map=carla_map, xodr=xodr)
