"""The embedded backend's LiDAR: CARLA's ray-cast LiDAR over actor boxes and a flat ground, in numpy.

What it reproduces (CARLA 0.9.16, `Unreal/CarlaUE4/Plugins/Carla/Source/Carla/Sensor/
RayCastSemanticLidar.cpp` SimulateLidar/ShootLaser/ComputeRawDetection and `RayCastLidar.cpp`
ComputeDetection/PreprocessRays/PostprocessDetection; ../shared/docs/labels-reference.md 3.5, 3.6):

* Lasers: channel i points at `upper - i (upper - lower) / (channels - 1)` (`Lidar.elevations_deg`).
  Each tick every laser fires `RoundHalfFromZero(points_per_second * dt / channels)` rays spread
  over `rotation_frequency * 360 * dt` degrees. Ray k points at azimuth
  `fmod(start + k * step, 360) - 180`, so the first ray of tick 0 looks backwards, and the next tick
  starts where this one ended: `start = fmod(tick * rotation_frequency * 360 * dt, 360)`.
  CARLA does not cap the sweep at 360 deg, and neither do we: with rotation_frequency > 1/dt the rays
  wrap round, and at an exact multiple of 360 deg they repeat the same directions. CARLA's
  `horizontal_fov` is not in our rig model, so it is always 360.
* Directions: the laser's rotator (pitch = elevation, yaw = azimuth) composed with the sensor's
  pose, so the direction is (cos e cos a, cos e sin a, sin e) in the sensor frame (x forward,
  y right, z up: +azimuth turns right) and `pose[:3, :3] @ that` in the world. Tilted mounts work.
* A point is the nearest hit within `range_m`, in the sensor frame, stored channel-major (every hit
  of channel 0 in firing order, then channel 1, ...). `intensity = exp(-0.004 d)` (CARLA's default
  atmosphere_attenuation_rate), `cos_inc` = cosine between the reversed ray and the surface normal,
  `object_idx` = the actor's id (0 for the ground), `object_tag` = its CARLA tag.
* `lidar.ray_cast` only: before casting, each ray is dropped with probability dropoff_general_rate
  (None = CARLA's 0.45). After casting, Gaussian noise (noise_stddev_m, None = 0) moves a point
  along its ray. Then a point at or below dropoff_intensity_limit (0.8) is kept with probability
  `zero_intensity / limit * I + 1 - zero_intensity` (zero_intensity 0.4). Intensity and that rule use
  the distance before noise, as CARLA does. All draws come from the caller's seeded generator, so a
  frame is deterministic. The draws cannot match CARLA's own RandomEngine. With `rng=None`
  nothing is dropped or noised. `lidar.ray_cast_semantic` never drops or noises points.

The geometry: actors are oriented boxes (`sim.boxes.Boxes`) and the map is the plane
`z = static.ground_z_m`, whose tag under a hit comes from `static.ground_tag`. A box whose inside
holds the sensor is not seen, because its rays leave through back faces. This matters for the ego's
own box when the sensor sits inside it. A roof LiDAR above the ego's box does see the roof, as in CARLA.

Why numpy slab tests rather than Embree (../shared/docs/cpu-sensors-notes.md, section 1): the world is
boxes plus a plane. A slab test with angular culling ran 3 to 4 times faster than embreex up to
about 150 boxes, gave identical hits and needs no binary dependency. Culling gives each box an
azimuth x elevation window in the sensor frame, and only those rays are tested. Rays are held
sorted by azimuth, so a window is a strided view and no gather is needed. The window must never
miss a hit, so it is built conservatively:
* azimuth: if the sensor's vertical axis pierces the box, the window is every azimuth. Otherwise it
  spans the corners' azimuths, unwrapped about the centre's azimuth (the footprint then lies in a
  wedge narrower than 180 deg).
* elevation: the box lies inside [z_min, z_max] x [rho_min, rho_max] (height x horizontal
  distance). rho_min is the exact distance to the footprint, the nearest of the 12 projected
  edges. Corners alone would over-estimate it and miss rays.
A level sensor (no pitch or roll, the embedded backend's usual case) takes a separable form of the
slab test: per-azimuth and per-channel 1-D tests joined by a few 2-D operations. Tilted sensors use
the full 3-D test. Both match an uncull brute force ray for ray (tests/test_lidar.py).
Cost on one core (`taskset -c 0`), front_camera_lidar's LiDAR (57,472 rays a tick, ~28k points
after drop-off): about 4 ms with the ego and 19 cars, and 7 to 7.5 ms with 100 cars. About 2.5 ms
of that is fixed: the ground, the drop-off and the output arrays. Each box adds about 40 us. The
ego's roof, 0.4 m below the sensor, is the biggest window.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from edgecase.backends.embedded.scene import StaticScene
from edgecase.sensors.frames import LidarFrame
from edgecase.sensors.rig import Lidar
from edgecase.sensors.transforms import BOX_EDGES, BOX_SIGNS
from edgecase.sim.boxes import Boxes

# CARLA 0.9.16 blueprint defaults (Docs/ref_sensors.md; labels-reference 3.5)
ATMOSPHERE_ATTENUATION_RATE = 0.004
DROPOFF_GENERAL_RATE = 0.45
DROPOFF_INTENSITY_LIMIT = 0.8
DROPOFF_ZERO_INTENSITY = 0.4

_PAD_RAD = 1e-9  # widens every window past float rounding in atan2, so culling never drops a ray that hits
_SWEEP_CACHE = 8  # distinct start azimuths kept (2 for a half turn per tick, 1 for a full turn)
_EDGES = np.array(BOX_EDGES)


@dataclass(frozen=True, eq=False)
class Sweep:
    """One tick's rays. Rays are held sorted by azimuth (row = position * channels + channel) so
    that a box's window is a block of rows. `out_rows` gives the row of each output slot, in CARLA's
    order: channel-major, firing order within a channel."""

    az_rad: np.ndarray  # (n_az,) ascending, in [-pi, pi)
    planes: np.ndarray  # (3, n_az, channels) unit directions in the sensor frame, one plane per component
    az_cs: np.ndarray  # (2, n_az) cos and sin of az_rad
    out_rows: np.ndarray  # (channels * n_az,) intp

    @property
    def dirs(self) -> np.ndarray:
        """(n_az * channels, 3) the directions by row (a view)."""
        return self.planes.reshape(3, -1).T


class LidarCaster:
    """One LiDAR of a rig. Build it once per episode; `scan` casts one tick."""

    def __init__(self, lidar: Lidar, step_s: float, name: str = "") -> None:
        self.lidar, self.step_s, self.name = lidar, step_s, name
        # CARLA's FMath::RoundHalfFromZero (Python's round() would round half to even)
        self.points_per_laser = int(math.floor(lidar.points_per_second * step_s / lidar.channels + 0.5))
        self.tick_deg = lidar.rotation_frequency_hz * 360.0 * step_s
        self.elev_rad = np.radians(lidar.elevations_deg())
        self.semantic = lidar.type == "lidar.ray_cast_semantic"
        self.dropoff_rate = 0.0 if self.semantic else (
            DROPOFF_GENERAL_RATE if lidar.dropoff_general_rate is None else lidar.dropoff_general_rate)
        self.noise_m = 0.0 if self.semantic or lidar.noise_stddev_m is None else lidar.noise_stddev_m
        self._sweeps: dict[float, Sweep] = {}

    def azimuths_deg(self, tick: int) -> np.ndarray:
        """Azimuth of each ray of a laser at `tick`, in firing order (CARLA's HorizAngle). `tick`
        counts from the sensor's first tick, where CARLA's sweep starts at 0 (azimuth -180)."""
        start = math.fmod(tick * self.tick_deg, 360.0)
        step = self.tick_deg / max(self.points_per_laser, 1)  # 0 rays: CARLA warns and sends nothing new
        return np.fmod(start + step * np.arange(self.points_per_laser), 360.0) - 180.0

    def sweep(self, tick: int) -> Sweep:
        key = round(math.fmod(tick * self.tick_deg, 360.0), 9)
        if key not in self._sweeps:
            if len(self._sweeps) >= _SWEEP_CACHE:
                del self._sweeps[next(iter(self._sweeps))]
            self._sweeps[key] = self._build_sweep(tick)
        return self._sweeps[key]

    def _build_sweep(self, tick: int) -> Sweep:
        az = np.radians(self.azimuths_deg(tick))
        order = np.argsort(az, kind="stable")
        az_sorted = az[order]
        ce, se = np.cos(self.elev_rad), np.sin(self.elev_rad)
        az_cs = np.stack([np.cos(az_sorted), np.sin(az_sorted)])
        planes = np.empty((3, len(az), len(ce)))
        planes[0], planes[1], planes[2] = az_cs[0][:, None] * ce, az_cs[1][:, None] * ce, se
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        out_rows = (position[None, :] * len(ce) + np.arange(len(ce))[:, None]).ravel()
        return Sweep(az_sorted, planes, az_cs, out_rows)

    def scan(self, pose: np.ndarray, boxes: Boxes, static: StaticScene, tick: int, t_s: float,
             rng: np.random.Generator | None = None) -> LidarFrame:
        """The points of `tick` for a sensor at `pose` (4x4 sensor -> world, CARLA's get_matrix)."""
        sweep = self.sweep(tick)
        pose = np.array(pose, float)  # a copy: the frame keeps it
        rot, origin = pose[:3, :3], pose[:3, 3]
        dist, cos_inc = ground_hits(sweep.planes, rot, origin, static.ground_z_m, self.lidar.range_m)
        actor_row = np.full(len(dist), -1, np.intp)  # index into boxes, -1 = ground or nothing
        cast_boxes(sweep, self.elev_rad, rot, origin, boxes, self.lidar.range_m, dist, cos_inc, actor_row)
        return self._frame(sweep, pose, dist, cos_inc, actor_row, boxes, static, tick, t_s, rng)

    def _frame(self, sweep: Sweep, pose: np.ndarray, dist: np.ndarray, cos_inc: np.ndarray,
               actor_row: np.ndarray, boxes: Boxes, static: StaticScene, tick: int, t_s: float,
               rng: np.random.Generator | None) -> LidarFrame:
        """Per-ray results -> CARLA's point list: channel-major, drop-off and noise, tags."""
        keep = np.isfinite(dist[sweep.out_rows])
        if rng is not None and self.dropoff_rate > np.finfo(np.float32).eps:
            # CARLA's PreprocessRays: one uniform per ray, channel-major, before casting
            keep &= rng.random(len(keep)) >= self.dropoff_rate
        slots = np.flatnonzero(keep)
        rows = sweep.out_rows[slots]
        d = dist[rows]
        intensity = np.exp(-ATMOSPHERE_ATTENUATION_RATE * d)  # from the distance before noise, as CARLA
        reach = d
        if rng is not None and not self.semantic:
            reach, keep = _postprocess(d, intensity, self.noise_m, rng)
            slots, rows, reach, intensity = slots[keep], rows[keep], reach[keep], intensity[keep]
        # sensor-frame components, one 1-D gather each (numpy gathers (N, 3) rows slowly)
        xyz = [plane.ravel()[rows] * reach for plane in sweep.planes]
        hit_box = actor_row[rows]
        on_box = hit_box >= 0
        tag = np.empty(len(rows), np.uint32)
        idx = np.zeros(len(rows), np.uint32)
        tag[on_box], idx[on_box] = boxes.tag[hit_box[on_box]], boxes.actor_id[hit_box[on_box]]
        on_ground = np.flatnonzero(~on_box)
        local = [c[on_ground] for c in xyz]
        world_x, world_y = (sum((pose[i, k] * local[k] for k in range(3)), pose[i, 3]) for i in (0, 1))
        tag[on_ground] = static.ground_tag(world_x, world_y)
        points = np.empty((len(rows), 3), np.float32)
        for k in range(3):
            points[:, k] = xyz[k]
        return LidarFrame(self.name, tick, t_s, pose, points, intensity.astype(np.float32),
                          (slots // len(sweep.az_rad)).astype(np.uint8), cos_inc[rows].astype(np.float32), idx, tag)


def _postprocess(dist: np.ndarray, intensity: np.ndarray, noise_m: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CARLA's PostprocessDetection: (noisy distance, keep). Noise moves a point along its ray;
    then a point at or below the intensity limit survives with probability alpha I + beta."""
    if noise_m > np.finfo(np.float32).eps:
        dist = dist + rng.normal(0.0, noise_m, len(dist))
    alpha = DROPOFF_ZERO_INTENSITY / DROPOFF_INTENSITY_LIMIT
    beta = 1.0 - DROPOFF_ZERO_INTENSITY
    keep = (intensity > DROPOFF_INTENSITY_LIMIT) | (rng.random(len(intensity)) < alpha * intensity + beta)
    return dist, keep


def ground_hits(planes: np.ndarray, rot: np.ndarray, origin: np.ndarray, ground_z_m: float,
                range_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(distance, cos_inc) of every ray (flat, rows of the sweep) against the plane z = ground_z_m;
    inf where it misses or is beyond range. The plane is one-sided: only a sensor above it, looking
    down, sees it. Both arrays are new (callers write into them)."""
    # the world -z component of each direction = the cosine of the incidence angle (level: -sin e)
    down = -functools.reduce(np.add, [m * plane for m, plane in zip(rot[2], planes) if m != 0.0]).ravel()
    height = origin[2] - ground_z_m
    with np.errstate(divide="ignore"):
        dist = height / down
    dist[(down <= 0) | (dist > range_m) | (height <= 0)] = np.inf
    return dist, down


@dataclass(frozen=True, eq=False)
class _LocalBoxes:
    """Active boxes in the sensor frame: `to_box` (N, 3, 3) maps sensor-frame vectors into each box's
    frame, `origin` (N, 3) is the sensor's position in each box's frame."""

    index: np.ndarray  # rows of Boxes
    centre: np.ndarray  # (N, 3) sensor frame
    to_box: np.ndarray
    origin: np.ndarray
    extent: np.ndarray

    @classmethod
    def of(cls, boxes: Boxes, rot: np.ndarray, origin: np.ndarray) -> _LocalBoxes:
        index = np.flatnonzero(boxes.active)
        yaw = boxes.yaw_rad[index]
        cos, sin, zero, one = np.cos(yaw), np.sin(yaw), np.zeros(len(index)), np.ones(len(index))
        # world -> box rotation (rows = the box's forward, right, up axes in the world), then sensor -> box
        world_to_box = np.stack([np.stack([cos, sin, zero], 1), np.stack([-sin, cos, zero], 1),
                                 np.stack([zero, zero, one], 1)], 1)
        to_box = world_to_box @ rot
        centre = (boxes.centre_m[index] - origin) @ rot
        return cls(index, centre, to_box, -np.einsum("nij,nj->ni", to_box, centre), boxes.extent_m[index])

    def corners(self) -> np.ndarray:
        """(N, 8, 3) sensor frame, CARLA's vertex order."""
        return self.centre[:, None, :] + np.einsum("nij,nki->nkj", self.to_box, BOX_SIGNS[None] * self.extent[:, None])


def slab(direction: np.ndarray, origin: np.ndarray, extent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray/box slab test in a box's frame over the last axis: (t_near, t_far, entry axis). A direction
    component of 0 gives +-inf; with the origin exactly on that face plane it gives one NaN, which
    fmin/fmax skip (only one of the pair can be NaN for a box of non-zero size)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / direction
        t1, t2 = (-extent - origin) * inv, (extent - origin) * inv
    lo, hi = np.fmin(t1, t2), np.fmax(t1, t2)
    return lo.max(-1), hi.min(-1), lo.argmax(-1)


def _windows(local: _LocalBoxes, sweep: Sweep, elev_rad: np.ndarray, range_m: float) -> np.ndarray:
    """(S, 5) blocks to test: box, first and end azimuth position, first and end channel."""
    corners = local.corners()
    n = len(local.index)
    # does the sensor's vertical axis pierce the box? (a slab test along the whole z line)
    up = local.to_box[:, :, 2]
    t_near, t_far, _ = slab(up, local.origin, local.extent)
    pierced = t_near <= t_far
    rho_min = np.where(pierced, 0.0, _footprint_distance(corners[..., :2]))
    rho_max = np.hypot(corners[..., 0], corners[..., 1]).max(1)
    z_min, z_max = corners[..., 2].min(1), corners[..., 2].max(1)
    z_gap = np.where(z_min > 0, z_min, np.where(z_max < 0, -z_max, 0.0))
    in_range = np.hypot(rho_min, z_gap) <= range_m
    e_max = np.arctan2(z_max, np.where(z_max > 0, rho_min, rho_max)) + _PAD_RAD
    e_min = np.arctan2(z_min, np.where(z_min < 0, rho_min, rho_max)) - _PAD_RAD
    falling = -elev_rad  # ascending
    c0 = np.searchsorted(falling, -e_max, "left")
    c1 = np.searchsorted(falling, -e_min, "right")
    # azimuth wedge from the corners, unwrapped about the centre's azimuth (valid when not pierced)
    az_c = np.arctan2(local.centre[:, 1], local.centre[:, 0])
    rel = np.angle(np.exp(1j * (np.arctan2(corners[..., 1], corners[..., 0]) - az_c[:, None])))
    lo, hi = az_c + rel.min(1) - _PAD_RAD, az_c + rel.max(1) + _PAD_RAD
    full = pierced | (rho_min < 1e-6)  # at the axis the wedge degenerates: take every azimuth
    blocks = []
    for shift in (-2 * np.pi, 0.0, 2 * np.pi):  # the wedge may cross -pi/pi: test its wrapped parts too
        a0 = np.searchsorted(sweep.az_rad, lo + shift, "left")
        a1 = np.searchsorted(sweep.az_rad, hi + shift, "right")
        if shift == 0.0:
            a0, a1 = np.where(full, 0, a0), np.where(full, len(sweep.az_rad), a1)
        else:
            a1 = np.where(full, a0, a1)
        blocks.append(np.stack([np.arange(n), a0, a1, c0, c1], 1))
    out = np.concatenate(blocks)
    return out[in_range[out[:, 0]] & (out[:, 2] > out[:, 1]) & (out[:, 4] > out[:, 3])]


def _footprint_distance(xy: np.ndarray) -> np.ndarray:
    """(N,) distance from the sensor's axis to each box's projected outline: the nearest of the
    12 projected edges (exact when the axis is outside the footprint)."""
    p0, p1 = xy[:, _EDGES[:, 0]], xy[:, _EDGES[:, 1]]
    seg = p1 - p0
    length2 = np.einsum("nek,nek->ne", seg, seg)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.clip(np.where(length2 > 0, -np.einsum("nek,nek->ne", p0, seg) / length2, 0.0), 0.0, 1.0)
    return np.hypot(*np.moveaxis(p0 + s[..., None] * seg, -1, 0)).min(1)


def cast_boxes(sweep: Sweep, elev_rad: np.ndarray, rot: np.ndarray, origin: np.ndarray, boxes: Boxes,
               range_m: float, dist: np.ndarray, cos_inc: np.ndarray, actor_row: np.ndarray) -> None:
    """In place: where an active box is nearer than `dist` (and within range), write its distance,
    cos_inc and Boxes row into the per-ray arrays (rows of `sweep.dirs`). Python runs once per window
    (tens of microseconds) and numpy does the rest."""
    if not np.any(boxes.active):
        return
    local = _LocalBoxes.of(boxes, rot, origin)
    shape = (len(sweep.az_rad), len(elev_rad))
    dist2, cos2, row2 = dist.reshape(shape), cos_inc.reshape(shape), actor_row.reshape(shape)
    level = abs(rot[2, 2] - 1.0) < 1e-12  # no pitch or roll: the boxes' z is the sensor's z
    elev_cs = np.stack([np.cos(elev_rad), np.sin(elev_rad)])
    # One numpy pass per window on strided views (no gathers). Boxes go in Boxes order with a
    # strict '<', so a tie keeps the ground, then the lower row.
    for b, a0, a1, c0, c1 in _windows(local, sweep, elev_rad, range_m).tolist():
        block = np.s_[a0:a1, c0:c1]
        near = dist2[block]
        if level:
            t_near, cos, hit = _slab_level(sweep.az_cs[:, a0:a1], elev_cs[:, c0:c1], local.to_box[b],
                                           local.origin[b], local.extent[b], range_m)
        else:
            t_near, cos, hit = _slab_block(sweep.planes[(slice(None),) + block], local.to_box[b],
                                           local.origin[b], local.extent[b], range_m)
        hit &= t_near < near
        if hit.any():
            near[hit] = t_near[hit]
            cos2[block][hit] = cos[hit]
            row2[block][hit] = local.index[b]


def _slab_block(planes: np.ndarray, to_box: np.ndarray, origin: np.ndarray, extent: np.ndarray,
                limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slab test of a block of rays (planes: 3 x block) against one box: (t_near, cos_inc, hit with
    0 < t_near <= limit). Works per component on 2-D planes, since numpy is slow on reductions over
    a length-3 axis. A zero direction component gives +-inf; with the origin exactly on that face
    plane, one NaN, which fmin/fmax skip."""
    t_near = t_far = cos = None
    for k in range(3):
        # the ray's k-th component in the box frame; zero and unit coefficients skipped (a level
        # sensor's z is the box's z)
        terms = [planes[j] if m == 1.0 else m * planes[j] for j, m in enumerate(to_box[k]) if m != 0.0]
        d = functools.reduce(np.add, terms)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t1, t2 = (-extent[k] - origin[k]) * inv, (extent[k] - origin[k]) * inv
        lo, hi = np.fmin(t1, t2), np.fmax(t1, t2)
        if t_near is None:
            t_near, t_far, cos = lo, hi, np.abs(d)
        else:
            entry = lo > t_near  # the face entered last is the one the ray hits
            t_near, t_far, cos = np.maximum(t_near, lo), np.minimum(t_far, hi), np.where(entry, np.abs(d), cos)
    return t_near, cos, (t_near <= t_far) & (t_near > 0) & (t_near <= limit)


def _slab_level(az_cs: np.ndarray, elev_cs: np.ndarray, to_box: np.ndarray, origin: np.ndarray,
                extent: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_slab_block` for a level sensor, where the test separates. The ray (cos e h(a), sin e) has
    its x/y slab distances = (horizontal distance along azimuth a) / cos e, and its z slab distances
    depend on e only. Two 1-D slab tests plus a few 2-D operations, instead of some thirty."""
    h = to_box[:2, :2] @ az_cs  # (2, n_az) horizontal direction in the box frame
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_h, inv_z = 1.0 / h, 1.0 / elev_cs[1]
        r1, r2 = (-extent[:2, None] - origin[:2, None]) * inv_h, (extent[:2, None] - origin[:2, None]) * inv_h
        z1, z2 = (-extent[2] - origin[2]) * inv_z, (extent[2] - origin[2]) * inv_z
    lo, hi = np.fmin(r1, r2), np.fmax(r1, r2)
    z_lo, z_hi = np.fmin(z1, z2), np.fmax(z1, z2)
    cos_xy = np.where(lo[1] > lo[0], np.abs(h[1]), np.abs(h[0]))  # same tie rule as _slab_block
    inv_ce = 1.0 / elev_cs[0]  # cos e > 0 (|e| <= 90 deg; cos(90 deg) is 6e-17 in floats)
    t_xy = np.maximum(lo[0], lo[1])[:, None] * inv_ce
    t_near = np.maximum(t_xy, z_lo)
    t_far = np.minimum(np.minimum(hi[0], hi[1])[:, None] * inv_ce, z_hi)
    cos = np.where(z_lo > t_xy, np.abs(elev_cs[1]), cos_xy[:, None] * elev_cs[0])
    return t_near, cos, (t_near <= t_far) & (t_near > 0) & (t_near <= limit)


def points_in_boxes(points_world: np.ndarray, boxes: Boxes, margin_m: float = 0.0) -> np.ndarray:
    """(N,) the Boxes row of the active box holding each world point (grown by margin_m), else -1;
    the first row wins where boxes overlap."""
    points = np.asarray(points_world, float).reshape(-1, 3)
    out = np.full(len(points), -1, np.intp)
    for i in np.flatnonzero(boxes.active)[::-1]:  # reversed so the lowest row is written last
        rel = points - boxes.centre_m[i]
        cos, sin = math.cos(boxes.yaw_rad[i]), math.sin(boxes.yaw_rad[i])
        local = np.stack([rel[:, 0] * cos + rel[:, 1] * sin, -rel[:, 0] * sin + rel[:, 1] * cos, rel[:, 2]], 1)
        out[np.all(np.abs(local) <= boxes.extent_m[i] + margin_m, axis=1)] = i
    return out
