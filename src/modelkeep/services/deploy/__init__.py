"""Deployments: pinned records of what serves traffic, how it rolls out, and when it rolls back.

``spec`` (the record's shape), ``routing`` (sticky bucket routing), ``analysis`` (per-window
checks, attribution and the rollback verdict), ``deployments`` (the service: create, update,
advance, rollback, history, all audited) and ``predictor`` (loading a pinned arm to a callable).
The gateway (``modelkeep.gateway``) is the interface that serves them.
"""
