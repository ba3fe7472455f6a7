"""The deployment gateway (``mk serve``): serves a deployment's versions, routes, monitors,
analyses and rolls back. ``runtime`` holds the live state and the control loop, ``monitor``
the per-version measurements, ``app`` the HTTP interface (Open Inference Protocol v2 + JSON)."""
