"""Events through the outbox to a real HTTP receiver: signed, retried, logged, replayable."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sqlalchemy import update

from modelkeep.errors import Conflict, InvalidInput
from modelkeep.meta.tables import Delivery
from modelkeep.services.clock import utcnow
from modelkeep.services.workspace import Workspace


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = 500 if receiver.fail_next > 0 else 200
                receiver.fail_next -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _due_now(workspace: Workspace) -> None:
    with workspace.db.writer() as session, session.begin():
        session.execute(update(Delivery).values(next_attempt_at=utcnow()))


def test_signed_retried_logged_and_replayed(workspace: Workspace, receiver: Receiver, tmp_path: Path) -> None:
    hooks = workspace.webhooks
    hook = hooks.add(receiver.url, ["version.created", "alias.moved"])
    art = tmp_path / "m.bin"
    art.write_text("x")
    workspace.registry.register("fraud", art)
    workspace.registry.set_alias("fraud@latest", "staging")
    receiver.fail_next = 1  # the first attempt fails: it must be retried
    assert hooks.dispatch() == {"delivered": 1, "retrying": 1, "failed": 0}
    _due_now(workspace)
    assert hooks.dispatch()["delivered"] == 1
    events = [json.loads(body)["event"] for _, body in receiver.requests]
    assert sorted(set(events)) == ["alias.moved", "version.created"]
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Modelkeep-Signature"] == expected
    log = hooks.deliveries()
    assert [d["status"] for d in log] == ["delivered", "delivered"] and sorted(d["attempts"] for d in log) == [1, 2]
    hooks.replay(log[0]["id"])
    assert hooks.dispatch()["delivered"] == 1 and len(receiver.requests) == 4
    assert hooks.dispatch() == {"delivered": 0, "retrying": 0, "failed": 0}  # nothing twice
    replayed = next(d for d in hooks.deliveries() if d["id"] == log[0]["id"])
    assert replayed["attempts"] == log[0]["attempts"] + 1  # the log counts every real attempt


def test_deliveries_follow_standard_webhooks(workspace: Workspace, receiver: Receiver, tmp_path: Path) -> None:
    """A stock Standard Webhooks verifier accepts them; a captured one replayed later is refused."""
    import pytest
    from standardwebhooks.webhooks import Webhook as Verifier
    from standardwebhooks.webhooks import WebhookVerificationError

    hook = workspace.webhooks.add(receiver.url, ["version.created"])
    assert hook["standard_secret"].startswith("whsec_")
    art = tmp_path / "m.bin"
    art.write_text("x")
    workspace.registry.register("fraud", art)
    workspace.webhooks.dispatch()
    headers, body = receiver.requests[-1]
    verifier = Verifier(hook["standard_secret"])
    standard = {k.lower(): v for k, v in headers.items() if k.lower().startswith("webhook-")}
    assert json.loads(body)["event"] == "version.created"
    assert verifier.verify(body, standard)["event"] == "version.created"
    delivery = workspace.webhooks.deliveries()[-1]
    assert standard["webhook-id"] == f"msg_{delivery['id']}"  # the same id on every attempt of it
    stale = {**standard, "webhook-timestamp": str(int(standard["webhook-timestamp"]) - 600)}
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, stale)  # ten minutes later: refused (the signature covers the timestamp)


def test_slack_format_and_bad_input(workspace: Workspace, receiver: Receiver) -> None:
    hooks = workspace.webhooks
    hooks.add(receiver.url, ["*"], format="slack")
    workspace.registry.register("churn", params={"a": 1})
    hooks.dispatch()
    (_, made), (_, body) = receiver.requests  # the model, made by its first version, then the version
    assert "model.created" in json.loads(made)["text"]
    assert set(json.loads(body)) == {"text"} and "version.created" in json.loads(body)["text"]
    with pytest.raises(InvalidInput, match="unknown events"):
        hooks.add(receiver.url, ["nonsense"])
    with pytest.raises(InvalidInput, match="http"):
        hooks.add("ftp://x", ["*"])


def test_events_commit_with_the_change(workspace: Workspace, receiver: Receiver) -> None:
    """A change that rolls back leaves no event; one that commits always has its event."""
    hooks = workspace.webhooks
    hooks.add(receiver.url, ["version.created"])
    workspace.registry.register("m", params={"a": 1}, version="1.0.0")
    with pytest.raises(Conflict, match="already exists"):
        workspace.registry.register("m", params={"a": 2}, version="1.0.0")  # rolled back
    hooks.dispatch()
    assert [json.loads(b)["target"] for _, b in receiver.requests] == ["model:m@1.0.0.0.0"]


def test_mlflow_webhooks_get_mlflow_bodies_signed_with_their_own_secret(workspace: Workspace, receiver: Receiver) -> None:
    """A webhook made through MLflow's API: MLflow's events and bodies, signed as MLflow's server signs
    them with the secret its creator chose, which the database keeps sealed, never in clear."""
    import base64

    from modelkeep.meta.tables import Webhook

    hooks = workspace.webhooks
    hook = hooks.add_mlflow("ci", receiver.url, ["model_version.created", "model_version_alias.created",
                                                 "model_version_alias.deleted", "model_version_tag.set",
                                                 "model_version_tag.deleted", "registered_model.created"],
                            secret="s3cret-of-the-receiver")
    assert hook.format == "mlflow" and hook.signed and hook.name == "ci"
    with workspace.db.reader() as session:
        sealed = session.get(Webhook, hook.id).secret_sealed  # type: ignore[union-attr]
    assert sealed and b"s3cret" not in base64.b64decode(sealed)
    workspace.model_records.create("fraud", description="catches fraud", tags={"team": "risk"})
    workspace.registry.register("fraud", params={"C": 1}, tags={"stage": "dev"}, description="first")
    workspace.registry.set_alias("fraud@latest", "champion")
    workspace.model_records.update_version("fraud", 1, tags={"reviewed": "yes"})
    workspace.model_records.update_version("fraud", 1, tags={"reviewed": None})
    workspace.registry.delete_alias("fraud", "champion")
    workspace.registry.register("churn", params={"a": 1})  # made by its first version: created all the same
    hooks.dispatch()
    seen = []
    for headers, body in receiver.requests:
        delivery, stamp = headers["X-MLflow-Delivery-Id"], headers["X-MLflow-Timestamp"]
        mac = hmac.new(b"s3cret-of-the-receiver", f"{delivery}.{stamp}.{body.decode()}".encode(), hashlib.sha256).digest()
        assert headers["X-MLflow-Signature"] == "v1," + base64.b64encode(mac).decode()
        doc = json.loads(body)
        seen.append((f"{doc['entity']}.{doc['action']}", doc["data"]))
    assert seen == [
        ("registered_model.created", {"name": "fraud", "tags": {"team": "risk"}, "description": "catches fraud"}),
        ("model_version.created", {"name": "fraud", "version": "1", "source": "models:/fraud/1", "run_id": None,
                                   "description": "first", "tags": {"stage": "dev"}}),
        ("model_version_alias.created", {"name": "fraud", "alias": "champion", "version": "1"}),
        ("model_version_tag.set", {"name": "fraud", "version": "1", "key": "reviewed", "value": "yes"}),
        ("model_version_tag.deleted", {"name": "fraud", "version": "1", "key": "reviewed"}),
        ("model_version_alias.deleted", {"name": "fraud", "alias": "champion"}),
        ("registered_model.created", {"name": "churn", "tags": {}, "description": None}),
        ("model_version.created", {"name": "churn", "version": "1", "source": "models:/churn/1", "run_id": None,
                                   "description": None, "tags": {}}),
    ]
    assert {d["status"] for d in hooks.deliveries()} == {"delivered"}

    # disabled: nothing more; enabled again without a secret: unsigned, as MLflow's server sends them
    hooks.update(hook.id, active=False)
    workspace.registry.register("fraud", params={"C": 2})
    hooks.dispatch()
    assert len(receiver.requests) == 8
    assert not hooks.update(hook.id, active=True, secret="").signed
    workspace.registry.register("fraud", params={"C": 3})
    hooks.dispatch()
    headers, body = receiver.requests[-1]
    assert "X-MLflow-Signature" not in headers and json.loads(body)["data"]["version"] == "3"

    result = hooks.test(hook.id, "model_version_tag.set")  # MLflow's own example, sent now, logged nowhere
    assert result.success and result.status == 200
    assert json.loads(receiver.requests[-1][1])["data"] == {"name": "example_model", "version": "1", "key": "example_key",
                                                            "value": "example_value"}
    with pytest.raises(InvalidInput, match="no prompts"):
        hooks.update(hook.id, events=["prompt.created"])
    with pytest.raises(InvalidInput, match="cannot be set"):
        hooks.update(hooks.add(receiver.url, ["*"])["id"], secret="mine")
    hooks.remove(hook.id)
    assert [h.format for h in hooks.hooks()] == ["json"] and not [d for d in hooks.deliveries() if d["webhook_id"] == hook.id]


def test_a_secret_sealed_under_another_server_key_fails_its_delivery_not_the_others(workspace: Workspace,
                                                                                    receiver: Receiver) -> None:
    """server.key replaced: an MLflow webhook's sealed secret no longer opens. Its deliveries fail with
    a message saying what to do, and every other webhook's still go out."""
    from modelkeep.services.governance.webhooks import Webhooks

    hooks = workspace.webhooks
    sealed = hooks.add_mlflow("ci", receiver.url, ["model_version.created"], secret="old secret")
    hooks.add(receiver.url, ["version.created"])
    workspace.registry.register("fraud", params={"C": 1})
    rekeyed = Webhooks(workspace.db, workspace.access, b"another server key" * 2, renderers=hooks.renderers)
    assert rekeyed.dispatch() == {"delivered": 1, "retrying": 0, "failed": 1}
    [failed] = [d for d in rekeyed.deliveries() if d["webhook_id"] == sealed.id]
    assert failed["status"] == "failed" and "sealed under another server key" in failed["last_error"]
    assert len(receiver.requests) == 1 and "X-Modelkeep-Signature" in receiver.requests[0][0]
    rekeyed.update(sealed.id, secret="new secret")  # set again: it opens under this key
    rekeyed.replay(failed["id"])
    assert rekeyed.dispatch()["delivered"] == 1
    with pytest.raises(InvalidInput, match="run events only"):
        hooks.update(hooks.add(receiver.url, ["run.started"], format="openlineage")["id"], events=["version.created"])


def test_a_test_delivery_is_signed_as_the_webhooks_are_and_logged_nowhere(workspace: Workspace, receiver: Receiver) -> None:
    from modelkeep.services.connection import LocalConnection

    hook = workspace.webhooks.add(receiver.url, ["version.created"])
    result = LocalConnection(workspace).admin.test_webhook(hook["id"])
    assert result == {"success": True, "status": 200, "body": "", "error": None}
    (headers, body), = receiver.requests
    assert json.loads(body)["event"] == "webhook.test" and json.loads(body)["detail"] == {"test": True}
    expected = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Modelkeep-Signature"] == expected and workspace.webhooks.deliveries() == []
    receiver.fail_next = 1
    assert LocalConnection(workspace).admin.test_webhook(hook["id"], "alias.moved")["status"] == 500


def test_webhook_list_and_deliveries_of_a_personal_registry_read_it_with_sqlite3_and_answer_the_same(
    workspace: Workspace, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mk webhook list`` and ``deliveries`` on a personal registry read SQLite with the standard
    library: every kind of webhook and delivery answers as ``AdminService`` does."""
    from modelkeep.services.connection import LocalAdmin
    from modelkeep.services.governance import fast_reads

    hooks = workspace.webhooks
    hooks.add(receiver.url, ["version.created", "alias.moved"])
    hooks.add(receiver.url, ["version.created"], format="slack")
    hooks.add(receiver.url, ["version.created"], subject="model:fraud", bumps=["major", "minor"])
    hooks.add_mlflow("signed", receiver.url, ["model_version.created"], secret="s3cret-of-the-receiver")
    unsigned = hooks.add_mlflow("unsigned", receiver.url, ["model_version.created"], description="no secret")
    hooks.update(unsigned.id, active=False, only="mlflow")
    workspace.registry.register("fraud", params={"C": 1})
    workspace.registry.set_alias("fraud@latest", "staging")
    receiver.fail_next = 1
    hooks.dispatch()
    monkeypatch.chdir(workspace.config.root)
    admin = LocalAdmin(workspace)
    expected_hooks, expected_log = admin.webhooks(), admin.deliveries()
    assert len(expected_hooks) == 5 and {d["status"] for d in expected_log} == {"delivered", "pending"}
    assert fast_reads.webhooks() == expected_hooks
    assert fast_reads.deliveries(None) == expected_log
    assert fast_reads.deliveries(expected_hooks[0]["id"]) == admin.deliveries(expected_hooks[0]["id"]) != []
    assert fast_reads.deliveries(999) == []
    workspace.access.create_user("admin", role="admin")
    assert fast_reads.webhooks() is None and fast_reads.deliveries(None) is None  # with users: the normal path
