"""MCAP export for Foxglove, read back with the `mcap` reader and decoded with the schemas stored in
the file (mcap-protobuf-support builds the message classes from them, as Foxglove does).

Checked against the episode itself, not against the exporter's code: topics and schemas, one
message per frame on each per-frame topic, log times = the fixed epoch + t_s, cubes = the labels'
3D boxes mirrored into the right-handed frame, images = the recorded JPEG bytes, 2D boxes = the
labels' amodal boxes, points = the recorded points with y negated, and the transform chain
world -> ego -> sensor = the capture's recorded sensor pose (mirrored). The rig has a rolled,
pitched and yawed camera and a yawed LiDAR, so a wrong sign or axis order in a rotation shows.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

import edgecase
from edgecase.replay.episode_data import load_episode
from edgecase.replay.mcap_export import EPOCH_BASE_NS, bench_mcap, matrix_quat, stamp_ns, write_mcap
from tests.helpers import SCENARIOS

reader = pytest.importorskip("mcap.reader", reason="the mcap package reads the files back (pip install -e '.[test]')")
decoder = pytest.importorskip("mcap_protobuf.decoder", reason="mcap-protobuf-support decodes the messages")

MIRROR4 = np.diag([1.0, -1.0, 1.0, 1.0])
RIG = """
name: tilted
description: a rolled, pitched and yawed camera and a yawed LiDAR, so rotation mistakes show
sensors:
  front:
    type: camera.rgb
    mount: {x_m: 0.9, y_m: -0.3, z_m: 1.5, roll_deg: 2.0, pitch_deg: -8.0, yaw_deg: 10.0}
    width_px: 480
    height_px: 270
    fov_deg: 90
  roof:
    type: lidar.ray_cast
    mount: {x_m: 0.1, y_m: 0.2, z_m: 1.9, yaw_deg: 30.0}
    channels: 16
    range_m: 60
    points_per_second: 100_000
    rotation_frequency_hz: 20
    upper_fov_deg: 2.0
    lower_fov_deg: -24.8
"""


@pytest.fixture(scope="module")
def episode_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcap")
    rig = root / "tilted.yaml"
    rig.write_text(RIG)
    out = root / "child"
    edgecase.run(SCENARIOS / "occluded_child_dartout.yaml", 3, out=out, sensors=str(rig), frame_every=10)
    return out


@pytest.fixture(scope="module")
def exported(episode_dir, tmp_path_factory):
    file = tmp_path_factory.mktemp("mcap-out") / "child.mcap"
    return write_mcap(episode_dir, file)


def _messages(file, topics=None):
    """(topic, log_time, publish_time, decoded message) in file order."""
    with open(file, "rb") as stream:
        mcap = reader.make_reader(stream, decoder_factories=[decoder.DecoderFactory()])
        return [(c.topic, m.log_time, m.publish_time, d) for _, c, m, d in mcap.iter_decoded_messages(topics=topics)]


def _summary(file):
    with open(file, "rb") as stream:
        return reader.make_reader(stream).get_summary()


def _quat_matrix(q) -> np.ndarray:
    x, y, z, w = q.x, q.y, q.z, q.w
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _pose(translation, rotation) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = _quat_matrix(rotation)
    m[:3, 3] = (translation.x, translation.y, translation.z)
    return m


def test_schemas_topics_and_one_message_per_frame_and_sensor(episode_dir, exported):
    episode = load_episode(episode_dir)
    frames = len(episode.frame_ticks)
    summary = _summary(exported.path)
    schemas = {s.name for s in summary.schemas.values()}
    assert {"foxglove.FrameTransforms", "foxglove.SceneUpdate", "foxglove.CompressedImage", "foxglove.ImageAnnotations",
            "foxglove.CameraCalibration", "foxglove.PointCloud", "foxglove.Log"} <= schemas
    assert {s.encoding for s in summary.schemas.values()} == {"protobuf"}
    counts = {summary.channels[c].topic: n for c, n in summary.statistics.channel_message_counts.items()}
    per_frame = ["/tf", "/boxes", "/front/image", "/front/calibration", "/front/annotations", "/roof/points"]
    assert counts == {**{topic: frames for topic in per_frame}, "/events": len(episode.events)}
    assert exported.topics == counts and exported.frames == frames == 21
    sensor_messages = sum(n for topic, n in counts.items() if topic.startswith(("/front/image", "/roof/")))
    assert sensor_messages == frames * 2  # frames x sensors


def test_log_times_are_the_epoch_plus_t_s_and_increase(episode_dir, exported):
    episode = load_episode(episode_dir)
    expected = [EPOCH_BASE_NS + round(episode.labels(t).t_s * 1e9) for t in episode.frame_ticks]
    for topic in ("/tf", "/boxes", "/front/image", "/roof/points"):
        times = [(log, pub, msg) for _, log, pub, msg in _messages(exported.path, [topic])]
        assert [log for log, _, _ in times] == expected
        assert all(log == pub for log, pub, _ in times)
        assert np.all(np.diff(expected) > 0)
    images = _messages(exported.path, ["/front/image"])
    for (_, log, _, msg) in images:
        assert msg.timestamp.seconds * 10**9 + msg.timestamp.nanos == log
    events = _messages(exported.path, ["/events"])
    assert [log for _, log, _, _ in events] == [stamp_ns(e.t_s) for e in sorted(episode.events, key=lambda e: e.t_s)]
    assert any("behavior_start child cross" in msg.message for *_, msg in events)


def test_scene_cubes_are_the_labelled_boxes_in_the_right_handed_world(episode_dir, exported):
    episode = load_episode(episode_dir)
    updates = _messages(exported.path, ["/boxes"])
    checked = 0
    for tick, (_, _, _, update) in zip(episode.frame_ticks, updates):
        labels = episode.labels(tick)
        assert [d.type for d in update.deletions] == [1]  # ALL: a box that left the world leaves the scene
        entities = {e.id: e for e in update.entities}
        ego = entities.pop(str(labels.ego_track_id))
        assert {kv.key: kv.value for kv in ego.metadata}["role"] == "ego"
        assert set(entities) == {str(o.track_id) for o in labels.objects}
        for obj in labels.objects:
            entity = entities[str(obj.track_id)]
            assert entity.frame_id == "world"
            assert {kv.key: kv.value for kv in entity.metadata}["name"] == obj.name
            cube = entity.cubes[0]
            x, y, z = obj.box.centre_m
            p = cube.pose.position
            assert (p.x, p.y, p.z) == pytest.approx((x, -y, z), abs=1e-9)
            assert (cube.size.x, cube.size.y, cube.size.z) == pytest.approx(obj.box.size_m, abs=1e-9)
            heading = _quat_matrix(cube.pose.orientation) @ np.array([1.0, 0.0, 0.0])  # the box's forward axis
            yaw = math.radians(obj.box.yaw_deg)
            assert heading == pytest.approx([math.cos(yaw), -math.sin(yaw), 0.0], abs=1e-9)  # CARLA's, y mirrored
            checked += 1
    assert checked > 30


def test_images_and_2d_boxes_are_the_recorded_ones(episode_dir, exported):
    episode = load_episode(episode_dir)
    images = _messages(exported.path, ["/front/image"])
    notes = _messages(exported.path, ["/front/annotations"])
    calib = _messages(exported.path, ["/front/calibration"])
    boxes = 0
    for tick, (*_, image), (*_, note), (*_, cal) in zip(episode.frame_ticks, images, notes, calib):
        labels = episode.labels(tick)
        assert image.data == episode.image_path("front", tick).read_bytes()
        assert image.format == "jpeg" and image.frame_id == "front_optical" == cal.frame_id
        assert np.reshape(cal.K, (3, 3)) == pytest.approx(np.array(episode.calib["sensors"]["front"]["intrinsics"]))
        seen = [o for o in labels.objects if "front" in o.cameras]
        assert len(note.points) == len(seen)
        for obj, loop in zip(seen, note.points):
            x0, y0, x1, y1 = obj.cameras["front"].amodal
            assert loop.type == 2  # LINE_LOOP
            corners = np.array([(p.x, p.y) for p in loop.points])
            assert corners == pytest.approx(np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))
            boxes += 1
    assert boxes > 5


def test_point_clouds_are_the_recorded_points_mirrored(episode_dir, exported):
    episode = load_episode(episode_dir)
    clouds = _messages(exported.path, ["/roof/points"])
    for tick, (*_, cloud) in zip(episode.frame_ticks, clouds):
        recorded = np.fromfile(episode_dir / episode.labels(tick).captures["roof"].files["points"], np.float32)
        recorded = recorded.reshape(-1, 4)
        assert cloud.frame_id == "roof" and cloud.point_stride == 16
        assert [(f.name, f.offset, f.type) for f in cloud.fields] == [("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("intensity", 12, 7)]
        points = np.frombuffer(cloud.data, np.float32).reshape(-1, 4)
        assert len(points) == len(recorded) > 100
        assert np.array_equal(points, recorded * np.array([1, -1, 1, 1], np.float32))


def test_transform_chain_puts_each_sensor_where_it_was_recorded(episode_dir, exported):
    episode = load_episode(episode_dir)
    for tick, (*_, tf) in zip(episode.frame_ticks, _messages(exported.path, ["/tf"])):
        labels = episode.labels(tick)
        chain = {(t.parent_frame_id, t.child_frame_id): _pose(t.translation, t.rotation) for t in tf.transforms}
        assert set(chain) == {("world", "ego"), ("ego", "front"), ("ego", "roof"), ("front", "front_optical")}
        for sensor in ("front", "roof"):
            recorded = MIRROR4 @ np.array(labels.captures[sensor].sensor_to_world) @ MIRROR4
            assert chain[("world", "ego")] @ chain[("ego", sensor)] == pytest.approx(recorded, abs=2e-4)
        optical = chain[("front", "front_optical")][:3, :3]
        assert optical @ np.array([0, 0, 1.0]) == pytest.approx([1, 0, 0])  # optical z (forward) = the camera's x
        assert optical @ np.array([1.0, 0, 0]) == pytest.approx([0, -1, 0])  # optical x (right) = the camera's -y (FLU)


def test_matrix_quat_round_trips_any_rotation():
    rng = np.random.default_rng(5)
    for _ in range(200):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        m = _quat_matrix(type("Q", (), dict(zip("xyzw", q)))())
        back = np.array(matrix_quat(m))
        assert back == pytest.approx(q * np.sign(q[3]), abs=1e-9)


def test_the_same_episode_gives_the_same_bytes(episode_dir, exported, tmp_path):
    again = write_mcap(episode_dir, tmp_path / "again.mcap")
    assert hashlib.sha256(again.path.read_bytes()).digest() == hashlib.sha256(exported.path.read_bytes()).digest()


def test_an_episode_without_sensors_exports_the_trace_every_tick(tmp_path):
    out = tmp_path / "cut"
    result = edgecase.run(SCENARIOS / "aggressive_cut_in.yaml", 0, out=out, sensors=False)
    summary = write_mcap(out, tmp_path / "cut.mcap")
    ticks = len(result.trace.t_s)
    assert summary.topics == {"/tf": ticks, "/boxes": ticks, "/events": len(result.trace.events)}
    updates = _messages(summary.path, ["/boxes"])
    last = updates[-1][3]
    for i, actor in enumerate(result.plan.actors):
        cube = next(e for e in last.entities if e.id == str(actor.id)).cubes[0]
        assert cube.pose.position.x == pytest.approx(result.trace.x_m[-1, i] - result.trace.box_offset_m[-1, i]
                                                     * math.sin(result.trace.yaw_rad[-1, i]))
        assert cube.size.x == pytest.approx(result.trace.length_m[-1, i])


def test_bench_mcap_reports_frames_per_second(episode_dir):
    figures = bench_mcap(episode_dir, repeats=1)
    assert figures["frames"] == 21 and figures["frames_per_s"] > 0 and figures["bytes"] > 0
