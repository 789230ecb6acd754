"""Channel conversion, the queue to the sender and the replay buffer that makes reconnects
lossless."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc

from livekit.plugins.soniox._stt_audio import (
    FINALIZE,
    AudioOutbox,
    ReplayBuffer,
    frame_bytes,
    frame_to_pcm,
)


def frame(samples: list[list[int]], rate: int = 16000) -> rtc.AudioFrame:
    data = np.array(samples, dtype=np.int16)
    return rtc.AudioFrame(data.tobytes(), rate, data.shape[1], data.shape[0])


def test_matching_channels_pass_through() -> None:
    f = frame([[1], [2], [3]])
    assert frame_to_pcm(f, 1) == bytes(f.data)


def test_stereo_is_averaged_to_mono() -> None:
    out = np.frombuffer(frame_to_pcm(frame([[100, 300], [-10, -30]]), 1), dtype=np.int16)
    assert out.tolist() == [200, -20]


def test_mono_is_duplicated_to_stereo() -> None:
    out = np.frombuffer(frame_to_pcm(frame([[5], [7]]), 2), dtype=np.int16)
    assert out.tolist() == [5, 5, 7, 7]


def test_replay_buffer_forgets_what_is_covered() -> None:
    buf = ReplayBuffer(frame_bytes=2, max_bytes=100)
    buf.append(b"aabbccdd")
    buf.mark_covered(5)  # rounded down to a whole frame
    assert (buf.start, buf.pending()) == (4, b"ccdd")
    buf.mark_covered(2)  # never goes back
    assert buf.start == 4
    buf.mark_covered(1000)  # never beyond what was sent
    assert (buf.start, buf.end, buf.pending()) == (8, 8, b"")


def test_replay_buffer_is_bounded() -> None:
    buf = ReplayBuffer(frame_bytes=2, max_bytes=6)
    buf.append(b"aabb")
    buf.append(b"ccdd")
    assert buf.pending() == b"bbccdd"
    assert (buf.start, buf.dropped_bytes) == (2, 2)


def test_frame_bytes_is_the_samples_without_padding() -> None:
    padded = rtc.AudioFrame(b"\x01\x00\x02\x00\x03\x00", 16000, 1, 2)  # room for 3, holds 2
    assert bytes(frame_bytes(padded)) == b"\x01\x00\x02\x00"


async def test_outbox_batches_what_queued_up_in_order_and_bounded() -> None:
    outbox = AudioOutbox(max_chunk_bytes=6)
    for chunk in (b"aa", b"bb", b"cc", b"dd"):
        outbox.put_audio(chunk)  # the sender is busy: these queue up
    outbox.put_audio(b"")  # nothing to send
    outbox.put_finalize()
    outbox.put_audio(b"ee")
    outbox.close()
    got = [await outbox.get() for _ in range(5)]
    assert got == [b"aabbcc", b"dd", FINALIZE, b"ee", None]


async def test_outbox_wakes_an_idle_sender_for_a_lone_frame() -> None:
    outbox = AudioOutbox(max_chunk_bytes=100)
    sender = asyncio.create_task(outbox.get())
    await asyncio.sleep(0)  # the sender is now waiting
    outbox.put_audio(memoryview(b"xy"))
    assert await asyncio.wait_for(sender, 1) == b"xy"
