"""The CARLA 0.9.16 blueprints edgecase can spawn, with their exact bounding-box sizes.

Both back ends read sizes from here: the CARLA bridge to pick blueprints, the embedded CPU simulator
to give each actor the box CARLA would give it. The table is data
(`data/blueprints_carla_0.9.16.json`): sizes are CARLA's own `actor.bounding_box.extent` (times two)
measured on a running 0.9.16 server, as published by Scenic; classes and attributes come from
CARLA's 0.9.16 catalogues. The file names its sources at the top, and every row says in `source`
where its values came from and which of them are estimates.

    >>> bp = catalog().get("vehicle.lincoln.mkz_2020")
    >>> round(bp.length_m, 3), round(bp.extent_x_m, 3)
    (4.892, 2.446)
    >>> [b.id for b in catalog().match("vehicle.*", classes={ActorClass.BUS})]
    ['vehicle.mitsubishi.fusorosa']

`match` uses shell wildcards on the id only (`*`, `?`, `[seq]`), case-sensitively. CARLA's own
`BlueprintLibrary.filter` also matches tags, so `filter("vehicle.*")` includes motorcycles and
bicycles; pass `classes=` to ask for four-wheelers (or cars, or walkers) only.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import json
import math
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

from edgecase.errors import InputError, SourcePos

CARLA_VERSION = "0.9.16"
DATA_FILE = "blueprints_carla_0.9.16.json"


class ActorClass(str, Enum):
    """What an actor is, for planning: CARLA's vehicle `base_type` plus walkers and props."""

    CAR = "car"
    VAN = "van"
    TRUCK = "truck"
    BUS = "bus"
    MOTORCYCLE = "motorcycle"
    BICYCLE = "bicycle"
    PEDESTRIAN = "pedestrian"
    PROP = "prop"

    def __str__(self) -> str:
        return self.value


FOUR_WHEELERS: frozenset[ActorClass] = frozenset({ActorClass.CAR, ActorClass.VAN, ActorClass.TRUCK, ActorClass.BUS})
TWO_WHEELERS: frozenset[ActorClass] = frozenset({ActorClass.MOTORCYCLE, ActorClass.BICYCLE})
VEHICLES: frozenset[ActorClass] = FOUR_WHEELERS | TWO_WHEELERS


class SemanticTag(IntEnum):
    """The CARLA 0.9.14+ `CityObjectLabel` values this catalogue uses (LibCarla rpc/ObjectLabel.h)."""

    VEGETATION = 9
    PEDESTRIANS = 12
    CAR = 14
    TRUCK = 15
    BUS = 16
    MOTORCYCLE = 18
    BICYCLE = 19
    STATIC = 20
    DYNAMIC = 21


#: The semantic tags an actor of each class may carry. Vans and emergency cars are Car in CARLA.
CLASS_TAGS: dict[ActorClass, frozenset[int]] = {
    ActorClass.CAR: frozenset({SemanticTag.CAR}),
    ActorClass.VAN: frozenset({SemanticTag.CAR}),
    ActorClass.TRUCK: frozenset({SemanticTag.TRUCK}),
    ActorClass.BUS: frozenset({SemanticTag.BUS}),
    ActorClass.MOTORCYCLE: frozenset({SemanticTag.MOTORCYCLE}),
    ActorClass.BICYCLE: frozenset({SemanticTag.BICYCLE}),
    ActorClass.PEDESTRIAN: frozenset({SemanticTag.PEDESTRIANS}),
    ActorClass.PROP: frozenset({SemanticTag.STATIC, SemanticTag.DYNAMIC, SemanticTag.VEGETATION}),
}

_ID_PREFIX: dict[ActorClass, str] = {
    **{c: "vehicle." for c in VEHICLES},
    ActorClass.PEDESTRIAN: "walker.pedestrian.",
    ActorClass.PROP: "static.prop.",
}
_SOURCE_KINDS = ("scenic", "carla-docs", "estimate: ")


@dataclass(frozen=True, slots=True)
class Blueprint:
    """One CARLA blueprint. Sizes are full sizes in metres: length along x (forward), width along y."""

    id: str
    actor_class: ActorClass
    length_m: float
    width_m: float
    height_m: float
    wheelbase_m: float | None  # vehicles and two-wheelers only; an estimate (CARLA publishes none)
    semantic_tag: int  # CityObjectLabel, see SemanticTag
    is_child: bool  # walkers whose CARLA `age` is child
    special_type: str  # CARLA attribute: '', 'emergency', 'taxi', 'electric'
    generation: int  # CARLA attribute (1, 2, ...); 0 for props
    source: str  # '; '-separated: 'scenic', 'carla-docs', 'estimate: <why>'
    base_type: str = ""  # CARLA attribute as the 0.9.16 server reports it; '' for walkers and props

    @property
    def extent_x_m(self) -> float:
        """Half the length: CARLA's `bounding_box.extent.x`."""
        return self.length_m / 2.0

    @property
    def extent_y_m(self) -> float:
        """Half the width: CARLA's `bounding_box.extent.y`."""
        return self.width_m / 2.0

    @property
    def extent_z_m(self) -> float:
        """Half the height: CARLA's `bounding_box.extent.z`."""
        return self.height_m / 2.0

    @property
    def is_vehicle(self) -> bool:
        """True for everything CARLA spawns as `vehicle.*`, two-wheelers included."""
        return self.actor_class in VEHICLES

    @property
    def is_two_wheeler(self) -> bool:
        return self.actor_class in TWO_WHEELERS

    @property
    def estimates(self) -> tuple[str, ...]:
        """The reasons given for every estimated (unpublished) value of this blueprint."""
        return tuple(part for part in _source_parts(self.source) if part.startswith("estimate: "))


def _source_parts(source: str) -> list[str]:
    return [part.strip() for part in source.split(";") if part.strip()]


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        # 'model3' or 'tesla.model3' are still a clear intent
        close = sorted(c for c in choices if len(word) >= 3 and c.endswith(word))[:1]
    return f"did you mean '{close[0]}'?" if close else None


def _as_classes(classes: Collection[ActorClass | str]) -> frozenset[ActorClass]:
    if isinstance(classes, (str, ActorClass)):
        classes = [classes]
    out = set()
    for c in classes:
        try:
            out.add(ActorClass(c))
        except ValueError:
            known = [a.value for a in ActorClass]
            raise InputError(
                f"unknown actor class '{c}'",
                hint=_suggest(str(c), known) or "expected one of: " + ", ".join(known),
            ) from None
    return frozenset(out)


class Catalog:
    """An immutable, id-sorted set of blueprints; iterate it, or look blueprints up by id or wildcard."""

    __slots__ = ("_by_id", "_ids", "version", "sources")

    def __init__(self, blueprints: Iterable[Blueprint], version: str = CARLA_VERSION, sources: tuple[Any, ...] = ()):
        by_id: dict[str, Blueprint] = {}
        for bp in blueprints:
            if bp.id in by_id:
                raise InputError(f"blueprint '{bp.id}' is listed twice")
            by_id[bp.id] = bp
        self._ids: tuple[str, ...] = tuple(sorted(by_id))
        self._by_id = {i: by_id[i] for i in self._ids}
        self.version = version
        self.sources = sources

    def get(self, blueprint_id: str) -> Blueprint:
        """The blueprint with exactly this id; an unknown id is an InputError that suggests the closest one."""
        if not isinstance(blueprint_id, str):
            raise InputError(f"a blueprint id must be a string, not {type(blueprint_id).__name__}")
        try:
            return self._by_id[blueprint_id]
        except KeyError:
            raise InputError(
                f"unknown CARLA {self.version} blueprint '{blueprint_id}'",
                hint=_suggest(blueprint_id, self._ids) or "list them with e.g. match('vehicle.*')",
            ) from None

    def match(self, pattern: str, classes: Collection[ActorClass | str] | None = None) -> tuple[Blueprint, ...]:
        """Blueprints whose id matches the shell wildcard `pattern` (and whose class is in `classes`), by id.

        No match is an InputError: a scenario that names actors nobody can spawn is a mistake.
        """
        if not isinstance(pattern, str) or not pattern:
            raise InputError(f"a blueprint pattern must be a non-empty string, not {pattern!r}")
        wanted = None if classes is None else _as_classes(classes)
        by_pattern = [self._by_id[i] for i in self._ids if fnmatch.fnmatchcase(i, pattern)]
        found = tuple(bp for bp in by_pattern if wanted is None or bp.actor_class in wanted)
        if found:
            return found
        of_class = "" if wanted is None else " of class " + "/".join(sorted(c.value for c in wanted))
        message = f"no CARLA {self.version} blueprint{of_class} matches '{pattern}'"
        if by_pattern:  # the pattern is fine, the class filter removed everything
            others = sorted({bp.actor_class.value for bp in by_pattern})
            raise InputError(message, hint=f"it matches {len(by_pattern)} of class {'/'.join(others)}")
        raise InputError(message, hint=_suggest(pattern, self._ids) or "wildcards are *, ? and [seq]; e.g. 'vehicle.*'")

    def __contains__(self, blueprint_id: object) -> bool:
        return blueprint_id in self._by_id

    def __iter__(self) -> Iterator[Blueprint]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"<Catalog CARLA {self.version}: {len(self)} blueprints>"


# -- loading and validating the data file ------------------------------------------------------

_ROW_KEYS = set(Blueprint.__dataclass_fields__)  # every field is required in the file


def _line_of(text: str, needle: str) -> int:
    at = text.find(needle)
    return 1 if at < 0 else text.count("\n", 0, at) + 1


def _check_row(row: Any, where: SourcePos) -> Blueprint:
    def bad(message: str) -> InputError:
        return InputError(message, pos=where)

    if not isinstance(row, dict):
        raise bad("each blueprint must be an object")
    missing, unknown = _ROW_KEYS - row.keys(), row.keys() - _ROW_KEYS
    if missing or unknown:
        parts = [f"missing {sorted(missing)}"] if missing else []
        parts += [f"unknown {sorted(unknown)}"] if unknown else []
        raise bad(f"blueprint {row.get('id', '?')!r}: " + ", ".join(parts))
    bid = row["id"]
    if not isinstance(bid, str) or not bid:
        raise bad("a blueprint id must be a non-empty string")
    try:
        cls = ActorClass(row["actor_class"])
    except ValueError:
        raise bad(f"{bid}: unknown actor_class {row['actor_class']!r}") from None
    if not bid.startswith(_ID_PREFIX[cls]):
        raise bad(f"{bid}: a {cls.value} id must start with '{_ID_PREFIX[cls]}'")
    for key in ("length_m", "width_m", "height_m"):
        v = row[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise bad(f"{bid}: {key} must be a positive number, not {v!r}")
    wb = row["wheelbase_m"]
    if cls in VEHICLES:
        if isinstance(wb, bool) or not isinstance(wb, (int, float)) or not 0 < wb < row["length_m"]:
            raise bad(f"{bid}: wheelbase_m must be positive and shorter than the vehicle, not {wb!r}")
    elif wb is not None:
        raise bad(f"{bid}: only vehicles have a wheelbase")
    tag = row["semantic_tag"]
    if isinstance(tag, bool) or tag not in CLASS_TAGS[cls]:
        raise bad(f"{bid}: semantic_tag {tag!r} does not fit a {cls.value} (expected {sorted(CLASS_TAGS[cls])})")
    if not isinstance(row["is_child"], bool) or (row["is_child"] and cls is not ActorClass.PEDESTRIAN):
        raise bad(f"{bid}: is_child must be a boolean, true only for walkers")
    gen = row["generation"]
    if isinstance(gen, bool) or not isinstance(gen, int) or (gen != 0 if cls is ActorClass.PROP else gen < 1):
        raise bad(f"{bid}: generation must be 0 for props and 1 or more otherwise, not {gen!r}")
    for key in ("special_type", "base_type", "source"):
        if not isinstance(row[key], str):
            raise bad(f"{bid}: {key} must be a string")
    parts = _source_parts(row["source"])
    if not parts or not all(p.startswith(_SOURCE_KINDS) for p in parts):
        raise bad(f"{bid}: source must be '; '-separated 'scenic' / 'carla-docs' / 'estimate: <why>' parts")
    return Blueprint(
        id=bid,
        actor_class=cls,
        length_m=float(row["length_m"]),
        width_m=float(row["width_m"]),
        height_m=float(row["height_m"]),
        wheelbase_m=None if wb is None else float(wb),
        semantic_tag=int(tag),
        is_child=row["is_child"],
        special_type=row["special_type"],
        generation=gen,
        source=row["source"],
        base_type=row["base_type"],
    )


def parse_catalog(text: str, file: str = DATA_FILE) -> Catalog:
    """A Catalog from the text of a blueprint JSON file, every row checked; bad data is an InputError."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", pos=SourcePos(file, exc.lineno, exc.colno)) from None
    top = SourcePos(file)
    if not isinstance(doc, dict):
        raise InputError("a blueprint catalogue must be a JSON object", pos=top)
    sources = doc.get("sources")
    if not isinstance(sources, list) or not sources or not all(
        isinstance(s, dict) and (s.get("url") or s.get("repo")) for s in sources
    ):
        raise InputError("a blueprint catalogue must name its sources (a list of objects with url or repo)", pos=top)
    rows = doc.get("blueprints")
    if not isinstance(rows, list) or not rows:
        raise InputError("a blueprint catalogue needs a non-empty 'blueprints' list", pos=top)
    blueprints = []
    for row in rows:
        rid = row.get("id") if isinstance(row, dict) else None
        where = SourcePos(file, _line_of(text, json.dumps(rid)) if isinstance(rid, str) else 1)
        blueprints.append(_check_row(row, where))
    try:
        return Catalog(blueprints, version=str(doc.get("carla_version", CARLA_VERSION)), sources=tuple(sources))
    except InputError as exc:
        raise InputError(exc.message, pos=top) from None


def load_catalog(path: str | Path) -> Catalog:
    """A Catalog from a blueprint JSON file of the packaged format (e.g. for a custom CARLA build)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read blueprint catalogue: {exc.strerror}", pos=SourcePos(str(path))) from None
    return parse_catalog(text, str(path))


@functools.cache
def catalog() -> Catalog:
    """The packaged CARLA 0.9.16 catalogue, loaded and validated once."""
    text = resources.files("edgecase.plan").joinpath("data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_catalog(text, DATA_FILE)
