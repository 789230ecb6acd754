from livekit.plugins import soniox


def test_version_is_exposed() -> None:
    assert soniox.__version__.count(".") == 2
