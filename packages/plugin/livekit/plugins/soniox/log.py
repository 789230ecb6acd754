"""The plugin's logger. Nothing the plugin logs ever contains the API key."""

import logging

logger = logging.getLogger("livekit.plugins.soniox")
