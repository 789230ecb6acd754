"""The TTS endpoint (``/tts-websocket``): up to five concurrent streams per connection.

``config`` validates stream configs and messages, ``source`` is the seam speech comes from
(synthetic, or a fixture's), ``encoder`` turns speech into the output format's audio frames,
``stream`` runs one stream's producer task, ``session`` routes a connection's frames to streams.
"""
