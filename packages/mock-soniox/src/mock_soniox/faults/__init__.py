"""Fault injection: one grammar, ``NAME[:key=value[,key=value...]]``, armed three ways.

A connection carries specs in its URL (``?fault=SPEC``, repeatable) or in ``X-Mock-Fault`` headers;
tests and the admin API add global rules to the :class:`FaultRegistry`. At the handshake the
registry decides which faults this connection gets (``times=N`` and ``p=F,seed=S`` are settled
there, once per connection), and a :class:`ConnectionFaults` plan then fires them as the
connection's progress counters reach their triggers.

Where things live: the grammar in :mod:`.spec`, global rules in :mod:`.registry`, firing in
:mod:`.engine`. A new fault is a name and its keys in ``spec._KEYS`` plus its effect in
``engine.ConnectionFaults._fire`` (connection faults) or the TTS stream (stream faults).
"""

from .engine import ConnectionFaults, FaultTarget, HandshakeFaults, StreamFault
from .registry import FaultRegistry, FaultRule
from .spec import (
    CONNECTION_FAULTS,
    ENDPOINTS,
    FAULT_NAMES,
    SENDABLE_CLOSE_CODES,
    STREAM_FAULTS,
    FaultSpec,
    FaultSpecError,
    check_applicable,
    grammar,
    parse_fault,
    parse_faults,
)

__all__ = [
    "CONNECTION_FAULTS",
    "ENDPOINTS",
    "FAULT_NAMES",
    "SENDABLE_CLOSE_CODES",
    "STREAM_FAULTS",
    "ConnectionFaults",
    "FaultRegistry",
    "FaultRule",
    "FaultSpec",
    "FaultSpecError",
    "FaultTarget",
    "HandshakeFaults",
    "StreamFault",
    "check_applicable",
    "grammar",
    "parse_fault",
    "parse_faults",
]
