"""The builtin maps: what each one offers, and its OpenDRIVE text (built on first use, cached).

A scenario names one as `builtin:NAME`. The text is built by roadgen_maps (roadgen is imported
only then) and is deterministic: the same name gives the same bytes in every process, so a plan
compiled against `builtin:junction4` today matches one compiled tomorrow.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

from edgecase.errors import InputError, SourcePos
from edgecase.roads.values import LaneKind


@dataclass(frozen=True, slots=True)
class BuiltinMap:
    """What a scenario author needs to know about a builtin map before using it."""

    name: str
    summary: str
    lanes: tuple[LaneKind, ...]  # the lane kinds the map has


_D, _P, _W, _S = LaneKind.DRIVING, LaneKind.PARKING, LaneKind.SIDEWALK, LaneKind.SHOULDER
_CATALOG = {
    m.name: m
    for m in (
        BuiltinMap("urban_straight", "400 m two-way street, parking both sides, sidewalks, a mid-block crosswalk",
                   (_D, _P, _W)),
        BuiltinMap("junction4", "signalized 4-way junction, left/straight/right from every arm, crosswalks",
                   (_D, _W)),
        BuiltinMap("t_junction", "T junction, stop sign on the minor (south) arm, a crosswalk", (_D, _W)),
        BuiltinMap("highway_merge", "3-lane motorway, an on-ramp into a 220 m acceleration lane, shoulder",
                   (_D, _S)),
        BuiltinMap("curve", "two-lane road, a sharp 90-degree bend (R 35 m) that limits sight, shoulders",
                   (_D, _S)),
    )
}


def builtin_map_names() -> tuple[str, ...]:
    """The names `builtin:NAME` accepts, in a fixed order."""
    return tuple(_CATALOG)


def builtin_map(name: str, pos: SourcePos | None = None) -> BuiltinMap:
    """The description of a builtin map; InputError with a did-you-mean for an unknown name."""
    if name not in _CATALOG:
        close = difflib.get_close_matches(name, _CATALOG, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"builtin maps: {', '.join(_CATALOG)}"
        raise InputError(f"unknown builtin map {name!r}", pos=pos, hint=hint)
    return _CATALOG[name]


@functools.cache
def builtin_xodr(name: str) -> str:
    """The OpenDRIVE text of a builtin map (built once per process; same bytes every time)."""
    builtin_map(name)
    from edgecase.roads import roadgen_maps  # lazily: roadgen costs ~45 ms to import

    return roadgen_maps.build(name)
