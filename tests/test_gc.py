"""Garbage collection (issue 16): dropped versions become tombstones that undelete restores until
the sweep; the store is swept in two phases a grace period apart; a condemned copy is never reused
by a new write; a reader holding an old index finds repacked objects; what stays reads back."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.clock import utcnow
from modelkeep.services.connection import LocalConnection
from modelkeep.services.retention.gc import collect
from modelkeep.services.workspace import Workspace
from modelkeep.store.format import BLOB
from modelkeep.store.repository import Repository

MB = 1 << 20


def _stored(workspace: Workspace) -> int:
    return sum(p.stat().st_size for p in workspace.config.root.rglob("*") if p.is_file() and "/packs/" in p.as_posix())


def _register(workspace: Workspace, tmp_path: Path, name: str, data: bytes) -> str:
    art = tmp_path / f"{name}-{len(data)}-{data[:4].hex()}.bin"
    art.write_bytes(data)
    return workspace.registry.register(name, art, params={"seed": data[:4].hex()}).ref


def test_dropping_versions_frees_their_bytes(workspace: Workspace, tmp_path: Path) -> None:
    old = _register(workspace, tmp_path, "big", os.urandom(3 * MB))
    new_data = os.urandom(3 * MB)
    new = _register(workspace, tmp_path, "big", new_data)
    LocalConnection(workspace).retention.set_policy("model", "big", {"keep_last": 1})
    before = _stored(workspace)
    result = collect(workspace.db, workspace.repo, workspace.access, utcnow(), grace_s=0)
    assert result["marked"] == [f"model:{old}"] and result["purged"] == [f"model:{old}"]
    assert result["sweep"]["bytes_freed"] >= 3 * MB - 64 * 1024
    assert before - _stored(workspace) >= 3 * MB - 64 * 1024  # the store really shrank
    with pytest.raises(NotFound):
        workspace.registry.get(old)
    view = workspace.registry.get(new)
    back = workspace.store.materialize(view.artifact_kind, view.digest, tmp_path / "back.bin")
    assert back.read_bytes() == new_data
    assert LocalConnection(workspace).admin.verify()["ok"]


def test_undelete_within_the_grace_period_then_the_two_phase_sweep(workspace: Workspace, tmp_path: Path) -> None:
    first = os.urandom(2 * MB)
    old = _register(workspace, tmp_path, "m", first)
    _register(workspace, tmp_path, "m", os.urandom(2 * MB))
    retention = LocalConnection(workspace).retention
    retention.set_policy("model", "m", {"keep_last": 1})
    t0 = utcnow()
    hour = 3600.0
    marked = collect(workspace.db, workspace.repo, workspace.access, t0, grace_s=hour)
    assert marked["marked"] == [f"model:{old}"] and marked["purged"] == []
    with pytest.raises(NotFound):
        workspace.registry.get(old)
    assert retention.undelete(old) == f"model:{old}"  # within the grace period: back, files and all
    back = workspace.registry.get(old)
    assert workspace.store.materialize(back.artifact_kind, back.digest, tmp_path / "old.bin").read_bytes() == first
    assert back.params == {"seed": first[:4].hex()}
    collect(workspace.db, workspace.repo, workspace.access, t0 + timedelta(seconds=10), grace_s=hour)  # marked again
    size = _stored(workspace)
    later = collect(workspace.db, workspace.repo, workspace.access, t0 + timedelta(hours=2), grace_s=hour)
    assert later["purged"] == [f"model:{old}"]  # no undelete after this
    assert later["sweep"]["condemned_now"] >= 1 and _stored(workspace) >= size - 64 * 1024  # condemned, not yet gone
    with pytest.raises(NotFound, match="no tombstone"):
        retention.undelete(old)
    last = collect(workspace.db, workspace.repo, workspace.access, t0 + timedelta(hours=4), grace_s=hour)
    assert last["sweep"]["bytes_freed"] >= 2 * MB - 64 * 1024 and size - _stored(workspace) >= 2 * MB - 64 * 1024


def test_a_condemned_copy_is_never_reused_by_a_new_write(workspace: Workspace, tmp_path: Path) -> None:
    data = os.urandom(MB)
    old = _register(workspace, tmp_path, "a", data)
    _register(workspace, tmp_path, "a", os.urandom(MB))
    LocalConnection(workspace).retention.set_policy("model", "a", {"keep_last": 1})
    t0, hour = utcnow(), 3600.0
    collect(workspace.db, workspace.repo, workspace.access, t0, grace_s=hour)  # tombstoned: its bytes stay live
    condemned = collect(workspace.db, workspace.repo, workspace.access, t0 + timedelta(hours=2), grace_s=hour)
    assert condemned["purged"] == [f"model:{old}"] and condemned["sweep"]["condemned_bytes"] >= MB - 64 * 1024
    digest = next(iter(workspace.repo.condemned))
    assert not workspace.repo.has(digest)  # dedup will not reuse it
    written = workspace.repo.writer.bytes_written
    copy = _register(workspace, tmp_path, "c", data)  # the same bytes while they are condemned: a fresh copy
    assert workspace.repo.writer.bytes_written - written >= MB // 2  # written again, not deduplicated
    view = workspace.registry.get(copy)
    # (the fresh pack may be byte for byte the condemned one, chunks in the same order: the same pack id;
    # the sweep then finds its objects live where the list says and keeps them)
    collect(workspace.db, workspace.repo, workspace.access, t0 + timedelta(hours=4), grace_s=hour)
    assert workspace.store.materialize(view.artifact_kind, view.digest, tmp_path / "copy.bin").read_bytes() == data
    assert LocalConnection(workspace).admin.verify()["ok"]


def test_a_pack_mostly_dead_is_repacked_and_an_old_index_still_finds_its_objects(workspace: Workspace) -> None:
    repo = workspace.repo
    keep, _ = repo.put(os.urandom(200_000), BLOB)
    repo.put(os.urandom(800_000), BLOB)  # referenced by nothing: 80 % of the pack is dead
    repo.flush()
    workspace.registry.register("kept", artifact={"kind": "file", "digest": keep})
    stale = Repository.open(repo.backend)  # another process, with the index as it is now
    assert stale.get(keep)
    before = stale.entry(keep)
    result = collect(workspace.db, repo, workspace.access, utcnow(), grace_s=0)
    assert result["sweep"]["repacked_packs"] == 1 and result["sweep"]["bytes_freed"] >= 700_000
    assert repo.entry(keep).pack != stale.entry(keep).pack  # copied out, the old pack gone
    assert len(stale.get(keep)) == 200_000  # the old index sends it to the new pack
    stale2 = Repository.open(Repository.open(repo.backend).backend)
    stale2._index = dict(stale.index)  # an index from before the sweep, as a replica would hold it
    stale2._index[keep] = before
    assert b"".join(bytes(p) for p in stale2.get_many([keep])) == repo.get(keep)  # streaming reads find it too
    assert LocalConnection(workspace).admin.verify()["ok"]


def test_gc_never_drops_roots_and_says_what_it_did(workspace: Workspace, tmp_path: Path) -> None:
    held = _register(workspace, tmp_path, "r", os.urandom(1000))
    _register(workspace, tmp_path, "r", os.urandom(1000))
    workspace.registry.set_alias(held, "staging")
    LocalConnection(workspace).retention.set_policy("model", "*", {"keep_last": 1})
    result = collect(workspace.db, workspace.repo, workspace.access, utcnow(), grace_s=0)
    assert result["marked"] == [] and workspace.registry.get(held).ref == held
    from modelkeep.services.governance.audit import verify_chain

    assert verify_chain(workspace.db)["ok"]


def test_the_server_collects_on_its_schedule(workspace: Workspace, tmp_path: Path) -> None:
    from modelkeep.services.retention.gc import GcSchedule

    old = _register(workspace, tmp_path, "s", os.urandom(1000))
    _register(workspace, tmp_path, "s", os.urandom(1000))
    LocalConnection(workspace).retention.set_policy("model", "s", {"keep_last": 1})
    assert GcSchedule(workspace.db, workspace.repo, workspace.config).tick() is None  # gc.every unset: never
    workspace.config.set("gc.every", "24h")
    workspace.config.set("gc.grace", "1h")
    schedule = GcSchedule(workspace.db, workspace.repo, workspace.config)
    t0 = utcnow()
    first = schedule.tick(t0)
    assert first is not None and first["marked"] == [f"model:{old}"]
    assert schedule.tick(t0 + timedelta(hours=1)) is None  # not due yet
    assert GcSchedule(workspace.db, workspace.repo, workspace.config).tick(t0 + timedelta(hours=1)) is None  # a restart
    assert schedule.tick(t0 + timedelta(hours=25))["purged"] == [f"model:{old}"]
    workspace.config.set("gc.every", "often")
    with pytest.raises(InvalidInput, match="a number and a unit"):
        GcSchedule(workspace.db, workspace.repo, workspace.config)


def test_the_sweep_reports_its_progress_in_bytes(workspace: Workspace) -> None:
    repo = workspace.repo
    for _ in range(3):
        repo.put(os.urandom(100_000), BLOB)  # referenced by nothing
        repo.flush()

    class Seen:
        total, done = 0, 0

        def set_total(self, n: int) -> None:
            self.total = n

        def advance(self, n: int) -> None:
            self.done += n

    seen = Seen()
    result = collect(workspace.db, repo, workspace.access, utcnow(), grace_s=0, progress=seen)
    assert result["sweep"]["deleted_packs"] == 3 and seen.total >= 300_000 and seen.done == seen.total


def test_gc_deletes_runs_in_the_trash_longer_than_its_grace(workspace: Workspace) -> None:
    """As ``mlflow gc``: a run deleted through MLflow's API waits in the trash (restorable) for the
    grace period; the gc after that deletes it, and the dry run lists what is in the trash."""
    from modelkeep.services.interface import RunCreate

    runs = workspace.runs
    trashed, kept, restored = (runs.create(RunCreate(name=n)) for n in ("trashed", "kept", "restored"))
    runs.log_params(trashed, {"lr": 0.1})
    t0 = utcnow()
    for run_id in (trashed, restored):
        runs.trash(run_id)
    runs.trash(restored, restore=True)
    retention = LocalConnection(workspace).retention
    assert [row["run"] for row in retention.plan()["trash"]] == [trashed]
    hour = 3600.0
    assert collect(workspace.db, workspace.repo, workspace.access, t0, grace_s=hour)["runs_deleted"] == []
    later = collect(workspace.db, workspace.repo, workspace.access, t0 + timedelta(hours=2), grace_s=hour)
    assert later["runs_deleted"] == [trashed]
    with pytest.raises(NotFound):
        runs.get(trashed)
    assert runs.get(kept).deleted_at is None and runs.get(restored).deleted_at is None
    assert retention.plan()["trash"] == []
