"""The STT endpoint (``/transcribe-websocket``): one session per connection.

``config`` validates the first frame, ``clock`` turns audio bytes into milliseconds, ``source``
is the seam result frames come from (``synth`` invents a transcript; fixture replay plugs in
there), ``session`` runs the connection: timers, limits, control messages, result frames.
"""
