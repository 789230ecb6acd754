"""Choosing the target: the mock, any host, or the real service only when asked."""

import pytest

from soniox_loadtest.target import MOCK_API_KEY, endpoint_url, is_loopback, needs_mock, resolve


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("ws://127.0.0.1:8765", "ws://127.0.0.1:8765/tts-websocket"),
        ("http://127.0.0.1:8765/", "ws://127.0.0.1:8765/tts-websocket"),
        ("https://example.test", "wss://example.test/tts-websocket"),
        ("127.0.0.1:9", "ws://127.0.0.1:9/tts-websocket"),
        ("ws://127.0.0.1:1/transcribe-websocket", "ws://127.0.0.1:1/tts-websocket"),
    ],
)
def test_endpoint_urls_follow_from_the_host(host: str, expected: str) -> None:
    assert endpoint_url(host, "/tts-websocket") == expected


def test_unsupported_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported URL scheme"):
        endpoint_url("ftp://127.0.0.1", "/tts-websocket")


def test_loopback_detection() -> None:
    assert is_loopback("ws://127.0.0.1:1/x")
    assert is_loopback("ws://localhost:1/x")
    assert is_loopback("ws://[::1]:1/x")
    assert not is_loopback("wss://10.1.2.3/x")


def test_the_mock_gets_a_dummy_key_and_both_endpoints() -> None:
    target = resolve("ws://127.0.0.1:5000", None, None, None, allow_remote=False)
    assert target.tts_url == "ws://127.0.0.1:5000/tts-websocket"
    assert target.stt_url == "ws://127.0.0.1:5000/transcribe-websocket"
    assert target.api_key == MOCK_API_KEY


def test_a_remote_target_needs_allow_remote() -> None:
    with pytest.raises(ValueError, match="--allow-remote"):
        resolve("wss://10.1.2.3", None, None, "key", allow_remote=False)
    target = resolve("wss://10.1.2.3", None, None, "key", allow_remote=True)
    assert target.tts_url == "wss://10.1.2.3/tts-websocket" and target.api_key == "key"


def test_the_real_service_urls_are_used_only_with_allow_remote() -> None:
    target = resolve(None, None, None, "real-key", allow_remote=True)
    assert target.tts_url == "wss://tts-rt.soniox.com/tts-websocket"
    assert target.stt_url == "wss://stt-rt.soniox.com/transcribe-websocket"
    with pytest.raises(ValueError, match="no target"):
        resolve(None, None, None, "real-key", allow_remote=False)


def test_explicit_urls_win_and_keep_their_query() -> None:
    target = resolve(
        "ws://127.0.0.1:1",
        "ws://127.0.0.1:2/tts-websocket?fault=error:code=503",
        None,
        None,
        allow_remote=False,
    )
    assert target.tts_url.endswith("?fault=error:code=503")
    assert target.stt_url == "ws://127.0.0.1:1/transcribe-websocket"


def test_a_remote_target_without_a_key_is_refused_rather_than_sent_a_dummy_key() -> None:
    with pytest.raises(ValueError, match="SONIOX_API_KEY"):
        resolve(None, None, None, None, allow_remote=True)


def test_the_mock_is_started_only_when_nothing_else_was_asked_for() -> None:
    assert needs_mock(None, None, None, allow_remote=False)
    assert needs_mock(None, "ws://127.0.0.1:1/tts-websocket", None, allow_remote=False)
    assert not needs_mock("ws://127.0.0.1:1", None, None, allow_remote=False)
    assert not needs_mock(None, "ws://a/tts", "ws://a/stt", allow_remote=False)
    assert not needs_mock(None, None, None, allow_remote=True)  # the real service
