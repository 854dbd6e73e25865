"""The builtin maps, built with roadgen (imported only when a builtin map is first built).

Each builder is a few roadgen calls (see shared/docs/maps-notes.md for the measured facts behind
them). roadgen output is deterministic, so the same name always gives the same bytes.

OpenDRIVE frame here (x east, y north, right-handed); CARLA shows y flipped. roadgen lane lists
stack outwards per side in list order: "forward" lanes become ids -1, -2, ... (right of the
reference line, driving towards increasing s), "backward" lanes 1, 2, ....
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import roadgen as rg


def build(name: str) -> str:
    """The OpenDRIVE text of builtin map `name`, ready for carla.Map."""
    m = BUILDERS[name]()
    m.validate()
    return fix_widths(m.to_opendrive_xml())


def _side(drive_m: float, *outer: tuple[float, str], direction: str, centre: bool = False) -> list[rg.Lane]:
    """One side of a two-way road: a driving lane, then `outer` (width, type) lanes outwards."""
    marking = {"left_marking": "broken", "marking_color": "yellow"} if centre else {}
    lanes = [rg.Lane(drive_m, direction, **marking)]
    return lanes + [rg.Lane(w, direction, type_=t) for w, t in outer]


def _two_way(drive_m: float, *outer: tuple[float, str]) -> list[rg.Lane]:
    return _side(drive_m, *outer, direction="backward") + _side(drive_m, *outer, direction="forward", centre=True)


def _urban_straight() -> rg.Map:
    m = rg.Map(name="urban_straight")
    lanes = _two_way(3.5, (2.5, "parking"), (2.0, "sidewalk"))
    road = m.add_road(lanes, start=(0, 0, 0), end=(400, 0, 0), speed_limit_kph=50)
    m.add_crosswalk(road, fraction=0.5, width=4.0)
    return m


def _arms(m: rg.Map, angles_rad: tuple[float, ...]) -> list[rg.Road]:
    """Straight 136 m arms, each ending 14 m from the origin and pointing at it (end = junction)."""
    return [
        m.add_road(
            _two_way(3.5, (2.0, "sidewalk")),
            start=(150 * math.cos(a), 150 * math.sin(a), 0),
            end=(14 * math.cos(a), 14 * math.sin(a), 0),
            speed_limit_kph=50,
        )
        for a in angles_rad
    ]


def _connect_all(m: rg.Map, arms: list[rg.Road]) -> None:
    """Every movement between every pair of arms (left, straight, right), plus sidewalk corners."""
    junction = m.add_junction("x")
    for a, b in itertools.combinations(arms, 2):
        m.connect(a, b, junction=junction, ends=("end", "end"))


def _junction4() -> rg.Map:
    m = rg.Map(name="junction4")
    arms = _arms(m, (0.0, math.pi / 2, math.pi, 1.5 * math.pi))
    _connect_all(m, arms)
    for road in arms:
        inbound = road.lane(2)  # the forward driving lane, the one that enters the junction
        stop_line = m.add_stop_line(inbound, setback=6.0)
        light = m.add_traffic_light(inbound, setback=6.0)
        m.add_traffic_light_rule([light], [inbound], stop_line=stop_line)
        m.add_crosswalk(road, fraction=133 / 136)  # 3 m before the junction mouth
    return m


def _t_junction() -> rg.Map:
    m = rg.Map(name="t_junction")
    east, west, south = _arms(m, (0.0, math.pi, 1.5 * math.pi))  # the through road runs east-west
    _connect_all(m, [east, west, south])
    m.add_traffic_sign(south.lane(2), code="206", setback=2.0)  # "206": carla's Stop sign
    m.add_crosswalk(south, fraction=133 / 136)
    return m


def _highway_merge() -> rg.Map:
    """Three lanes and a shoulder; an on-ramp joins an acceleration lane that tapers out."""
    m = rg.Map(name="highway_merge")

    def lane() -> rg.Lane:
        return rg.Lane(3.75, "forward", left_marking="broken", right_marking="broken")

    def shoulder() -> rg.Lane:
        return rg.Lane(2.5, "forward", type_="shoulder")

    # roadgen widths never reach 0: taper to 0.3 m, then drop the lane with a new cross-section
    accel = rg.Lane(3.75, "forward", width_profile=[(0, 3.75), (150, 3.75), (220, 0.3)], taper="smooth")
    d1, d2, d3, sh = lane(), lane(), lane(), shoulder()
    up = m.add_road([lane(), lane(), lane(), shoulder()], start=(0, 0, 0), end=(300, 0, 0), type_="motorway",
                    speed_limit_kph=120)
    down = m.add_road([d1, d2, d3, accel, sh], start=(320, 0, 0), end=(920, 0, 0), type_="motorway",
                      speed_limit_kph=120, cross_sections=[(220, [d1, d2, d3, sh])])
    ramp = _ramp(m)
    merge = m.add_junction("merge")
    m.connect(up, down, junction=merge)
    m.connect_lanes(ramp.lane(0), down.lane(3), junction=merge)  # the ramp joins the acceleration lane
    return m


def _ramp(m: rg.Map) -> rg.Road:
    """A 10-degree line, then an arc back to heading 0, ending at (300, -14) beside the main road."""
    heading_rad, radius_m, line_m = math.radians(10), 300.0, 100.0
    dx = line_m * math.cos(heading_rad) + radius_m * math.sin(heading_rad)
    dy = line_m * math.sin(heading_rad) + radius_m * (1 - math.cos(heading_rad))
    alignment = rg.Alignment((300 - dx, -14 - dy, 0), heading_rad)
    alignment.line(line_m)
    alignment.arc(radius_m * heading_rad, curvature=-1 / radius_m)
    return m.add_road([rg.Lane(3.75, "forward")], alignment=alignment, speed_limit_kph=80)


def _curve() -> rg.Map:
    """150 m straight, a 90-degree left bend of radius 35 m (lane -1 at 36.75 m), 150 m straight."""
    m = rg.Map(name="curve")
    alignment = rg.Alignment((0, 0, 0), 0.0)
    alignment.line(150)
    alignment.arc(35 * math.pi / 2, curvature=1 / 35)
    alignment.line(150)
    m.add_road(_two_way(3.5, (2.5, "shoulder")), alignment=alignment, speed_limit_kph=60)
    return m


BUILDERS = {
    "urban_straight": _urban_straight,
    "junction4": _junction4,
    "t_junction": _t_junction,
    "highway_merge": _highway_merge,
    "curve": _curve,
}


def fix_widths(xml: str) -> str:
    """Insert the constant width record at sOffset=0 that roadgen 0.41 omits before a width_profile.

    Without it carla raises "info != nullptr": a lane's first <width> must start at sOffset 0.
    Text without such lanes is returned unchanged (byte for byte).
    """
    root = ET.fromstring(xml)
    changed = False
    for lane in root.iter("lane"):
        widths = lane.findall("width")
        if widths and float(widths[0].get("sOffset", "0")) > 0:
            first = ET.Element("width", a=widths[0].get("a", "0"), b="0", c="0", d="0", sOffset="0")
            lane.insert(list(lane).index(widths[0]), first)
            changed = True
    return ET.tostring(root, encoding="unicode") if changed else xml
