"""Read OpenDRIVE text into plain tables, refusing what would crash carla.Map.

carla 0.9.16's parser trusts its input: a lane <link> to a lane id that does not exist, a road in a
junction that does not exist, or a <signalReference>/<control> naming a missing signal dereference a
null pointer and kill the whole process (segfault), where no Python `except` can help. So every
reference carla follows is checked here first, the way carla follows it (MapBuilder::GetLaneNext):
lanes with id <= 0 follow their successor, lanes with id > 0 their predecessor; a link in a middle
section points into a later (earlier) section of the same road; at a road's end it points into any
section of the linked road, or through the junction's <connection>s when no road has that id. A
missing <link> reads as element 0 and a missing `junction` attribute as junction 0, as in carla.

The tables are also what RoadNetwork answers lane-structure questions from (lanes(), junctions()).
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from edgecase.errors import InputError

MAX_XODR_BYTES = 50 * 1024 * 1024
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LaneInfo:
    id: int
    type: str  # lower case, as carla compares it
    predecessor: int  # lane id, 0 = no link (carla's convention)
    successor: int


@dataclass(frozen=True, slots=True)
class SectionInfo:
    s_m: float
    lanes: Mapping[int, LaneInfo]  # by lane id, centre lane 0 included


@dataclass(frozen=True, slots=True)
class RoadInfo:
    id: int
    length_m: float
    junction_id: int  # -1 outside junctions
    predecessor: int  # element id: a road if one has this id, else a junction (as carla decides)
    successor: int
    sections: tuple[SectionInfo, ...]  # sorted by s

    @property
    def last_s_m(self) -> float:
        """The largest s carla answers for: it takes s as float32 and returns None at s >= length."""
        return self.length_m - max(1e-3, 1e-6 * self.length_m)

    def lane_ids_at(self, s_m: float) -> set[int]:
        """Lane ids of every section that holds s; at a boundary both sections count, as in carla."""
        ids: set[int] = set()
        ends = [section.s_m for section in self.sections[1:]] + [self.length_m]
        for section, end_m in zip(self.sections, ends):
            if section.s_m - 1e-3 <= s_m <= end_m + 1e-3:
                ids.update(section.lanes)
        return ids


@dataclass(frozen=True, slots=True)
class Connection:
    incoming_road: int
    connecting_road: int
    lane_links: tuple[tuple[int, int], ...]  # (from lane, to lane)


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """A <signal>, or a <signalReference> placing an existing signal on another road (type "")."""

    id: str
    road_id: int
    type: str
    validity: tuple[tuple[int, int], ...]  # (fromLane, toLane) ranges
    is_reference: bool = False


@dataclass(frozen=True, slots=True)
class Xodr:
    roads: Mapping[int, RoadInfo]
    junctions: Mapping[int, tuple[Connection, ...]]
    signals: tuple[SignalInfo, ...]


def read_xodr(text: str, source: str) -> Xodr:
    """Parse and check `text`; InputError (naming `source`) for anything carla would choke on."""
    if len(text) > MAX_XODR_BYTES:
        raise InputError(f"{source}: the map is over {MAX_XODR_BYTES // 2**20} MB")
    if _DECLARATION.search(text):
        raise InputError(f"{source}: DOCTYPE and ENTITY declarations are not allowed in a map")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        line, col = e.position
        raise InputError(
            f"{source}:{line}:{col + 1}: not well-formed XML", hint="pass an OpenDRIVE .xodr file"
        ) from None
    if root.tag != "OpenDRIVE":
        raise InputError(f"{source}: not OpenDRIVE (the root element is <{root.tag}>, not <OpenDRIVE>)")
    try:
        roads = [_road(road) for road in root.iterfind("road")]
        junctions = [(_int(j, "id"), _connections(j)) for j in root.iterfind("junction")]
        xodr = Xodr(roads={r.id: r for r in roads}, junctions=dict(junctions), signals=tuple(_signals(root)))
    except ValueError as e:
        raise InputError(f"{source}: {e}") from None
    problems = itertools.chain(
        _duplicates("road", [r.id for r in roads]),
        _duplicates("junction", [j for j, _ in junctions]),
        _problems(root, xodr),
    )
    problem = next(problems, None)  # the first is enough: fixing it may fix the rest
    if problem:
        raise InputError(f"{source}: {problem}", hint="carla cannot load this map; fix the OpenDRIVE file")
    return xodr


def _int(element: ET.Element, name: str, default: int | None = None) -> int:
    value = element.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"<{element.tag}> {name}={value!r} is not an integer") from None


def _float(element: ET.Element, name: str) -> float:
    try:
        value = float(element.get(name, "0"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"<{element.tag}> {name}={element.get(name)!r} is not a finite number")
    return value


def _link(parent: ET.Element | None, which: str, attribute: str) -> int:
    node = parent.find(which) if parent is not None else None
    return _int(node, attribute) if node is not None else 0


def _road(element: ET.Element) -> RoadInfo:
    link = element.find("link")
    sections = [_section(element, section) for section in element.iterfind("lanes/laneSection")]
    length_m = _float(element, "length")
    _check_plan_view(element, length_m)
    return RoadInfo(
        id=_int(element, "id"),
        length_m=length_m,
        junction_id=_int(element, "junction", default=0),
        predecessor=_link(link, "predecessor", "elementId"),
        successor=_link(link, "successor", "elementId"),
        sections=tuple(sorted(sections, key=lambda section: section.s_m)),
    )


_SHAPES = {"line", "arc", "spiral", "poly3", "paramPoly3"}


def _check_plan_view(road: ET.Element, length_m: float) -> None:
    """carla segfaults on a road without geometry or lane offset from s=0, and raises on length <= 0."""
    where = f"road {road.get('id')}"
    if length_m <= 0:
        raise ValueError(f"{where}: length must be positive, not {length_m:g}")
    geometries = road.findall("planView/geometry")
    if not geometries:
        raise ValueError(f"{where}: <planView> has no <geometry>")
    for geometry in geometries:
        for name in ("s", "x", "y", "hdg", "length"):
            _float(geometry, name)
        if not any(child.tag in _SHAPES for child in geometry):
            raise ValueError(f"{where}: a <geometry> has no shape (one of {', '.join(sorted(_SHAPES))})")
    if min(_float(g, "s") for g in geometries) > 0:
        raise ValueError(f"{where}: the first <geometry> must start at s=0")
    offsets = road.findall("lanes/laneOffset")
    if offsets and min(_float(o, "s") for o in offsets) > 0:
        raise ValueError(f"{where}: the first <laneOffset> must start at s=0")
    for crosswalk in road.iterfind("objects/object[@type='crosswalk']"):
        if not 0 <= _float(crosswalk, "s") <= length_m:
            raise ValueError(f"{where}: a crosswalk at s={crosswalk.get('s')} lies outside the road")


def _section(road: ET.Element, element: ET.Element) -> SectionInfo:
    """A lane section; carla fails on duplicate lane ids or a gap (-1, -3) with IndexError "map::at"."""
    section = SectionInfo(_float(element, "s"), {lane.id: lane for lane in map(_lane, element.iterfind("*/lane"))})
    ids = sorted(section.lanes)
    if 0 not in section.lanes or ids != list(range(ids[0], ids[-1] + 1)) or len(ids) != len(element.findall("*/lane")):
        where = f"road {road.get('id')}, lane section at s={section.s_m:g}"
        raise ValueError(f"{where}: lane ids must run without gaps or repeats through the centre lane 0, not {ids}")
    return section


def _lane(element: ET.Element) -> LaneInfo:
    link = element.find("link")
    width = element.find("width")
    if width is not None and _float(width, "sOffset") > 0:  # carla: "info != nullptr" on every query
        raise ValueError(f"lane {element.get('id')}: its first <width> must start at sOffset=0")
    return LaneInfo(
        id=_int(element, "id"),
        type=element.get("type", "none").lower(),
        predecessor=_link(link, "predecessor", "id"),
        successor=_link(link, "successor", "id"),
    )


def _connections(junction: ET.Element) -> tuple[Connection, ...]:
    return tuple(
        Connection(
            incoming_road=_int(c, "incomingRoad"),
            connecting_road=_int(c, "connectingRoad"),
            lane_links=tuple((_int(k, "from"), _int(k, "to")) for k in c.iterfind("laneLink")),
        )
        for c in junction.iterfind("connection")
    )


def _signals(root: ET.Element) -> Iterator[SignalInfo]:
    for road in root.iterfind("road"):
        for signal in road.iterfind("signals/*"):
            if signal.tag in ("signal", "signalReference"):
                yield SignalInfo(
                    id=signal.get("id", ""),
                    road_id=_int(road, "id"),
                    type=signal.get("type", ""),
                    validity=tuple((_int(v, "fromLane"), _int(v, "toLane")) for v in signal.iterfind("validity")),
                    is_reference=signal.tag == "signalReference",
                )


def _problems(root: ET.Element, xodr: Xodr) -> Iterator[str]:
    """Every reference carla dereferences without checking; the first one found is reported."""
    for road in xodr.roads.values():
        if road.junction_id != -1 and road.junction_id not in xodr.junctions:
            yield (
                f"road {road.id} belongs to junction {road.junction_id}, which does not exist "
                '(a road outside junctions needs junction="-1")'
            )
    for junction_id, connections in xodr.junctions.items():
        for c in connections:
            for end in (c.incoming_road, c.connecting_road):
                if end not in xodr.roads:
                    yield f"junction {junction_id}: a connection names road {end}, which does not exist"
    yield from _lane_link_problems(xodr)
    signal_ids = {signal.id for signal in xodr.signals if not signal.is_reference}
    for reference in xodr.signals:
        if reference.is_reference and reference.id not in signal_ids:
            yield f"road {reference.road_id}: a <signalReference> names signal {reference.id!r}, which does not exist"
    controller_ids = {c.get("id", "") for c in root.iterfind("controller")}
    for control in root.iterfind("controller/control"):
        if control.get("signalId", "") not in signal_ids:
            yield f"a <controller> names signal {control.get('signalId')!r}, which does not exist"
    for junction in root.iterfind("junction"):
        for controller in junction.iterfind("controller"):
            if controller.get("id", "") not in controller_ids:
                yield f"junction {junction.get('id')} names controller {controller.get('id')!r}, which does not exist"


def _duplicates(what: str, ids: list[int]) -> Iterator[str]:
    seen: set[int] = set()
    for i in ids:
        if i in seen:
            yield f"two {what}s have id {i}"
        seen.add(i)


def _lane_link_problems(xodr: Xodr) -> Iterator[str]:
    """Follow each lane's link the way carla's MapBuilder::GetLaneNext does."""
    for road in xodr.roads.values():
        for section in road.sections:
            for lane in section.lanes.values():
                forward = lane.id <= 0  # carla: lanes <= 0 follow successors, lanes > 0 predecessors
                target = lane.successor if forward else lane.predecessor
                if target == 0 and lane.id != 0:
                    continue  # no link (carla follows the centre lane 0 always)
                onward = [t for t in road.sections if (t.s_m > section.s_m if forward else t.s_m < section.s_m)]
                linked = road.successor if forward else road.predecessor
                where = f"road {road.id} lane {lane.id} (section at s={section.s_m:g}) links to lane {target}"
                if onward if forward else section.s_m > 0:  # carla's own (asymmetric) test for "mid-road"
                    if not any(target in t.lanes for t in onward):
                        yield f"{where}, which the road's {'following' if forward else 'preceding'} sections lack"
                elif linked in xodr.roads:
                    if not any(target in t.lanes for t in xodr.roads[linked].sections):
                        yield f"{where}, which road {linked} does not have"
                else:
                    yield from _junction_link_problems(xodr, road.id, lane.id, linked)


def _junction_link_problems(xodr: Xodr, road_id: int, lane_id: int, junction_id: int) -> Iterator[str]:
    for c in xodr.junctions.get(junction_id, ()):
        if c.incoming_road != road_id or c.connecting_road not in xodr.roads:
            continue
        targets = [0] if lane_id == 0 else [to for frm, to in c.lane_links if frm == lane_id]
        for to in targets:
            if not any(to in t.lanes for t in xodr.roads[c.connecting_road].sections):
                yield (
                    f"junction {junction_id} links road {road_id} lane {lane_id} to lane {to} "
                    f"of road {c.connecting_road}, which does not exist"
                )
