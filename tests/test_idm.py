"""The IDM formula against hand-worked numbers, and the vectorized leader search on a straight lane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgecase.sim.idm import IdmParams, Others, desired_gap_m, find_leaders, idm_accel_mps2
from edgecase.sim.paths import PathBank, straight_path

P = IdmParams()  # T 1.5 s, s0 2 m, a 1.5 m/s2, b 2 m/s2, delta 4


def test_free_road_is_the_delta_power_law():
    # 1.5 * (1 - (10/20)^4) = 1.5 * (1 - 0.0625) = 1.40625
    assert idm_accel_mps2(10.0, 20.0, math.inf, 0.0, P) == pytest.approx(1.40625, abs=1e-12)


def test_at_desired_speed_without_leader_it_cruises():
    assert idm_accel_mps2(20.0, 20.0, math.inf, 0.0, P) == pytest.approx(0.0, abs=1e-12)


def test_following_a_slower_leader():
    # s* = 2 + 10 * 1.5 + 10 * 2 / (2 sqrt(1.5 * 2)) = 17 + 20 / 3.4641016 = 22.7735027
    # (s*/s)^2 = (22.7735027 / 30)^2 = 0.7591168^2 = 0.5762582
    # a = 1.5 * (1 - 0.0625 - 0.5762582) = 1.5 * 0.3612418 = 0.5418626
    assert desired_gap_m(10.0, 2.0, 1.5, 2.0, 1.5, 2.0) == pytest.approx(22.7735027, abs=1e-6)
    assert idm_accel_mps2(10.0, 20.0, 30.0, 2.0, P) == pytest.approx(0.5418626, abs=1e-6)


def test_standing_at_the_jam_distance_it_stays():
    # v = 0: s* = s0, so (s0 / s0)^2 = 1 and a = 1.5 * (1 - 0 - 1) = 0
    assert idm_accel_mps2(0.0, 15.0, 2.0, 0.0, P) == pytest.approx(0.0, abs=1e-12)


def test_closing_on_a_stopped_car_brakes_hard():
    # s* = 2 + 30 + 20 * 20 / 3.4641016 = 32 + 115.4700538 = 147.4700538
    # (147.4700538 / 20)^2 = 7.3735027^2 = 54.3685417; a = 1.5 * (1 - 1 - 54.3685417) = -81.5528
    assert idm_accel_mps2(20.0, 20.0, 20.0, 20.0, P) == pytest.approx(-81.5528, abs=1e-3)


def test_a_faster_leader_never_shrinks_the_gap_below_s0():
    # the dynamic term 10 * 1.5 + 10 * (-20) / 3.464 = 15 - 57.7 < 0 is cut at 0: s* = s0 = 2
    # a = 1.5 * (1 - 0.0625 - (2 / 10)^2) = 1.5 * 0.8975 = 1.34625
    assert idm_accel_mps2(10.0, 20.0, 10.0, -20.0, P) == pytest.approx(1.34625, abs=1e-12)


def test_vectorized_matches_scalar_calls():
    rng = np.random.default_rng(3)
    v, v0 = rng.uniform(0, 30, 50), rng.uniform(5, 30, 50)
    gap, dv = rng.uniform(1, 100, 50), rng.uniform(-5, 5, 50)
    many = idm_accel_mps2(v, v0, gap, dv, P)
    one = [idm_accel_mps2(*args, P) for args in zip(v, v0, gap, dv)]
    np.testing.assert_allclose(many, one, rtol=1e-12)


def test_params_check_their_ranges_and_read_plan_params():
    with pytest.raises(ValueError):
        IdmParams(comfort_decel_mps2=0.0)
    with pytest.raises(ValueError):
        IdmParams(time_headway_s=-1.0)
    p = IdmParams.from_params({"time_headway_s": 1.0, "min_gap_m": 3, "speed_mps": 12.0, "max_accel_mps2": None})
    assert (p.time_headway_s, p.min_gap_m, p.max_accel_mps2) == (1.0, 3.0, 1.5)


def _others(xy, yaw_deg, speed, length=4.0, width=2.0):
    n = len(xy)
    xy = np.asarray(xy, dtype=float)
    return Others(xy[:, 0], xy[:, 1], np.radians(yaw_deg), np.asarray(speed, dtype=float),
                  np.full(n, length / 2), np.full(n, width / 2), np.ones(n, dtype=bool))  # fmt: skip


def test_leader_is_the_nearest_in_lane_ahead_bumper_to_bumper():
    bank = PathBank()
    lane = bank.add(straight_path(0.0, 0.0, 0.0, 200.0, width_m=3.5))
    # 0: the follower at x=10; 1: 30 m ahead in lane; 2: 20 m ahead but in the next lane (y=3.5);
    # 3: behind; 4: 50 m ahead in lane (further than 1)
    others = _others([(10, 0), (40, 0.5), (30, 3.5), (0, 0), (60, 0)], [0, 0, 0, 0, 0], [20, 15, 0, 0, 0])
    rows = np.array([0])
    gap, closing = find_leaders(bank, rows, np.array([lane]), np.array([10.0]), np.array([1.75]), others)
    assert gap[0] == pytest.approx(30.0 - 4.0)  # centre gap minus the two half lengths
    assert closing[0] == pytest.approx(5.0)


def test_a_crossing_walker_counts_by_its_width_and_a_lone_car_has_no_leader():
    bank = PathBank()
    lane = bank.add(straight_path(0.0, 0.0, 0.0, 200.0, width_m=3.5))
    others = _others([(0, 0), (20, -1.0)], [0, 90], [10, 1.5], length=0.5, width=0.7)
    others = Others(others.x_m, others.y_m, others.yaw_rad, others.speed_mps, np.array([2.0, 0.25]), np.array([1.0, 0.35]), others.present)
    gap, closing = find_leaders(bank, np.array([0]), np.array([lane]), np.array([0.0]), np.array([1.75]), others)
    assert gap[0] == pytest.approx(20.0 - 2.0 - 0.35)  # the walker faces across: its half width lies along the lane
    assert closing[0] == pytest.approx(10.0, abs=1e-9)  # it moves across, not away
    alone = _others([(0, 0), (20, 2.5)], [0, 90], [10, 1.5])  # the walker still on the kerb, outside the lane
    gap, closing = find_leaders(bank, np.array([0]), np.array([lane]), np.array([0.0]), np.array([1.75]), alone)
    assert gap[0] == math.inf and closing[0] == 0.0
