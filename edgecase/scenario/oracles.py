"""The oracle functions an `expect:` line may call, with what they take and return.

The simulator implements them; the language only needs their signatures, so that a typo in an
oracle is an error at load time rather than an episode that silently 'passes'.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OracleSig:
    name: str
    actors: int  # how many actor arguments it takes (1 or 2)
    returns: str  # "number" or "bool"
    unit: str
    doc: str
    keywords: tuple[str, ...] = ()


ORACLES: dict[str, OracleSig] = {
    o.name: o
    for o in (
        OracleSig("collision", 2, "bool", "", "the two actors' boxes touched at some tick"),
        OracleSig("any_collision", 1, "bool", "", "the actor touched any other actor"),
        OracleSig("min_ttc_s", 2, "number", "s", "smallest constant-velocity time-to-collision (inf if never closing)", ("before", "after")),
        OracleSig("min_distance_m", 2, "number", "m", "smallest box-to-box distance", ("before", "after")),
        OracleSig("min_thw_s", 2, "number", "s", "smallest time headway of the first actor behind the second (gap / speed)", ("before", "after")),
        OracleSig("min_pet_s", 2, "number", "s", "post-encroachment time at the paths' conflict area"),
        OracleSig("max_visible_fraction", 1, "number", "", "largest visible share of the actor's box from the ego camera", ("before", "after")),
        OracleSig("max_decel_mps2", 1, "number", "m/s2", "hardest braking of the actor", ("before", "after")),
        OracleSig("lane_departure", 1, "bool", "", "the actor's box left its lane at some tick"),
        OracleSig("off_road", 1, "bool", "", "the actor's centre left the drivable area"),
        OracleSig("ran_red_light", 1, "bool", "", "the actor entered a junction on red"),
        OracleSig("started", 1, "bool", "", "the actor's first triggered behavior started"),
    )
}

ACTOR_TIMES = ("start", "end")
"""`child.start`: when the actor's first triggered behavior started; `.end`: when its last ended."""
