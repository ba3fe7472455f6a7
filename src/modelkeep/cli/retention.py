"""``mk retention set|show|unset``, ``mk hold`` and ``mk gc --dry-run``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelkeep.cli.output import emit_json, out_console
from modelkeep.units import human_bytes

retention_app = typer.Typer(help="Retention policies: what to keep of each model's and dataset's versions.",
                            no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _scope(model: str | None, dataset: str | None, all_models: bool, all_datasets: bool) -> tuple[str, str]:
    from modelkeep.errors import InvalidInput

    chosen = [(k, s) for k, s in (("model", model), ("dataset", dataset), ("model", "*" if all_models else None),
                                  ("dataset", "*" if all_datasets else None)) if s]
    if len(chosen) != 1:
        raise InvalidInput("name exactly one of --model NAME, --dataset NAME, --all-models or --all-datasets")
    return chosen[0]


Model = Annotated[str | None, typer.Option("--model", help="The model the policy is for.")]
Dataset = Annotated[str | None, typer.Option("--dataset", help="The dataset the policy is for.")]
AllModels = Annotated[bool, typer.Option("--all-models", help="Every model without a policy of its own.")]
AllDatasets = Annotated[bool, typer.Option("--all-datasets", help="Every dataset without a policy of its own.")]


@retention_app.command("set")
def set_policy(
    model: Model = None, dataset: Dataset = None, all_models: AllModels = False, all_datasets: AllDatasets = False,
    keep_last: Annotated[int | None, typer.Option("--keep-last", help="The N newest versions.")] = None,
    keep_within: Annotated[str | None, typer.Option("--keep-within", help="Made within this long (30d, 12h).")] = None,
    keep_hourly: Annotated[int | None, typer.Option("--keep-hourly", help="The newest in each of the last N hours.")] = None,
    keep_daily: Annotated[int | None, typer.Option("--keep-daily", help="The newest in each of the last N days.")] = None,
    keep_weekly: Annotated[int | None, typer.Option("--keep-weekly", help="The newest in each of the last N weeks.")] = None,
    keep_monthly: Annotated[int | None, typer.Option("--keep-monthly", help="The newest in each of the last N months.")] = None,
    keep_tag: Annotated[list[str] | None, typer.Option("--keep-tag", help="With this tag: KEY or KEY=VALUE.")] = None,
    keep_top: Annotated[str | None, typer.Option("--keep-top", help="The K best: METRIC:K[:min].")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Set the retention policy of a model, a dataset, or all of them (replacing the one there)."""
    from modelkeep.cli.remote import connection
    from modelkeep.errors import InvalidInput

    kind, scope = _scope(model, dataset, all_models, all_datasets)
    rules: dict[str, Any] = {k: v for k, v in {
        "keep_last": keep_last, "keep_within": keep_within, "keep_hourly": keep_hourly, "keep_daily": keep_daily,
        "keep_weekly": keep_weekly, "keep_monthly": keep_monthly}.items() if v is not None}
    if keep_tag:
        rules["keep_tags"] = keep_tag
    if keep_top:
        metric, _, rest = keep_top.partition(":")
        count, _, direction = rest.partition(":")
        if not metric or not count.isdigit() or direction not in ("", "min", "max"):
            raise InvalidInput(f"--keep-top {keep_top!r}: METRIC:K or METRIC:K:min (e.g. auc:3)")
        rules["keep_top"] = {"metric": metric, "k": int(count), "direction": direction or "max"}
    result = connection().retention.set_policy(kind, scope, rules)
    if json_out:
        emit_json(result)
    else:
        out_console().print(f"{kind} {scope}: {result['says']}", markup=False)


@retention_app.command("unset")
def unset_policy(model: Model = None, dataset: Dataset = None, all_models: AllModels = False,
                 all_datasets: AllDatasets = False) -> None:
    """Remove a policy (its versions are then all kept, unless a * policy applies)."""
    from modelkeep.cli.remote import connection

    kind, scope = _scope(model, dataset, all_models, all_datasets)
    connection().retention.unset_policy(kind, scope)


@retention_app.command("show")
def show(json_out: JsonFlag = False) -> None:
    """The policies and the legal holds."""
    from modelkeep.cli.remote import connection, local_read
    from modelkeep.services.retention.fast_reads import policies_and_holds

    doc = local_read(policies_and_holds)
    if doc is None:
        retention = connection().retention
        doc = {"policies": retention.policies(), "holds": retention.holds()}
    if json_out:
        emit_json(doc)
        return
    out = out_console()
    for p in doc["policies"] or [{"kind": "-", "scope": "no policy: every version is kept", "says": ""}]:
        out.print(f"{p['kind']} {p['scope']}: {p['says']}", markup=False)
    for h in doc["holds"]:
        out.print(f"hold {h['target']}: {h['reason']} (by {h['by']})", markup=False)


def hold(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, model:NAME@VERSION or dataset:NAME@N.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (a case, a regulation).")] = "",
    release: Annotated[bool, typer.Option("--release", help="Release the hold instead.")] = False,
) -> None:
    """Put a legal hold on a version: no policy and no gc may expire it until it is released."""
    from modelkeep.cli.remote import connection

    retention = connection().retention
    if release:
        retention.release(ref)
        out_console().print(f"released the hold on {ref}", markup=False)
    else:
        held = retention.hold(ref, reason)
        out_console().print(f"held {held['target']}: {held['reason']}", markup=False)


def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: list what would be kept and dropped, and why.")] = False,
    grace: Annotated[str, typer.Option("--grace", help="Undelete window and sweep delay (24h; 0: nobody else writes).")] = "24h",
    json_out: JsonFlag = False,
) -> None:
    """Collect garbage: drop what no policy, root or lineage keeps (tombstones, restorable with mk undelete
    until the grace period ends), then sweep unreferenced objects from the store in two phases a grace period
    apart. --dry-run lists every decision and the bytes each pack would free."""
    from modelkeep.cli.remote import connection
    from modelkeep.services.retention.rules import parse_duration

    retention = connection().retention
    if not dry_run:
        seconds = 0.0 if grace.strip() in ("0", "0s", "0h") else parse_duration(grace).total_seconds()
        from modelkeep.cli.progress import byte_progress

        with byte_progress("sweeping packs") as progress:  # on a terminal only; quiet when piped
            result = retention.collect(seconds, progress)
        if json_out:
            emit_json(result)
            return
        sweep = result["sweep"]
        if sweep.get("skipped"):
            out_console().print(f"marked {len(result['marked'])} versions, purged {len(result['purged'])} tombstones; "
                                f"no sweep: {sweep['skipped']}", markup=False)
            return
        out_console().print(
            f"marked {len(result['marked'])} versions (mk undelete restores them for {grace}), purged "
            f"{len(result['purged'])} tombstones, deleted {len(result.get('runs_deleted', []))} runs from the trash; "
            f"swept {sweep['objects_deleted']} objects "
            f"({human_bytes(sweep['bytes_freed'])}: {sweep['deleted_packs']} packs deleted, {sweep['repacked_packs']} "
            f"repacked); {sweep['condemned_now']} unreferenced objects ({human_bytes(sweep['condemned_bytes'])}) "
            f"condemned, swept by a gc after {grace}", markup=False)
        if sweep.get("waiting_on"):
            busy = ", ".join(f"{w.get('purpose', '?')} (pid {w.get('pid', '?')})" for w in sweep["waiting_on"][:5])
            out_console().print(f"the sweep waits for {len(sweep['waiting_on'])} writer(s) busy since the list was "
                                f"written: {busy}; a later gc acts once they finish", markup=False)
        return
    plan = retention.plan()
    if json_out:
        emit_json(plan)
        return
    out = out_console()
    for row in plan["drop"]:
        out.print(f"drop  {row['ref']}  ({row['why']})", markup=False)
    for row in plan["keep"]:
        out.print(f"keep  {row['ref']}  ({row['why']})", markup=False)
    for row in plan.get("trash", []):
        out.print(f"trash run {row['run']}  (deleted through MLflow's API at {row['since']}: gc deletes it once it "
                  f"has been in the trash longer than --grace)", markup=False)
    sizes = plan["bytes"]
    out.print(f"{len(plan['drop'])} versions to drop, {len(plan['keep'])} to keep; would free "
              f"{human_bytes(sizes['would_free'])} of {human_bytes(sizes['stored'])} stored "
              f"({human_bytes(sizes['unreferenced'])} referenced by nothing already) in {len(plan['packs'])} packs",
              markup=False)


def undelete(ref: Annotated[str, typer.Argument(help="NAME@VERSION, model:NAME@VERSION or dataset:NAME@N.")]) -> None:
    """Bring back a version a gc dropped (until the sweep after the grace period purges it)."""
    from modelkeep.cli.remote import connection

    restored = connection().retention.undelete(ref)
    out_console().print(f"restored {restored}", markup=False)
