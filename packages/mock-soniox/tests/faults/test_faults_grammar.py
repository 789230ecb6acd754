"""The fault grammar and the registry's ``times``/``p`` bookkeeping (no server needed)."""

from __future__ import annotations

import pytest

from mock_soniox.faults import (
    FaultRegistry,
    FaultSpecError,
    check_applicable,
    parse_fault,
    parse_faults,
)


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("drop", "drop"),
        ("refuse:status=503", "refuse:status=503"),
        (" close : after_ms=250 , code=1011 ", "close:code=1011,after_ms=250"),
        ("error:code=408,stream=2", "error:code=408,stream=2"),
        ("slow:rtf=2.5", "slow:rtf=2.5"),
        ("drop:times=2,after_frames=3", "drop:after_frames=3,times=2"),
        ("stall:endpoint=tts,seed=7,p=0.5", "stall:p=0.5,seed=7,endpoint=tts"),
        ("delay:ms=20.0", "delay:ms=20"),
    ],
)
def test_specs_parse_to_one_canonical_form(spec: str, canonical: str) -> None:
    assert parse_fault(spec).text == canonical


def test_parsed_values_are_typed() -> None:
    spec = parse_fault("close:code=4001,after_ms=12.5,times=3")
    assert spec.name == "close"
    assert spec.get("code") == 4001
    assert spec.get("times") == 3
    assert spec.trigger == ("after_ms", 12.5)
    assert parse_fault("drop").trigger is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty fault spec"),
        ("explode", "unknown fault 'explode'.*known: refuse, delay_accept, drop"),
        ("close:code", "expected key=value, got 'code'"),
        ("close:colour=red", "close takes no 'colour'; it takes code, after_ms"),
        ("close:code=abc", "code must be an integer, got 'abc'"),
        ("close:code=1000,code=1001", "'code' given twice"),
        ("error", r"error needs code=\.\.\."),
        ("slow:rtf=0", "rtf must be a positive number"),
        ("refuse:status=200", r"status must be an HTTP error status \(400-599\)"),
        ("drop:p=1.5", "p must be between 0 and 1"),
        ("drop:times=0", "times must be an integer >= 1"),
        ("drop:after_ms=-1", "after_ms must be a finite number >= 0"),
        ("drop:after_ms=5,after_frames=2", "give at most one of after_ms, after_frames"),
        ("stall:endpoint=rest", "endpoint must be stt or tts"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(spec)


def test_several_specs_in_one_value_are_separated_by_semicolons() -> None:
    specs = parse_faults(["drop:after_frames=2; delay:ms=5", "stall"])
    assert [s.text for s in specs] == ["drop:after_frames=2", "delay:ms=5", "stall"]


@pytest.mark.parametrize(
    ("spec", "endpoint", "message"),
    [
        ("no_audio_end", "stt", "no_audio_end is a TTS fault"),
        ("slow:rtf=2", "stt", "slow is a TTS fault"),
        ("conn_error:code=500", "stt", "conn_error is a TTS fault"),
        ("drop:after_streams=1", "stt", "STT connections have no streams"),
        ("error:code=500,after_ms=100", "tts", "use conn_error for the connection"),
        ("stall:endpoint=tts", "stt", "limited to endpoint=tts"),
        ("close:code=1006", "tts", "use drop for 1006"),
        ("close:code=1005", "stt", "not a close code a server can send"),
        ("error:code=1011", "stt", "error codes are 400-599"),
    ],
)
def test_specs_an_endpoint_cannot_honour_are_refused(
    spec: str, endpoint: str, message: str
) -> None:
    with pytest.raises(FaultSpecError, match=message):
        check_applicable(parse_fault(spec), endpoint)


def test_times_heals_after_n_connections_carrying_the_same_spec() -> None:
    registry = FaultRegistry()
    spec = parse_fault("refuse:status=503,times=2")
    same_spec_reordered = parse_fault("refuse:times=2,status=503")
    armed = [registry.arm("stt", [s]) for s in (spec, same_spec_reordered, spec, spec)]
    assert [len(a) for a in armed] == [1, 1, 0, 0]


def test_times_counts_each_spec_separately() -> None:
    registry = FaultRegistry()
    a, b = parse_fault("drop:times=1"), parse_fault("stall:times=1")
    assert registry.arm("tts", [a]) == [a]
    assert registry.arm("tts", [b]) == [b]
    assert registry.arm("tts", [a, b]) == []


def test_a_bad_spec_among_good_ones_moves_no_count() -> None:
    registry = FaultRegistry()
    good, bad = parse_fault("drop:times=1"), parse_fault("no_audio_end")
    with pytest.raises(FaultSpecError):
        registry.arm("stt", [good, bad])
    assert registry.arm("stt", [good]) == [good]


def test_probability_is_seeded_and_repeatable() -> None:
    def pattern() -> list[bool]:
        registry = FaultRegistry()
        spec = parse_fault("drop:p=0.5,seed=42")
        return [bool(registry.arm("stt", [spec])) for _ in range(40)]

    first = pattern()
    assert first == pattern()
    assert 5 < sum(first) < 35  # really a coin, not always or never


def test_probability_and_times_together_fire_at_most_n_times() -> None:
    registry = FaultRegistry()
    spec = parse_fault("drop:p=0.5,seed=1,times=3")
    fired = sum(bool(registry.arm("stt", [spec])) for _ in range(100))
    assert fired == 3


def test_global_rules_apply_only_where_they_can() -> None:
    registry = FaultRegistry()
    rule = registry.add("no_audio_end:stream=1")
    assert registry.arm("stt", []) == []
    assert registry.arm("tts", []) == [rule.spec]
    assert rule.fired == 1


def test_global_rule_heals_and_says_so() -> None:
    registry = FaultRegistry()
    rule = registry.add("close:code=1011,times=1")
    assert registry.arm("stt", []) == [rule.spec]
    assert registry.arm("tts", []) == []
    assert rule.describe() == {
        "id": rule.id,
        "spec": "close:code=1011,times=1",
        "fired": 1,
        "healed": True,
    }


def test_global_rule_with_impossible_code_is_refused_when_added() -> None:
    registry = FaultRegistry()
    with pytest.raises(FaultSpecError, match="use drop for 1006"):
        registry.add("close:code=1006")
    assert registry.rules() == []


def test_clear_forgets_rules_and_counts() -> None:
    registry = FaultRegistry()
    spec = parse_fault("drop:times=1")
    registry.add("stall")
    registry.arm("stt", [spec])
    registry.clear()
    assert registry.rules() == []
    assert registry.arm("stt", [spec]) == [spec]
