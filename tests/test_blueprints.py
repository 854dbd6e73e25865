"""The CARLA 0.9.16 blueprint catalogue: the sizes CARLA gives actors, classes, lookup by id and wildcard.

Reference sizes are Scenic's measurement of `2 * actor.bounding_box.extent` on a CARLA 0.9.16 server
(BerkeleyLearnVerify/Scenic src/scenic/simulators/carla/_blueprintData.py, _DIMS['0.9.16'],
commit 164ad62f); children per CARLA's 0.9.16 pedestrian catalogue.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from edgecase.errors import InputError
from edgecase.plan.blueprints import (
    FOUR_WHEELERS,
    TWO_WHEELERS,
    ActorClass,
    Blueprint,
    SemanticTag,
    catalog,
    load_catalog,
    parse_catalog,
)

DATA = Path(__file__).resolve().parents[1] / "edgecase" / "plan" / "data" / "blueprints_carla_0.9.16.json"


def of(cls: ActorClass) -> list[Blueprint]:
    return [bp for bp in catalog() if bp.actor_class is cls]


# -- published sizes -----------------------------------------------------------------------------

# (length, width, height) in metres, as Scenic's _blueprintData.py publishes them for 0.9.16
PUBLISHED = {
    "vehicle.lincoln.mkz_2020": (4.89238166809082, 1.8367133140563965, 1.490277647972107),
    "vehicle.tesla.model3": (4.791779518127441, 2.163450002670288, 1.4876600503921509),
    "vehicle.mitsubishi.fusorosa": (10.272685050964355, 3.9441518783569336, 4.252848148345947),
    "vehicle.yamaha.yzf": (2.1907684803009033, 0.8659172654151917, 1.530381441116333),
    "walker.pedestrian.0001": (0.3753577768802643, 0.3753577768802643, 1.8600000143051147),
    "walker.pedestrian.0049": (0.5, 0.5, 1.100000023841858),
    "static.prop.constructioncone": (0.3440696597099304, 0.3440696597099304, 0.5857812166213989),
    "static.prop.trafficcone01": (0.8828125, 0.8821874856948853, 1.1332812309265137),
}


@pytest.mark.parametrize("blueprint_id", sorted(PUBLISHED))
def test_sizes_are_the_published_carla_bounding_boxes(blueprint_id):
    bp = catalog().get(blueprint_id)
    assert (bp.length_m, bp.width_m, bp.height_m) == pytest.approx(PUBLISHED[blueprint_id], abs=1e-9)


def test_extent_is_half_the_size_as_carla_reports_it():
    mkz = catalog().get("vehicle.lincoln.mkz_2020")
    assert (mkz.extent_x_m, mkz.extent_y_m, mkz.extent_z_m) == pytest.approx((2.44619, 0.91836, 0.74514), abs=1e-5)


# -- every blueprint is plausible for its class ---------------------------------------------------


def test_counts_per_class_cover_carla_0916():
    counts = {cls: len(of(cls)) for cls in ActorClass}
    assert counts == {
        ActorClass.CAR: 25, ActorClass.VAN: 4, ActorClass.TRUCK: 4, ActorClass.BUS: 1,
        ActorClass.MOTORCYCLE: 4, ActorClass.BICYCLE: 3, ActorClass.PEDESTRIAN: 52, ActorClass.PROP: 98,
    }  # fmt: skip


def test_the_vehicles_scenarios_name_exist_with_their_carla_attributes():
    c = catalog()
    expect = {  # id: (class, special_type, generation) per CARLA's 0.9.16 vehicle catalogue
        "vehicle.lincoln.mkz_2020": (ActorClass.CAR, "", 2),
        "vehicle.tesla.model3": (ActorClass.CAR, "electric", 1),
        "vehicle.dodge.charger_police_2020": (ActorClass.CAR, "emergency", 2),
        "vehicle.ford.crown": (ActorClass.CAR, "taxi", 2),
        "vehicle.ford.ambulance": (ActorClass.VAN, "emergency", 2),
        "vehicle.carlamotors.firetruck": (ActorClass.TRUCK, "emergency", 2),
        "vehicle.mitsubishi.fusorosa": (ActorClass.BUS, "", 2),
        "vehicle.yamaha.yzf": (ActorClass.MOTORCYCLE, "", 1),
        "vehicle.bh.crossbike": (ActorClass.BICYCLE, "", 1),
    }
    for bid, (cls, special, gen) in expect.items():
        bp = c.get(bid)
        assert (bp.actor_class, bp.special_type, bp.generation) == (cls, special, gen), bid


def test_every_size_is_positive_and_finite():
    for bp in catalog():
        assert 0 < bp.length_m < 25 and 0 < bp.width_m < 25 and 0 < bp.height_m < 25, bp.id


def test_cars_are_car_sized():
    for bp in of(ActorClass.CAR):
        # the Microlino is CARLA's one "Micro" class car: 2.2 m, a bubble car
        low = 2.0 if bp.id == "vehicle.micro.microlino" else 3.0
        assert low <= bp.length_m <= 6.0, bp.id
        assert 1.4 <= bp.width_m <= 2.4 and 1.2 <= bp.height_m <= 2.1, bp.id
        assert bp.length_m > bp.width_m


def test_big_vehicles_are_bigger_than_cars():
    cars, trucks = of(ActorClass.CAR), of(ActorClass.TRUCK)
    (bus,) = of(ActorClass.BUS)
    assert all(t.height_m > max(c.height_m for c in cars) for t in trucks)
    assert sum(t.length_m for t in trucks) / len(trucks) > max(c.length_m for c in cars)
    others = [bp for bp in catalog() if bp.is_vehicle and bp is not bus]
    assert bus.length_m > max(bp.length_m for bp in others) and bus.length_m > 9
    for van in of(ActorClass.VAN):
        assert 4.0 <= van.length_m <= 6.5 and van.height_m > 1.9, van.id


def test_two_wheelers_are_narrow():
    for bp in of(ActorClass.MOTORCYCLE) + of(ActorClass.BICYCLE):
        assert bp.width_m < 1.0 and 1.4 < bp.length_m < 2.5 and bp.is_two_wheeler, bp.id


def test_walkers_are_narrow_and_children_are_shorter_than_adults():
    walkers = of(ActorClass.PEDESTRIAN)
    children = [w for w in walkers if w.is_child]
    adults = [w for w in walkers if not w.is_child]
    for w in walkers:
        assert w.width_m < 1.0 and w.length_m < 1.0, w.id
    assert max(c.height_m for c in children) < min(a.height_m for a in adults)
    assert all(1.0 <= c.height_m < 1.5 for c in children) and all(1.6 < a.height_m < 2.1 for a in adults)


def test_children_are_the_ones_carla_catalogues_as_children():
    children = {w.id for w in of(ActorClass.PEDESTRIAN) if w.is_child}
    assert children == {f"walker.pedestrian.{n:04d}" for n in (9, 10, 11, 12, 13, 14, 48, 49)}


def test_walker_ids_run_without_gaps_past_0049():
    ids = [w.id for w in of(ActorClass.PEDESTRIAN)]
    assert ids == [f"walker.pedestrian.{n:04d}" for n in range(1, len(ids) + 1)] and len(ids) >= 49


def test_semantic_tags_fit_the_class():
    tags = {
        ActorClass.CAR: {14}, ActorClass.VAN: {14}, ActorClass.TRUCK: {15}, ActorClass.BUS: {16},
        ActorClass.MOTORCYCLE: {18}, ActorClass.BICYCLE: {19}, ActorClass.PEDESTRIAN: {12},
        ActorClass.PROP: {SemanticTag.STATIC, SemanticTag.DYNAMIC, SemanticTag.VEGETATION},
    }  # fmt: skip
    for bp in catalog():
        assert bp.semantic_tag in tags[bp.actor_class], bp.id
    assert catalog().get("vehicle.carlamotors.firetruck").semantic_tag == 15
    assert catalog().get("vehicle.dodge.charger_police_2020").semantic_tag == 14


def test_only_vehicles_have_a_wheelbase_and_it_fits_inside_them():
    for bp in catalog():
        if bp.is_vehicle:
            assert 0.5 * bp.length_m <= bp.wheelbase_m < bp.length_m, bp.id
            assert any("wheelbase" in e for e in bp.estimates), bp.id
        else:
            assert bp.wheelbase_m is None
        assert bp.generation == 0 if bp.actor_class is ActorClass.PROP else bp.generation >= 1, bp.id


def test_blueprints_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog().get("vehicle.tesla.model3").length_m = 1.0  # type: ignore[misc]


# -- lookup -----------------------------------------------------------------------------------------


def test_unknown_id_suggests_the_closest():
    with pytest.raises(InputError) as err:
        catalog().get("vehicle.tesla.model_3")
    assert err.value.hint == "did you mean 'vehicle.tesla.model3'?"
    assert "unknown CARLA 0.9.16 blueprint 'vehicle.tesla.model_3'" in str(err.value)
    assert err.value.exit_code == 2
    with pytest.raises(InputError, match="did you mean 'vehicle.tesla.model3'"):
        catalog().get("tesla.model3")


def test_vehicle_wildcard_includes_two_wheelers_unless_classes_say_otherwise():
    everything = catalog().match("vehicle.*")
    assert {bp.actor_class for bp in everything} == FOUR_WHEELERS | TWO_WHEELERS and len(everything) == 41
    four = catalog().match("vehicle.*", classes=FOUR_WHEELERS)
    assert len(four) == 34 and not any(bp.is_two_wheeler for bp in four)
    cars = catalog().match("vehicle.*", classes=["car"])  # class names work too
    assert len(cars) == 25 and "vehicle.dodge.charger_police_2020" in {bp.id for bp in cars}


def test_wildcards_match_ids_sorted():
    c = catalog()
    assert [bp.id for bp in c.match("static.prop.*cone*")] == [
        "static.prop.constructioncone",
        "static.prop.trafficcone01",
        "static.prop.trafficcone02",
    ]
    walkers = c.match("walker.pedestrian.00*")
    assert len(walkers) == 52 and [bp.id for bp in walkers] == sorted(bp.id for bp in walkers)
    assert [bp.id for bp in c.match("walker.pedestrian.004[89]")] == ["walker.pedestrian.0048", "walker.pedestrian.0049"]
    assert [bp.id for bp in c.match("vehicle.tesla.model?")] == ["vehicle.tesla.model3"]
    assert c.match("vehicle.tesla.model3") == (c.get("vehicle.tesla.model3"),)


def test_no_match_is_an_input_error_that_says_why():
    with pytest.raises(InputError, match="no CARLA 0.9.16 blueprint matches 'vehicle.telsa.*'"):
        catalog().match("vehicle.telsa.*")
    with pytest.raises(InputError) as err:
        catalog().match("vehicle.yamaha.*", classes={ActorClass.CAR})
    assert "of class car" in err.value.message and "motorcycle" in err.value.hint
    with pytest.raises(InputError, match="unknown actor class 'lorry'"):
        catalog().match("vehicle.*", classes=["lorry"])


def test_catalog_is_loaded_once_and_iterates_by_id():
    assert catalog() is catalog()
    ids = [bp.id for bp in catalog()]
    assert ids == sorted(ids) and len(ids) == len(catalog()) == len(set(ids))
    assert "vehicle.tesla.model3" in catalog() and "vehicle.tesla.model4" not in catalog()


# -- the data file ------------------------------------------------------------------------------------


def test_data_file_names_its_sources_first():
    doc = json.loads(DATA.read_text(encoding="utf-8"))
    assert next(iter(doc)) == "sources"
    repos = {s.get("repo") for s in doc["sources"]}
    assert {"BerkeleyLearnVerify/Scenic", "carla-simulator/carla"} <= repos
    scenic = next(s for s in doc["sources"] if s["repo"] == "BerkeleyLearnVerify/Scenic")
    assert len(scenic["commit"]) == 40 and any("_blueprintData.py" in p for p in scenic["paths"])
    assert all(s.get("url", "").startswith("https://") for s in doc["sources"])
    assert catalog().sources and catalog().version == "0.9.16"


def test_every_row_says_where_its_values_came_from():
    for bp in catalog():
        parts = [p.strip() for p in bp.source.split(";")]
        assert parts[0] == "scenic", bp.id  # every size is measured, none estimated
        assert all(p in ("scenic", "carla-docs") or p.startswith(("scenic (", "estimate: ")) for p in parts), bp.id
        assert all(len(e) > len("estimate: ") + 10 for e in bp.estimates), bp.id


BASE_ROW = {
    "id": "vehicle.test.car", "actor_class": "car", "length_m": 4.5, "width_m": 1.8, "height_m": 1.5,
    "wheelbase_m": 2.7, "semantic_tag": 14, "is_child": False, "special_type": "", "generation": 1,
    "base_type": "car", "source": "estimate: test row",
}  # fmt: skip


def doc_text(*rows: dict, sources=({"repo": "x/y"},)) -> str:
    return json.dumps({"sources": list(sources), "blueprints": list(rows)}, indent=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"length_m": -4.5}, "length_m must be a positive number"),
        ({"semantic_tag": 12}, "semantic_tag 12 does not fit a car"),
        ({"actor_class": "lorry"}, "unknown actor_class"),
        ({"id": "walker.pedestrian.9999"}, "must start with 'vehicle.'"),
        ({"wheelbase_m": 5.0}, "wheelbase_m must be positive and shorter"),
        ({"is_child": True}, "true only for walkers"),
        ({"source": "a guess"}, "source must be"),
        ({"colour": "red"}, "unknown ['colour']"),
    ],
)
def test_a_bad_catalogue_row_is_refused_with_its_line(change, message):
    text = doc_text({"id": "vehicle.ok.car", **{k: v for k, v in BASE_ROW.items() if k != "id"}}, {**BASE_ROW, **change})
    with pytest.raises(InputError, match=re.escape(message)) as err:
        parse_catalog(text, "custom.json")
    assert err.value.pos.file == "custom.json" and err.value.pos.line > 1


def test_a_catalogue_must_name_sources_and_have_unique_ids(tmp_path):
    with pytest.raises(InputError, match="name its sources"):
        parse_catalog(doc_text(BASE_ROW, sources=()))
    with pytest.raises(InputError, match="listed twice"):
        parse_catalog(doc_text(BASE_ROW, BASE_ROW))
    with pytest.raises(InputError, match="not valid JSON") as err:
        parse_catalog('{\n  "sources": [,\n', "broken.json")
    assert err.value.pos.line == 2
    with pytest.raises(InputError, match="cannot read"):
        load_catalog(tmp_path / "missing.json")
    path = tmp_path / "custom.json"
    path.write_text(doc_text(BASE_ROW), encoding="utf-8")
    assert load_catalog(path).get("vehicle.test.car").wheelbase_m == 2.7
