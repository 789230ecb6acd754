"""What simulated agents say and when: think time, reply lengths, LLM token pacing (pure)."""

from __future__ import annotations

import itertools
import random

SENTENCES = (
    "Thanks for calling, how can I help you today? ",
    "Your order shipped this morning and should arrive on Thursday. ",
    "I can move the appointment to three thirty if that works better. ",
    "Let me check that for you, it will only take a moment. ",
    "The total comes to forty two dollars and fifteen cents. ",
    "Is there anything else I can do for you before we finish? ",
)
_turns = itertools.count()


def think_time(mean_s: float, jitter: float, rng: random.Random) -> float:
    """Uniform in mean*(1-j)..mean*(1+j), so users drift apart instead of moving in waves."""
    spread = max(0.0, min(jitter, 1.0)) * mean_s
    return max(0.0, rng.uniform(mean_s - spread, mean_s + spread))


def reply_chunks(
    sentences: tuple[int, int], tokens_per_s: float, rng: random.Random
) -> tuple[str, ...]:
    """One agent reply of MIN..MAX sentences: whole sentences, or word by word (LLM tokens)."""
    start = next(_turns)
    count = rng.randint(*sentences)
    texts = [SENTENCES[(start + i) % len(SENTENCES)] for i in range(count)]
    if tokens_per_s <= 0:
        return tuple(texts)
    return tuple(word + " " for text in texts for word in text.split())


def text_gap_s(text_gap_ms: float, tokens_per_s: float) -> float:
    """Pause between text chunks: one token's time at the LLM rate, else the sentence gap."""
    return 1.0 / tokens_per_s if tokens_per_s > 0 else text_gap_ms / 1000.0
