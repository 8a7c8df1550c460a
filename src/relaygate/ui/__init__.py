"""The web dashboard at `/ui`: static files (HTML, CSS, JavaScript modules) that talk to the admin
JSON API from the browser. The gateway serves them itself, from memory; nothing comes from outside."""

from relaygate.ui.assets import dashboard_routes

__all__ = ["dashboard_routes"]
