# ruff: noqa: RUF001  (CJK sentence punctuation is the point of some tests here)
"""TTS failure paths (issue 14, items 10-12): rotation timing, where replays go, replay budget."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import APIConnectOptions, APIStatusError
from tests.tts_helpers import (
    FAST,
    collect,
    connections,
    count,
    expected_ms,
    make_tts,
    speak,
    tts_entries,
    watch,
)

from mock_soniox.testing.pytest_plugin import MockSoniox

from .conftest import other_tasks

# --- 10: idle rotation counts from the last sentence sent, not from the last input chunk ---


async def test_trickling_tokens_do_not_postpone_idle_rotation(mock_soniox: MockSoniox) -> None:
    async with (
        make_tts(mock_soniox, stream_idle_timeout=0.3) as t,
        watch(mock_soniox) as journal,
        t.stream(conn_options=FAST) as stream,
    ):
        stream.push_text("The first sentence is complete. ")
        await journal.until(lambda e: count(e, "c2s", "text") == 1)
        trickling = True

        async def trickle() -> None:
            # An LLM producing tokens of a sentence that never ends within the idle timeout.
            while trickling:
                stream.push_text(" and")
                await asyncio.sleep(0.05)

        feeder = asyncio.create_task(trickle())
        try:
            # The open Soniox stream gets its text_end ~0.3 s after its last sentence went out.
            await journal.until(lambda e: count(e, "c2s", "text_end") == 1, within_s=2.0)
        finally:
            trickling = False
            await feeder
        stream.push_text(" so it ends.")
        stream.end_input()
        await collect(stream)


# --- 11: a per-stream error on a healthy socket is replayed on that socket ---


@pytest.mark.parametrize("spec", ["error:code=429,stream=1", "error:code=503,stream=1"])
async def test_per_stream_failure_is_replayed_on_the_same_connection(
    mock_soniox: MockSoniox, spec: str
) -> None:
    async with make_tts(mock_soniox, spec) as t:
        heard = await speak(t, "Short and sweet.")
    entries = tts_entries(mock_soniox)
    assert count(entries, "c2s", "config") == 2  # the failed stream and its replay
    assert len(connections(entries)) == 1  # no new websocket for a per-stream error
    assert heard.duration_ms == pytest.approx(expected_ms("Short and sweet."), abs=60)


async def test_a_lost_connection_is_not_used_for_the_replay(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "drop:after_frames=2,times=1") as t:
        await speak(t, "Short and sweet. And one more.")
    assert len(connections(tts_entries(mock_soniox))) == 2


# --- 12: internal replays respect conn_options.max_retry ---


@pytest.mark.parametrize("max_retry", [0, 1])
async def test_replays_stay_within_max_retry(mock_soniox: MockSoniox, max_retry: int) -> None:
    options = APIConnectOptions(max_retry=max_retry, retry_interval=0.01, timeout=5.0)
    async with make_tts(mock_soniox, "error:code=503") as t:  # every stream fails
        stream = t.stream(conn_options=options)
        stream.push_text("This never gets through.")
        stream.end_input()
        with pytest.raises(APIStatusError):
            await collect(stream)
        await stream.aclose()
    # Each livekit attempt makes at most max_retry replays: (1 + max_retry) ** 2 streams in all.
    assert count(tts_entries(mock_soniox), "c2s", "config") == (1 + max_retry) ** 2


# --- 9: the worker's HTTP session, and a TTS nobody closes leaves nothing behind ---


async def test_uses_the_workers_http_session_and_cleans_up_unclosed(
    mock_soniox: MockSoniox,
) -> None:
    from livekit.agents import utils
    from livekit.plugins import soniox

    worker_session = utils.http_context.http_session()
    t = soniox.TTS(api_key="k", websocket_url=mock_soniox.tts_url, connection_idle_timeout=0.1)
    async with watch(mock_soniox) as journal:
        heard = await speak(t, "Nobody closes this one.")
        # AgentSession never calls TTS.aclose(): idle sockets must close on their own.
        await journal.until(lambda e: count(e, "event", "closed") == 1)
    assert heard.duration_ms > 0
    assert t._ensure_session() is worker_session  # its proxy settings, closed by the worker
    async with asyncio.timeout(5):  # the client side of that close finishes by itself
        while leftover := other_tasks():
            await asyncio.wait(leftover)


# --- 8: sentences as livekit's tokenizer sees them (CJK without spaces, abbreviations...) ---


@pytest.mark.parametrize(
    ("pieces", "sentences"),
    [
        (["你好。", "今天天气很好！", "我们"], ["你好。", "今天天气很好！"]),
        (["こんにちは。", "元気ですか？", "はい"], ["こんにちは。", "元気ですか？"]),
        (
            ["I live in the U.", "S. now. It costs 3.", "50 dollars. And"],
            ["I live in the U.S. now.", "It costs 3.50 dollars."],
        ),
        (
            ["See https://example.com/a.b for", " more. Then"],
            ["See https://example.com/a.b for more."],
        ),
    ],
)
async def test_sentences_go_out_as_soon_as_the_tokenizer_ends_them(
    mock_soniox: MockSoniox, pieces: list[str], sentences: list[str]
) -> None:
    async with (
        make_tts(mock_soniox) as t,
        watch(mock_soniox) as journal,
        t.stream(conn_options=FAST) as stream,
    ):
        for piece in pieces:
            stream.push_text(piece)
        # Before the input ends, the complete sentences are already on the wire, whole.
        entries = await journal.until(lambda e: count(e, "c2s", "text") == len(sentences))
        texts = [e.data["text"] for e in entries if e.direction == "c2s" and e.kind == "text"]
        assert [x.strip() for x in texts] == sentences
        stream.end_input()
        await collect(stream)


async def test_a_custom_tokenizer_is_used(mock_soniox: MockSoniox) -> None:
    from livekit.agents import tokenize
    from livekit.agents.tokenize.tokenizer import SentenceStream

    class EveryComma(tokenize.SentenceTokenizer):
        def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
            return [p for p in text.replace(",", ",\\0").split("\\0") if p]

        def stream(self, *, language: str | None = None) -> SentenceStream:
            raise NotImplementedError

    async with (
        make_tts(mock_soniox, tokenizer=EveryComma()) as t,
        watch(mock_soniox) as j,
        t.stream(conn_options=FAST) as stream,
    ):
        stream.push_text("one, two, three")
        await j.until(lambda e: count(e, "c2s", "text") == 2)
        stream.end_input()
        await collect(stream)
