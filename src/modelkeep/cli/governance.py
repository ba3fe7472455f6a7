"""Governance commands: promote / approve / reject / withdraw / rollback, protect, audit, users,
tokens and roles. The acting user is ``user.name`` (or ``MODELKEEP_USER``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.output import emit_json, err_console, out_console

if TYPE_CHECKING:
    from modelkeep.services.interface import AdminService, AuditService, GovernanceService

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
user_app = typer.Typer(help="Users of a shared registry.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
role_app = typer.Typer(help="Roles and role bindings.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _admin() -> AdminService:
    """Users, tokens, roles, protection and webhooks of the connection (local, or the server's)."""
    from modelkeep.cli.remote import connection

    return connection().admin


def _audit() -> AuditService:
    from modelkeep.cli.remote import connection

    return connection().audit


def _promotions() -> GovernanceService:
    """Promotions of the connection: the local repository's, or the server's (MODELKEEP_URL)."""
    from modelkeep.cli.remote import connection

    return connection().governance


def _show_request(doc: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(doc)
        return
    out = out_console()
    out.print(f"promotion {doc['id']}: {doc['model']}@{doc['version']} → {doc['alias']} [bold]{doc['status']}[/bold]")
    for gate in doc["gates"]:
        out.print(f"  gate {'passed' if gate['passed'] else 'FAILED'}: {gate['gate']} ({gate['detail']})", markup=False)
    for review in doc["reviews"]:
        out.print(f"  {review['decision']} by {review['reviewer']}: {review['comment']}", markup=False)
        for gate in review.get("gates") or []:
            out.print(f"    gate at approval {'passed' if gate['passed'] else 'FAILED'}: {gate['gate']} ({gate['detail']})",
                      markup=False)


def _exit_if_blocked(doc: dict[str, Any]) -> None:
    """A blocked promotion is not a success: an error naming the failed gates (exit 1)."""
    if doc["status"] != "blocked":
        return
    from modelkeep.errors import Conflict

    gates = doc.get("gates_at_approval") or doc["gates"]
    failed = ", ".join(g["gate"] for g in gates if not g["passed"]) or "a gate"
    raise Conflict(f"promotion {doc['id']} is blocked: {failed} failed")


def promote(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to promote.")],
    to: Annotated[str, typer.Option("--to", help="The protected alias, e.g. production.")],
    justification: Annotated[str, typer.Option("--justification", help="Why this version should hold it.")],
    ticket: Annotated[str, typer.Option("--ticket", help="Change ticket, e.g. CHG-123.")] = "",
    json_out: JsonFlag = False,
) -> None:
    """Request that a protected alias move to a version: gates run now, approvals follow."""
    doc = _promotions().request(ref, to, justification, ticket)
    if json_out:
        emit_json(doc)
    else:
        typer.echo(doc["id"])
        _show_request(doc, False)
    _exit_if_blocked(doc)


def approve(request_id: Annotated[int, typer.Argument()], message: Annotated[str, typer.Option("-m")] = "",
            json_out: JsonFlag = False) -> None:
    """Approve a promotion request (not your own); the last required approval applies it, after the gates
    are checked again against the policy and the alias holder of this moment."""
    doc = _promotions().review(request_id, "approve", message)
    _show_request(doc, json_out)
    _exit_if_blocked(doc)


def reject(request_id: Annotated[int, typer.Argument()], message: Annotated[str, typer.Option("-m")] = "",
           json_out: JsonFlag = False) -> None:
    """Reject a promotion request."""
    _show_request(_promotions().review(request_id, "reject", message), json_out)


def comment(request_id: Annotated[int, typer.Argument()], message: Annotated[str, typer.Option("-m")],
            json_out: JsonFlag = False) -> None:
    """Comment on a promotion request."""
    _show_request(_promotions().review(request_id, "comment", message), json_out)


def withdraw(request_id: Annotated[int, typer.Argument()], json_out: JsonFlag = False) -> None:
    """Withdraw your own promotion request."""
    _show_request(_promotions().withdraw(request_id), json_out)


def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option("--alias", help="The alias to return to its previous holder.")],
    json_out: JsonFlag = False,
) -> None:
    """Return an alias to the version that held it before its last move (audited)."""
    doc = _promotions().rollback(name, alias)
    if json_out:
        emit_json(doc)
        return
    out_console().print(f"{name}@{alias}: {doc['from']} → {doc['to']} (rolled back)", markup=False)


def protect(
    model: Annotated[str, typer.Argument(help="Model name, or '*' for every model.")],
    alias: Annotated[str, typer.Argument()],
    approvals: Annotated[int, typer.Option("--approvals", help="Approvals required.")] = 1,
    gates: Annotated[Path | None, typer.Option("--gates", help="JSON/YAML file, e.g. {min_metrics: {auc: 0.9}, "
                                 "compare_with_current: {metric: auc, max_drop: 0.01}, required_tags: [evaluated]}.")] = None,
) -> None:
    """Protect an alias: it then moves only through promotion requests (admin)."""
    from modelkeep.services.models.metadata import load_document

    _admin().protect(model, alias, required_approvals=approvals, gates=load_document(gates, "gates") if gates else None)
    err_console().print(f"{model}@{alias} is protected ({approvals} approval(s))", markup=False)


@audit_app.command("log")
def audit_log(
    model: Annotated[str | None, typer.Option("--model")] = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. alias.* or promotion.approve")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO date or date-time (UTC)")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 200,
    json_out: JsonFlag = False,
) -> None:
    """Audit entries, newest first, filtered by model, user, action and time."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.governance.fast_reads import audit_log

    rows = None if since else local_read(audit_log, model, user, action, limit)  # --since: the service parses it
    if rows is None:
        rows = _audit().log(model=model, user=user, action=action, since=since, limit=limit)
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        out_console().print(f"{row['seq']:>6} {row['at']} {row['actor']:<12} {row['action']:<22} {row['target']} "
                            f"{row['outcome']}", markup=False, soft_wrap=True)


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="File of signed checkpoints (from 'mk audit checkpoint'): also detects truncation and a "
        "recomputed chain.")] = None,
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", help="Ed25519 public key (PEM) the checkpoints were signed with (default: the repository's).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Recompute the keyed hash chain: detects any edited, removed or reordered entry (exit 3)."""
    checkpoints, pem = None, None
    if checkpoint is not None:
        from modelkeep.services.governance.audit_checkpoint import read_checkpoints

        checkpoints = read_checkpoints(checkpoint)
        if public_key is not None:
            from modelkeep.services.governance.audit_keys import load_public_key

            load_public_key(public_key)  # refused here, naming the file, if it is not one
            pem = public_key.read_text()
    result = _audit().verify(checkpoints, pem)
    if json_out:
        emit_json(result)
    else:
        if result["ok"]:
            out_console().print(f"ok: {result['entries']} entries, chain intact"
                                + (", every MAC valid" if result.get("keyed") else ""), markup=False)
        elif result.get("first_bad") is not None:
            err_console().print(f"audit chain broken at entry {result['first_bad']}: {result['reason']}", markup=False)
        for check in result.get("checkpoints", []):
            stream = out_console() if check["ok"] else err_console()
            stream.print(f"checkpoint of entry {check['seq']} ({check['at']}): {'ok' if check['ok'] else 'FAILED'}: "
                         f"{check['reason']}", markup=False)
    if not result["ok"]:
        raise typer.Exit(3)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Append the signed checkpoint to this file (one JSON document per line); default: stdout.")] = None,
) -> None:
    """Sign the audit chain's head (Ed25519) and write it outside the database, for 'mk audit verify --checkpoint'."""
    import json

    doc = _audit().checkpoint()
    line = json.dumps(doc, sort_keys=True) + "\n"
    if out is None:
        typer.echo(line, nl=False)
        return
    with open(out, "a") as handle:
        handle.write(line)
    err_console().print(f"checkpoint of entry {doc['seq']} appended to {out}", markup=False)


@audit_app.command("holder")
def audit_holder(
    name: Annotated[str, typer.Argument()],
    alias: Annotated[str, typer.Argument()],
    at: Annotated[str, typer.Option("--at", help="ISO date-time (UTC); default now")] = "",
    json_out: JsonFlag = False,
) -> None:
    """Which version held NAME@ALIAS at a given time."""
    from modelkeep.services.clock import parse_time, utcnow

    when = parse_time(at) if at else utcnow()
    version = _promotions().holder_at(name, alias, when)
    if json_out:
        emit_json({"model": name, "alias": alias, "at": when.isoformat() + "Z", "version": version})
        return
    typer.echo(version or "(none)")


@user_app.command("add")
def user_add(name: Annotated[str, typer.Argument()], role: Annotated[str | None, typer.Option("--role")] = None,
             json_out: JsonFlag = False) -> None:
    """Add a user (the first user turns a personal registry into a shared, permission-checked one)."""
    doc = _admin().create_user(name, role=role)
    emit_json(doc) if json_out else err_console().print(f"added user {name}", markup=False)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option("--name")] = "default",
    expires_days: Annotated[float | None, typer.Option("--expires-days")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    doc = _admin().create_token(user, name=name, expires_days=expires_days)
    if json_out:
        emit_json(doc)
        return
    typer.echo(doc["token"])
    err_console().print(f"token id {doc['id']} (for 'mk token revoke {doc['id']}'); store the token now: it is not shown "
                        "again", markup=False)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument()]) -> None:
    """Revoke a token by id."""
    _admin().revoke_token(token_id)
    err_console().print(f"revoked token {token_id}", markup=False)


@role_app.command("bind")
def role_bind(
    user: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument()],
    model: Annotated[str | None, typer.Option("--model", help="Only for this model.")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Only for this project.")] = None,
) -> None:
    """Grant a role globally, per project or per model."""
    scope_kind, scope = ("model", model) if model else ("project", project) if project else ("global", "")
    _admin().bind(user, role, scope_kind, scope or "")
    err_console().print(f"{user}: {role} ({scope_kind}{' ' + scope if scope else ''})", markup=False)


@role_app.command("define")
def role_define(name: Annotated[str, typer.Argument()], permissions: Annotated[list[str], typer.Argument()]) -> None:
    """Define (or redefine) a custom role from named permissions."""
    _admin().define_role(name, permissions)
    err_console().print(f"role {name}: {', '.join(permissions)}", markup=False)


webhook_app = typer.Typer(help="Webhooks: signed, retried, replayable event deliveries.", no_args_is_help=True)


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument()],
    events: Annotated[list[str], typer.Option("--events", help="Event types (repeat), or '*'.")],
    fmt: Annotated[str, typer.Option(
        "--format", help="json; slack (Slack-compatible incoming webhooks); openlineage (an OpenLineage endpoint; "
                         "run.started,run.ended).")] = "json",
    json_out: JsonFlag = False,
) -> None:
    """Subscribe a URL; prints the signing secret once."""
    doc = _admin().add_webhook(url, events, format=fmt)
    if json_out:
        emit_json(doc)
        return
    out_console().print(f"webhook {doc['id']} → {url} ({', '.join(doc['events'])})", markup=False)
    out_console().print(f"signing secret (shown once): {doc['secret']}", markup=False)
    if doc.get("standard_secret"):
        out_console().print(f"the same secret for Standard Webhooks verifiers (webhook-signature): "
                            f"{doc['standard_secret']}", markup=False, soft_wrap=True)


@webhook_app.command("list")
def webhook_list(json_out: JsonFlag = False) -> None:
    """Every webhook: its URL, events, format and whether it is active (MLflow's included)."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.governance.fast_reads import webhooks

    rows = local_read(webhooks)  # sqlite3 on a personal registry: ~0.15 s instead of ~0.9
    if rows is None:
        rows = _admin().webhooks()
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        name = f" {row['name']!r}" if row.get("name") else ""
        state = "" if row["active"] else " (disabled)"
        out_console().print(f"{row['id']:>5} {row['format']:<11} {row['url']}{name}{state}: {', '.join(row['events'])}",
                            markup=False, soft_wrap=True)


@webhook_app.command("test")
def webhook_test(
    webhook_id: Annotated[int, typer.Argument()],
    event: Annotated[str | None, typer.Option("--event", help="The event to send an example of (the webhook's first).")]
    = None,
    json_out: JsonFlag = False,
) -> None:
    """Send one example delivery now, signed as the webhook's are; says what the receiver answered."""
    result = _admin().test_webhook(webhook_id, event)
    if json_out:
        emit_json(result)
    elif result["success"]:
        out_console().print(f"webhook {webhook_id}: the receiver answered {result['status']}", markup=False)
    else:
        from modelkeep.errors import ModelKeepError

        raise ModelKeepError(f"webhook {webhook_id}: the test delivery failed: "
                             f"{result['error'] or 'the receiver answered ' + str(result['status'])}")


@webhook_app.command("remove")
def webhook_remove(webhook_id: Annotated[int, typer.Argument()]) -> None:
    """Delete a webhook and its delivery log."""
    _admin().remove_webhook(webhook_id)
    err_console().print(f"webhook {webhook_id} removed", markup=False)


@webhook_app.command("dispatch")
def webhook_dispatch(
    loop: Annotated[bool, typer.Option("--loop", help="Keep dispatching every second.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Deliver pending events (the server does this in the background)."""
    import time

    admin = _admin()
    while True:
        counts = admin.dispatch()
        if not loop:
            break
        time.sleep(1.0)
    emit_json(counts) if json_out else err_console().print(f"{counts}", markup=False)


@webhook_app.command("deliveries")
def webhook_deliveries(webhook_id: Annotated[int | None, typer.Option("--webhook")] = None, json_out: JsonFlag = False) -> None:
    """The delivery log: attempts, last status, errors."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.governance.fast_reads import deliveries

    rows = local_read(deliveries, webhook_id)
    if rows is None:
        rows = _admin().deliveries(webhook_id)
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        out_console().print(f"{row['id']:>5} {row['event']:<24} webhook {row['webhook_id']} {row['status']:<9} "
                            f"attempts {row['attempts']} last {row['last_status'] or row['last_error'] or '-'}", markup=False)


@webhook_app.command("replay")
def webhook_replay(delivery_id: Annotated[int, typer.Argument()]) -> None:
    """Send a delivery again."""
    _admin().replay(delivery_id)
    err_console().print(f"delivery {delivery_id} queued again", markup=False)
