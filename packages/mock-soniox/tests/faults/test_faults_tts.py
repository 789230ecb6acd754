"""Faults on the TTS endpoint, end to end: a raw client running real streams.

Stream faults (``error``, ``no_audio_end``, ``slow``) target the K-th stream opened on the
connection (``stream=K``, 1-based) or every stream; connection faults can trigger on
``after_streams``.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from mock_soniox.testing.common import with_faults
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.tts import TtsClient, open_tts, stream_config

TEXT = "Faults make clients honest."
VOICE = {"model": "tts-rt-v1-preview", "voice": "Maya"}


def config(stream_id: str) -> dict[str, Any]:
    return stream_config(stream_id, **VOICE)


async def connect(
    http: aiohttp.ClientSession, mock_soniox: MockSoniox, *specs: str, **kwargs: Any
) -> TtsClient:
    return await open_tts(http, with_faults(mock_soniox.tts_url, *specs), **kwargs)


async def speak(client: TtsClient, stream_id: str) -> None:
    await client.start(stream_id, TEXT, **VOICE)


async def until_terminated(client: TtsClient, *stream_ids: str) -> dict[str, list[dict[str, Any]]]:
    """Each stream's frames, until every one of ``stream_ids`` has ``terminated``."""
    return {stream_id: await client.until_terminated(stream_id) for stream_id in stream_ids}


def shape(frames: list[dict[str, Any]]) -> list[str]:
    """A stream's frames reduced to what a client decides on."""
    out = []
    for f in frames:
        if "error_code" in f:
            out.append(f"error {f['error_code']}")
        elif f.get("terminated"):
            out.append("terminated")
        elif f.get("audio_end"):
            out.append("audio_end")
        elif "audio" in f and (not out or out[-1] != "audio"):
            out.append("audio")
    return out


async def test_error_on_the_kth_stream_only(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "error:code=408,stream=2")
    await speak(client, "one")
    await client.send(**config("two"))  # text for it would get "not found"
    await speak(client, "three")
    frames = await until_terminated(client, "one", "two", "three")
    assert shape(frames["one"]) == ["audio", "audio_end", "terminated"]
    assert shape(frames["two"]) == ["error 408", "terminated"]
    assert frames["two"][0]["error_type"] == "request_timeout"
    assert shape(frames["three"]) == ["audio", "audio_end", "terminated"]
    assert not client.ws.closed  # per-stream errors leave the socket open
    await client.ws.close()


async def test_error_without_stream_hits_every_stream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "error:code=402")
    await client.send(**config("a"))
    await client.send(**config("b"))
    frames = await until_terminated(client, "a", "b")
    assert shape(frames["a"]) == shape(frames["b"]) == ["error 402", "terminated"]
    await client.ws.close()


async def test_no_audio_end_terminates_without_audio_end(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "no_audio_end:stream=1")
    await speak(client, "first")
    await speak(client, "second")
    frames = await until_terminated(client, "first", "second")
    assert shape(frames["first"]) == ["audio", "terminated"]
    assert shape(frames["second"]) == ["audio", "audio_end", "terminated"]
    await client.ws.close()


async def test_slow_paces_audio_slower_than_real_time(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    scale, rtf = 0.02, 3.0
    mock_soniox.configure(time_scale=scale)
    client = await connect(http, mock_soniox, f"slow:rtf={rtf}")
    await speak(client, "slow")
    await until_terminated(client, "slow")
    await client.ws.close()
    text_sent = mock_soniox.journal.client_frames(endpoint="tts")[-1]
    audio = mock_soniox.journal.server_frames("audio", endpoint="tts")
    seconds = [e.data["audio"]["bytes"] / (24000 * 2) for e in audio]
    # Each chunk waits for the previous one's audio to be "played" at rtf x real time (scaled),
    # after the time to first audio: a lower bound, whatever the machine's speed.
    first_audio_s = mock_soniox.settings.tts_time_to_first_audio_ms / 1000.0
    assert audio[-1].t - text_sent.t >= (first_audio_s + sum(seconds[:-1]) * rtf) * scale
    assert {e.fault for e in mock_soniox.journal.events("fault")} == {f"slow:rtf={rtf}"}


async def test_conn_error_after_streams_fails_the_whole_connection(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "conn_error:code=503,after_streams=2")
    await speak(client, "one")
    await until_terminated(client, "one")
    await client.send(**config("two"))
    frames = await client.until_closed()
    errors = [f for f in frames if "error_code" in f]
    assert [(e["error_code"], "stream_id" in e) for e in errors] == [(503, False)]
    assert client.ws.close_code == 1000


async def test_drop_after_streams_cuts_mid_stream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(time_scale=0.05)  # keep stream one busy while stream two opens
    client = await connect(http, mock_soniox, "drop:after_streams=2")
    await speak(client, "one")
    await client.send(**config("two"))
    frames = await client.until_closed()
    assert client.ws.close_code == 1006
    assert not any(f.get("audio_end") or f.get("terminated") for f in frames)


async def test_close_after_streams_uses_the_code(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "close:code=4029,after_streams=1")
    await client.send(**config("s"))
    await client.until_closed()
    assert client.ws.close_code == 4029


async def test_stall_after_a_stream_opens_sends_no_audio_and_no_pong(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "stall:after_streams=1", heartbeat=0.2)
    await speak(client, "s")
    frames = await client.until_closed()
    assert frames == []
    assert client.ws.close_code == 1006
    assert isinstance(client.ws.exception(), aiohttp.ServerTimeoutError)


async def test_delay_marks_every_server_frame(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "delay:ms=2")
    await speak(client, "d")
    frames = await until_terminated(client, "d")
    assert shape(frames["d"]) == ["audio", "audio_end", "terminated"]
    await client.ws.close()
    sent = mock_soniox.journal.server_frames(endpoint="tts")
    assert len(sent) == len(frames["d"])
    assert {e.fault for e in sent} == {"delay:ms=2"}


async def test_stream_error_heals_for_the_reconnecting_client(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    spec = "error:code=503,stream=1,times=1"
    first = await connect(http, mock_soniox, spec)
    await first.send(**config("x"))
    assert shape((await until_terminated(first, "x"))["x"]) == ["error 503", "terminated"]
    await first.ws.close()
    second = await connect(http, mock_soniox, spec)
    await speak(second, "x")
    assert shape((await until_terminated(second, "x"))["x"]) == [
        "audio",
        "audio_end",
        "terminated",
    ]
    await second.ws.close()


async def test_streams_show_in_the_connection_listing(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, mock_soniox, "stall:after_streams=1")
    await client.send(**config("listed"))
    await mock_soniox.journal.wait_for(lambda e: e.kind == "fault")
    (conn,) = mock_soniox.connections()
    assert [(s["stream_id"], s["voice"]) for s in conn["streams"]] == [("listed", "Maya")]
    assert (conn["streams_opened"], conn["stalled"]) == (1, True)
    await client.ws.close()


async def test_drop_after_ms_cuts_while_audio_is_flowing(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    # At 0.1 x time, 100 characters are ~6 s of audio; slowed to 10 x real time they take ~6 s
    # to send, starting ~15 ms after the text. The drop lands 300 ms after connecting: mid-audio,
    # with a wide margin on a busy machine.
    mock_soniox.configure(time_scale=0.1)
    client = await connect(http, mock_soniox, "drop:after_ms=3000", "slow:rtf=10")
    await client.send(**config("long"))
    text = "Every chunk that leaves before the cut is heard, and none after it. " * 2
    await client.send(stream_id="long", text=text[:100], text_end=True)
    frames = await client.until_closed()
    assert client.ws.close_code == 1006
    assert "audio_end" not in shape(frames)
    assert "terminated" not in shape(frames)
    # The server was mid-stream: audio went out before the cut, none after it. (Frames still in
    # flight when TCP is reset may never reach the client, as on a real network.)
    journal = mock_soniox.journal
    (cut,) = journal.select(kind="fault", fault="drop:after_ms=3000")
    sent = journal.server_frames(endpoint="tts")
    assert sent, "audio was flowing when the drop came"
    assert all(e.seq < cut.seq and e.kind == "audio" for e in sent)
