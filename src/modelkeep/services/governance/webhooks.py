"""Webhooks: deliver the events outbox to subscribers, signed, retried, logged and replayable.

Events are written by :mod:`modelkeep.services.governance.audit` in the same transaction as the change, so
a crash between a change and its notification loses nothing: :func:`Webhooks.dispatch` fans new
events out into ``deliveries`` (one per matching webhook, idempotently) and posts the due ones.

Each POST carries ``X-Modelkeep-Event``, ``X-Modelkeep-Delivery`` and
``X-Modelkeep-Signature: sha256=HMAC(secret, body)``. A webhook's secret is derived from the
server key (``HMAC(key, "webhook:<id>")``), shown once at creation, and never stored. Failures
are retried with exponential backoff (``RETRY_DELAYS``); after the last one the delivery is
``failed`` and stays in the log until replayed. ``format="slack"`` posts a payload that
Slack-compatible incoming webhooks accept (``{"text": ...}``); ``format="openlineage"`` posts the
OpenLineage event of each ``run.started``/``run.ended`` (to a Marquez-shaped endpoint), rendered
by the ``render`` the workspace gives (as the event's actor). ``format="mlflow"`` is a webhook made
through MLflow's webhooks API: MLflow's events, bodies and signature
(:mod:`modelkeep.services.governance.mlflow_webhooks`), with the secret its creator chose, kept
sealed (AES-GCM under a key derived from the server key), never in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Delivery, Event, Webhook
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit, mlflow_webhooks
from modelkeep.services.governance.access import Access
from modelkeep.services.governance.webhook_views import WebhookView, delivery_row

if TYPE_CHECKING:
    import httpx  # imported when a delivery goes out: 150 ms a server would spend starting

FORMATS = ("json", "slack", "openlineage", "words", "mlflow")
TEST_BODY_LIMIT = 10_000  # characters of a test delivery's answer kept
OPENLINEAGE_EVENTS = ("run.started", "run.ended")
RETRY_DELAYS = [1, 5, 30, 120, 600, 3600]  # seconds after attempt 1, 2, ...


def load_key(path: Path) -> bytes:
    """The server key (created on first use, mode 0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def sign(secret: str, body: bytes) -> str:
    """The legacy ``X-Modelkeep-Signature`` (HMAC-SHA256 of the body with the hex secret)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_secret(secret: str) -> str:
    """The same 32 secret bytes in the Standard Webhooks form (``whsec_`` + base64)."""
    return "whsec_" + base64.b64encode(bytes.fromhex(secret)).decode()


def standard_headers(secret: str, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (over id.timestamp.body), as
    the Standard Webhooks specification has them, so stock verifiers work; a verifier refuses a
    timestamp older than its tolerance (5 minutes), so a captured delivery cannot be replayed."""
    from standardwebhooks.webhooks import Webhook as Signer

    signature = Signer(standard_secret(secret)).sign(message_id, now, body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}


def slack_payload(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail", {})
    extra = ", ".join(f"{k}={v}" for k, v in detail.items() if k in ("alias", "version", "previous", "status", "request"))
    message = f" — {detail['message']}" if isinstance(detail.get("message"), str) and detail["message"] else ""
    return {"text": f":package: *{event['event']}* {event['target']} by {event['actor']}" + (f" ({extra})" if extra else "")
            + message}


BUMPS = ("major", "minor", "patch", "data", "experiment", "initial")


def _sealer(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(hmac.new(key, b"modelkeep webhook secrets", hashlib.sha256).digest())


def seal(key: bytes, secret: str) -> str:
    """A webhook's own secret as stored: AES-GCM under a key derived from the server key."""
    nonce = secrets.token_bytes(12)
    return base64.b64encode(nonce + _sealer(key).encrypt(nonce, secret.encode(), b"webhook secret")).decode()


def unseal(key: bytes, sealed: str) -> str:
    """The secret ``seal`` kept; refused when the server key is not the one that sealed it."""
    from cryptography.exceptions import InvalidTag

    raw = base64.b64decode(sealed)
    try:
        return _sealer(key).decrypt(raw[:12], raw[12:], b"webhook secret").decode()
    except InvalidTag:
        raise InvalidInput("this webhook's secret was sealed under another server key (server.key changed): "
                           "set its secret again (MLflow's update_webhook)") from None


@dataclass(frozen=True)
class WebhookTestResult:
    """What one test delivery got back (as MLflow's ``WebhookTestResult``)."""

    success: bool
    status: int | None = None
    body: str | None = None
    error: str | None = None


def _http_error() -> type[Exception]:
    import httpx

    return httpx.HTTPError


def _check_url(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"webhook URL {url!r} must start with http:// or https://")


def _check_events(format: str, events: list[str]) -> list[str]:
    """The events a webhook of ``format`` may carry, sorted; anything else is refused, naming what is valid."""
    if format == "mlflow":
        return mlflow_webhooks.check_events(events)
    unknown = set(events) - set(audit.EVENT_TYPES) - {"*"}
    if unknown or not events:
        raise InvalidInput(f"unknown events {sorted(unknown)}; valid: {', '.join(audit.EVENT_TYPES)} or *")
    if format == "openlineage" and not set(events) <= set(OPENLINEAGE_EVENTS):
        raise InvalidInput(f"an openlineage webhook carries run events only: --events {','.join(OPENLINEAGE_EVENTS)}")
    return sorted(events)


def _check_name(name: str) -> str:
    if not name.strip() or len(name) > 256:
        raise InvalidInput(f"webhook name {name!r}: 1 to 256 characters")
    return name


def watched(subject: str | None, target: str) -> bool:
    """Whether an event's target (``model:fraud@1.2.0``) is about a watch's ``model:fraud`` (or any, unset)."""
    return not subject or target == subject or target.startswith(subject + "@")


class Webhooks:
    def __init__(self, db: Database, access: Access, key: bytes, *, client: httpx.Client | None = None,
                 renderers: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] | None = None) -> None:
        self.db = db
        # format -> an outbox event as that format's body (None: nothing to send): "openlineage", "words"
        self.renderers = dict(renderers or {})
        self.access = access
        self.key = key
        self._client = client

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=10.0)
        return self._client

    def secret(self, webhook_id: int) -> str:
        return hmac.new(self.key, f"webhook:{webhook_id}".encode(), hashlib.sha256).hexdigest()

    def add(self, url: str, events: list[str], *, format: str = "json", subject: str | None = None,
            bumps: list[str] | None = None) -> dict[str, Any]:
        """A subscriber (admin); with ``subject`` (``model:NAME``, ``dataset:NAME``) a watch of that
        one model or dataset, which anyone who may read it can set up."""
        if subject is None:
            self.access.check("admin")
        else:
            kind, _, name = subject.partition(":")
            if kind not in ("model", "dataset") or not name:
                raise InvalidInput(f"watch subject {subject!r}: model:NAME or dataset:NAME")
            self.access.check("model.read" if kind == "model" else "data.read", **({"model": name} if kind == "model" else {}))
        if format == "mlflow":
            raise InvalidInput("an MLflow webhook is made through MLflow's webhooks API (/api/2.0/mlflow/webhooks)")
        _check_url(url)
        if format not in FORMATS:
            raise InvalidInput(f"format {format!r}: one of {', '.join(FORMATS)}")
        _check_events(format, events)
        unknown_bumps = set(bumps or []) - set(BUMPS)
        if unknown_bumps:
            raise InvalidInput(f"bumps {sorted(unknown_bumps)}: any of {', '.join(BUMPS)}")
        with self.db.writer() as session, session.begin():
            hook = Webhook(url=url, events=sorted(events), format=format, subject=subject, active=True,
                           bumps=sorted(bumps) if bumps else None, created_at=utcnow())
            session.add(hook)
            session.flush()
            audit.append(session, self.access.actor, "webhook.add", f"webhook:{hook.id}",
                         detail={"url": url, "events": events, "subject": subject, "bumps": bumps})
            secret = self.secret(hook.id)
            return {"id": hook.id, "url": url, "events": hook.events, "format": format, "secret": secret,
                    "standard_secret": standard_secret(secret)}

    def add_mlflow(self, name: str, url: str, events: list[str], *, description: str | None = None,
                   secret: str | None = None, active: bool = True) -> WebhookView:
        """A webhook made through MLflow's API (admin): MLflow's events, bodies and signature."""
        self.access.check("admin")
        _check_url(url)
        wanted = mlflow_webhooks.check_events(events)
        now = utcnow()
        with self.db.writer() as session, session.begin():
            hook = Webhook(url=url, events=wanted, format="mlflow", active=active, name=_check_name(name),
                           description=description or None, secret_sealed=seal(self.key, secret) if secret else None,
                           created_at=now, updated_at=now)
            session.add(hook)
            session.flush()
            audit.append(session, self.access.actor, "webhook.add", f"webhook:{hook.id}",
                         detail={"url": url, "events": wanted, "format": "mlflow", "name": name})
            return WebhookView.of(hook)

    def hooks(self) -> list[WebhookView]:
        """Every webhook, oldest first (admin)."""
        self.access.check("admin")
        with self.db.reader() as session:
            return [WebhookView.of(row) for row in session.scalars(select(Webhook).order_by(Webhook.id))]

    def hook(self, webhook_id: int, *, only: str | None = None) -> WebhookView:
        """One webhook (admin); with ``only``, one of that format or none (MLflow's API sees its own)."""
        self.access.check("admin")
        with self.db.reader() as session:
            return WebhookView.of(self._row(session, webhook_id, only))

    @staticmethod
    def _row(session: Any, webhook_id: int, only: str | None = None) -> Webhook:
        row = session.get(Webhook, webhook_id) if 0 < webhook_id < 2**63 else None
        if row is None:
            raise NotFound(f"webhook {webhook_id} does not exist", hint="see 'mk webhook list'")
        if only is not None and row.format != only:
            raise NotFound(f"webhook {webhook_id} is not a {only} webhook", hint="see 'mk webhook list'")
        return row

    def update(self, webhook_id: int, *, name: str | None = None, description: str | None = None, url: str | None = None,
               events: list[str] | None = None, secret: str | None = None, active: bool | None = None,
               only: str | None = None) -> WebhookView:
        """Change what is given (admin); ``secret=""`` leaves an MLflow webhook unsigned."""
        self.access.check("admin")
        with self.db.writer() as session, session.begin():
            row = self._row(session, webhook_id, only)
            if url is not None:
                _check_url(url)
                row.url = url
            if events is not None:
                row.events = _check_events(row.format, events)
            if secret is not None:
                if row.format != "mlflow":
                    raise InvalidInput("this webhook's secret is derived from the server key: it cannot be set")
                row.secret_sealed = seal(self.key, secret) if secret else None
            if name is not None:
                row.name = _check_name(name)
            if description is not None:
                row.description = description or None
            if active is not None:
                row.active = active
            row.updated_at = utcnow()
            audit.append(session, self.access.actor, "webhook.update", f"webhook:{webhook_id}", detail={
                "url": url, "events": events, "name": name, "active": active, "secret": None if secret is None else bool(secret)})
            session.flush()
            return WebhookView.of(row)

    def remove(self, webhook_id: int, *, only: str | None = None) -> None:
        """Delete a webhook and its delivery log (admin)."""
        self.access.check("admin")
        with self.db.writer() as session, session.begin():
            row = self._row(session, webhook_id, only)
            session.execute(delete(Delivery).where(Delivery.webhook_id == webhook_id))
            session.delete(row)
            audit.append(session, self.access.actor, "webhook.remove", f"webhook:{webhook_id}", detail={"url": row.url})

    def test(self, webhook_id: int, event: str | None = None, *, only: str | None = None) -> WebhookTestResult:
        """Send one example delivery now, as the webhook would get it (admin); nothing is logged."""
        self.access.check("admin")
        with self.db.reader() as session:
            hook = self._row(session, webhook_id, only)
            session.expunge(hook)
        now = datetime.now(UTC)
        if hook.format == "mlflow":
            chosen = mlflow_webhooks.check_events([event])[0] if event else hook.events[0]
            secret = unseal(self.key, hook.secret_sealed) if hook.secret_sealed else None
            body, headers = mlflow_webhooks.request(chosen, mlflow_webhooks.EXAMPLES[chosen], secret, str(uuid.uuid4()), now)
        elif hook.format in ("json", "slack"):
            if event is not None and event not in audit.EVENT_TYPES:
                raise InvalidInput(f"event {event!r}: one of {', '.join(audit.EVENT_TYPES)}")
            kind = event or "webhook.test"
            payload = {"event": kind, "at": now.replace(tzinfo=None).isoformat() + "Z", "actor": self.access.actor,
                       "target": f"webhook:{webhook_id}", "detail": {"test": True}}
            body, headers = self._signed(hook, self._body(hook.format, payload) or {}, f"msg_test_{uuid.uuid4().hex}",
                                         kind, "test", now)
        else:
            raise InvalidInput(f"a {hook.format} webhook carries rendered events only: it has no test delivery")
        try:
            response = self.client.post(hook.url, content=body, headers=headers)
        except _http_error() as exc:
            return WebhookTestResult(False, error=f"{type(exc).__name__}: {exc}")
        return WebhookTestResult(response.status_code < 400, response.status_code, response.text[:TEST_BODY_LIMIT])

    def _signed(self, hook: Webhook, doc: dict[str, Any], message_id: str, event: str, delivery: str,
                now: datetime) -> tuple[bytes, dict[str, str]]:
        """A modelkeep delivery: the JSON body, signed both ways (ours and Standard Webhooks')."""
        body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        secret = self.secret(hook.id)
        return body, {"Content-Type": "application/json", "X-Modelkeep-Event": event, "X-Modelkeep-Delivery": delivery,
                      "X-Modelkeep-Signature": sign(secret, body), **standard_headers(secret, message_id, body, now)}

    def _request(self, hook: Webhook, delivery: Delivery, event: Event) -> tuple[bytes, dict[str, str]] | None:
        """What to post for one delivery (None: nothing to say in the webhook's format)."""
        now = datetime.now(UTC)
        if hook.format == "mlflow":
            kind, data = mlflow_webhooks.event_of(event.payload), self._body("mlflow", event.payload)
            if kind is None or data is None:
                return None
            secret = unseal(self.key, hook.secret_sealed) if hook.secret_sealed else None  # or refused
            # the same delivery id on every attempt: a receiver can drop a repeat
            delivery_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelkeep:delivery:{delivery.id}:{hook.created_at.isoformat()}"))
            return mlflow_webhooks.request(kind, data, secret, delivery_id, now)
        doc = self._body(hook.format, event.payload)
        if doc is None:  # e.g. the run was deleted before its event went out
            return None
        return self._signed(hook, doc, f"msg_{delivery.id}", event.type, str(delivery.id), now)

    @staticmethod
    def _wants(hook: Webhook, event: Event) -> bool:
        if hook.format == "mlflow":
            return mlflow_webhooks.event_of(event.payload) in hook.events
        return ("*" in hook.events or event.type in hook.events) and watched(
            hook.subject, str(event.payload.get("target", ""))) and (
            not hook.bumps or event.type != "version.created" or (event.payload.get("detail") or {}).get("bump") in hook.bumps)

    def _fan_out(self) -> None:
        """Create a delivery for every (event, matching active webhook) pair not yet planned."""
        with self.db.writer() as session, session.begin():
            hooks = session.scalars(select(Webhook).where(Webhook.active.is_(True))).all()
            if not hooks:
                return
            newest = {h.id: session.scalar(select(Delivery.event_id).where(Delivery.webhook_id == h.id)
                                           .order_by(Delivery.event_id.desc()).limit(1)) or 0 for h in hooks}
            since = min(newest.values())
            rows = []
            for event in session.scalars(select(Event).where(Event.id > since).order_by(Event.id)):
                for hook in hooks:
                    if event.id > newest[hook.id] and event.created_at >= hook.created_at and self._wants(hook, event):
                        rows.append({"event_id": event.id, "webhook_id": hook.id, "status": "pending", "attempts": 0,
                                     "next_attempt_at": utcnow()})
            if rows:
                session.execute(insert(Delivery), rows)

    def dispatch(self, *, limit: int = 100) -> dict[str, int]:
        """Plan new deliveries and attempt the due ones once; returns counts."""
        self._fan_out()
        counts = {"delivered": 0, "retrying": 0, "failed": 0}
        with self.db.reader() as session:
            due = session.execute(
                select(Delivery, Event, Webhook)
                .join(Event, Event.id == Delivery.event_id)
                .join(Webhook, Webhook.id == Delivery.webhook_id)
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= utcnow())
                .order_by(Delivery.id).limit(limit)
            ).all()
        for delivery, event, hook in due:
            try:  # None: nothing to say in this format (e.g. the run was deleted before its event went out)
                prepared, outcome = self._request(hook, delivery, event), ("skipped", "nothing to send in this format")
            except InvalidInput as exc:  # it cannot go out as it is (a secret no key here opens): failed, logged
                prepared, outcome = None, ("failed", str(exc))
            if prepared is None:
                with self.db.writer() as session, session.begin():
                    row = session.get(Delivery, delivery.id)
                    assert row is not None
                    row.status, row.last_error = outcome
                counts["failed"] += outcome[0] == "failed"
                continue
            body, headers = prepared
            status, error = None, None
            try:
                response = self.client.post(hook.url, content=body, headers=headers)
                status = response.status_code
                ok = 200 <= status < 300
            except _http_error() as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            with self.db.writer() as session, session.begin():
                row = session.get(Delivery, delivery.id)
                assert row is not None
                row.attempts += 1
                row.last_status, row.last_error = status, error if not ok else None
                if ok:
                    row.status, row.delivered_at = "delivered", utcnow()
                    counts["delivered"] += 1
                elif row.attempts > len(RETRY_DELAYS):
                    row.status = "failed"
                    counts["failed"] += 1
                else:
                    row.next_attempt_at = utcnow() + timedelta(seconds=RETRY_DELAYS[row.attempts - 1])
                    counts["retrying"] += 1
        return counts

    def _body(self, format: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if format == "slack":
            return slack_payload(payload)
        if format in ("openlineage", "words", "mlflow"):
            render = self.renderers.get(format)
            if render is None:
                raise InvalidInput(f"this process cannot render {format} events")
            return render(payload)
        return payload

    def deliveries(self, webhook_id: int | None = None) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            query = select(Delivery, Event.type).join(Event, Event.id == Delivery.event_id).order_by(Delivery.id)
            if webhook_id is not None:
                query = query.where(Delivery.webhook_id == webhook_id)
            return [delivery_row(d.id, d.event_id, t, d.webhook_id, d.status, d.attempts, d.last_status, d.last_error)
                    for d, t in session.execute(query)]

    def replay(self, delivery_id: int) -> None:
        """Send a delivery again (whatever its state), once, on the next dispatch; its attempts keep
        counting (the log shows every real attempt) and it keeps its ``webhook-id``."""
        self.access.check("admin")
        with self.db.writer() as session, session.begin():
            row = session.get(Delivery, delivery_id)
            if row is None:
                raise NotFound(f"delivery {delivery_id} does not exist")
            row.status, row.next_attempt_at = "pending", utcnow()  # a failed one: one more attempt
            audit.append(session, self.access.actor, "webhook.replay", f"delivery:{delivery_id}")
