"""STT result messages: first-result and final-transcript timing, and failures."""

from soniox_loadtest.stt_session import STTSessionState


def tokens(*items: tuple[str, bool, int]) -> dict[str, object]:
    return {
        "tokens": [
            {"text": text, "is_final": final, "start_ms": end - 100, "end_ms": end}
            for text, final, end in items
        ],
        "final_audio_proc_ms": 0,
        "total_audio_proc_ms": 0,
    }


def test_first_result_waits_for_real_tokens_and_final_transcript_for_finished() -> None:
    state = STTSessionState(audio_started_at=100.0)
    state.on_message({"tokens": [], "final_audio_proc_ms": 0, "total_audio_proc_ms": 120}, 100.1)
    assert state.first_result_ms is None  # progress-only messages are not results
    state.on_message(tokens(("Hel", False, 300)), 100.4)
    state.on_message(tokens(("Hello", True, 300), (" there", False, 700)), 100.9)
    state.on_message({"tokens": [{"text": "<end>", "is_final": True}]}, 101.0)
    state.audio_done_at = 102.0
    state.on_message(tokens((" there", True, 700)), 102.1)
    state.on_message({"tokens": [], "finished": True}, 102.25)
    assert state.done and state.failure is None
    assert round(state.first_result_ms or 0) == 400
    assert round(state.final_transcript_ms or 0) == 250
    assert state.transcript == "Hello there"
    # "Hello" ended 300 ms into the audio and was final 900 ms after audio started.
    assert [round(lag) for lag in state.final_lags_ms] == [600, 1400]


def test_an_error_message_fails_the_session_with_its_code() -> None:
    state = STTSessionState(0.0)
    state.on_message(
        {"error_code": 429, "error_type": "limit_exceeded", "error_message": "too many"}, 1.0
    )
    assert state.done and state.failure is not None and state.failure.label == "429"


def test_a_close_before_finished_is_a_failure_but_after_it_is_not() -> None:
    cut = STTSessionState(0.0)
    cut.on_closed("closed by server (1011)", 1.0)
    assert cut.failure is not None and cut.failure.label == "connection lost"
    clean = STTSessionState(0.0)
    clean.on_message({"tokens": [], "finished": True}, 1.0)
    clean.on_closed("closed by server (1000)", 1.1)
    assert clean.failure is None


def test_a_message_without_tokens_is_malformed() -> None:
    state = STTSessionState(0.0)
    state.on_message({"final_audio_proc_ms": 0}, 1.0)
    assert state.failure is not None and str(state.failure) == "result without tokens"
