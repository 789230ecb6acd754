"""Load profiles: what the shape class asks locust for at each moment."""

import pytest

from soniox_loadtest.shapes import Profile


def users_over_time(profile: Profile, step_s: float = 1.0) -> list[int]:
    counts = []
    t = 0.0
    while (target := profile.target(t)) is not None:
        counts.append(target[0])
        t += step_s
    return counts


def test_steady_holds_the_user_count_then_stops() -> None:
    profile = Profile("steady", users=10, spawn_rate=5, duration_s=30)
    assert users_over_time(profile) == [10] * 30
    assert profile.target(30.0) is None


def test_ramp_climbs_in_steps_and_holds_the_peak() -> None:
    counts = users_over_time(Profile("ramp", users=50, spawn_rate=10, duration_s=100))
    assert counts[0] == 10
    assert counts == sorted(counts)
    assert sorted(set(counts)) == [10, 20, 30, 40, 50]
    assert counts[-20:] == [50] * 20  # the last fifth holds the peak


def test_spike_jumps_from_base_to_peak_and_back() -> None:
    counts = users_over_time(Profile("spike", users=50, spawn_rate=2, duration_s=100))
    assert counts[:40] == [10] * 40
    assert counts[40:60] == [50] * 20
    assert counts[60:] == [10] * 40
    # The spike spawns all its users within about a second, whatever --spawn-rate says.
    target = Profile("spike", users=50, spawn_rate=2, duration_s=100).target(45)
    assert target == (50, 50.0)


def test_unknown_profile_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown load profile 'burst'"):
        Profile("burst", users=1, spawn_rate=1)


def test_profiles_need_users_and_time() -> None:
    with pytest.raises(ValueError):
        Profile("steady", users=0, spawn_rate=1)
