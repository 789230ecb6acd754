"""A scripted LLM: fixed replies, or a function of what the user said, streamed word by word."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from livekit.agents import llm
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

Script = Sequence[str] | Callable[[str], str]


@dataclass
class LLMCall:
    """One ``chat()`` the agent made: what the user had last said and what was answered."""

    user_text: str
    reply: str
    started_at: float
    """Event loop time of the call."""
    first_token_at: float | None = None


class ScriptedLLM(llm.LLM[Any]):
    """Answers from a script instead of a model.

    ``script`` is a list of replies used in turn (the last one repeats) or a function from the
    user's last message to the reply. Replies stream one word per chunk, ``word_delay_s`` apart
    (0 = as fast as the loop allows), after ``first_token_delay_s``.
    """

    def __init__(
        self,
        script: Script = ("Okay.",),
        *,
        first_token_delay_s: float = 0.0,
        word_delay_s: float = 0.0,
    ) -> None:
        super().__init__()
        if not callable(script) and not script:
            raise ValueError("script needs at least one reply")
        self._script = script
        self._count = itertools.count()
        self._first_delay = first_token_delay_s
        self._word_delay = word_delay_s
        self.calls: list[LLMCall] = []

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "mock_soniox"

    def reply_for(self, user_text: str) -> str:
        if callable(self._script):
            return self._script(user_text)
        n = next(self._count)
        return self._script[min(n, len(self._script) - 1)]

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        user_text = ""
        for item in reversed(chat_ctx.items):
            if isinstance(item, llm.ChatMessage) and item.role == "user":
                user_text = item.text_content or ""
                break
        call = LLMCall(
            user_text=user_text,
            reply=self.reply_for(user_text),
            started_at=asyncio.get_running_loop().time(),
        )
        self.calls.append(call)
        return _ScriptedStream(
            self, call, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


class _ScriptedStream(llm.LLMStream):
    def __init__(
        self,
        owner: ScriptedLLM,
        call: LLMCall,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(owner, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._owner = owner
        self._call = call

    async def _run(self) -> None:
        await asyncio.sleep(self._owner._first_delay)
        words = self._call.reply.split(" ")
        for i, word in enumerate(words):
            if i:
                await asyncio.sleep(self._owner._word_delay)
            if self._call.first_token_at is None:
                self._call.first_token_at = asyncio.get_running_loop().time()
            text = word if i == len(words) - 1 else word + " "
            self._event_ch.send_nowait(
                llm.ChatChunk(
                    id=f"scripted-{id(self._call)}",
                    delta=llm.ChoiceDelta(role="assistant", content=text),
                )
            )
