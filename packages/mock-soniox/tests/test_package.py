import mock_soniox


def test_version_is_exposed() -> None:
    assert mock_soniox.__version__.count(".") == 2
