"""Writers and gc with no lock (issue 16): a lease taken before a writer's first dedup lookup holds
back the sweep of a list published while it was open; the journal and each registry's published
reference set keep what other registries sharing the store (and pushes into it) reference."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from modelkeep.services.clock import utcnow
from modelkeep.services.connection import LocalConnection
from modelkeep.services.retention.gc import collect
from modelkeep.services.workspace import Workspace, init_workspace, open_workspace
from modelkeep.store import leases
from modelkeep.store.format import BLOB
from modelkeep.store.ingest import Ingestor, scan


def _stray(workspace: Workspace, data: bytes) -> str:
    """An object in the store nothing references (what a dropped version leaves), in a pack with another."""
    workspace.repo.put(os.urandom(1000), BLOB)
    oid, _ = workspace.repo.put(data, BLOB)
    workspace.repo.flush()
    return str(oid)


def test_a_writer_that_reused_an_object_before_the_list_holds_the_sweep_back(workspace: Workspace, tmp_path: Path) -> None:
    data = os.urandom(4000)
    stray = _stray(workspace, data)
    art = tmp_path / "model.bin"
    art.write_bytes(data)
    with leases.lease_scope():  # a register command: its lease lasts until its commit
        with Ingestor(workspace.repo) as ingest:
            [item] = scan(art)
            entry = ingest.add_file(item)  # dedup: the stray copy is reused, nothing new is written
        assert str(entry.id) == stray and ingest.stats.bytes_new == 0
        result = collect(workspace.db, workspace.repo, workspace.access, utcnow(), grace_s=0)  # a gc meanwhile
        assert result["sweep"]["condemned_now"] == 2 and result["sweep"]["objects_deleted"] == 0
        assert [w["purpose"] for w in result["sweep"]["waiting_on"]] == ["ingest"]
        ref = workspace.registry.register("m", artifact={"kind": "file", "digest": stray}).ref
    result = collect(workspace.db, workspace.repo, workspace.access, utcnow(), grace_s=0)  # the lease is gone
    assert result["sweep"]["waiting_on"] == [] and result["sweep"]["objects_deleted"] == 2  # the rescued copy's spare
    view = workspace.registry.get(ref)
    assert workspace.store.materialize(view.artifact_kind, view.digest, tmp_path / "back.bin").read_bytes() == data
    assert LocalConnection(workspace).admin.verify()["ok"]


def test_a_writer_leasing_after_the_list_writes_a_fresh_copy_and_an_expired_lease_holds_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = os.urandom(4000)
    stray = _stray(workspace, data)
    dead = leases.Lease(workspace.repo, "a writer killed with kill -9").open()
    doc = json.loads(workspace.repo.backend.get(dead.key))
    workspace.repo.backend.put(dead.key, json.dumps(doc | {"expires": doc["expires"] - 2 * leases.LEASE_TTL_S}).encode())
    workspace.repo.leases.discard(dead)
    result = collect(workspace.db, workspace.repo, workspace.access, utcnow(), grace_s=3600)
    assert result["sweep"]["condemned_now"] == 2  # the list is out; the expired lease is not on it
    art = tmp_path / "model.bin"
    art.write_bytes(data)
    with Ingestor(workspace.repo) as ingest:
        [item] = scan(art)
        ingest.add_file(item)
        workspace.repo.flush()
    assert ingest.stats.bytes_new == 4000  # the condemned copy is not reused
    ref = workspace.registry.register("m", artifact={"kind": "file", "digest": stray}).ref
    later = collect(workspace.db, workspace.repo, workspace.access, utcnow() + timedelta(hours=2), grace_s=3600)
    assert later["sweep"]["waiting_on"] == [] and later["sweep"]["objects_deleted"] == 2  # the spare copy too
    view = workspace.registry.get(ref)
    assert workspace.store.materialize(view.artifact_kind, view.digest, tmp_path / "back.bin").read_bytes() == data
    assert list(workspace.repo.backend.list(leases.LEASES)) == []


def test_an_upload_registered_later_survives_the_grace_period_through_the_journal(workspace: Workspace, tmp_path: Path) -> None:
    art = tmp_path / "upload.bin"
    art.write_bytes(os.urandom(50_000))
    stored = workspace.store.put_path(art)  # an upload through a server: registered by a later request
    t0 = utcnow()
    kept = collect(workspace.db, workspace.repo, workspace.access, t0, grace_s=3600)
    assert kept["sweep"]["condemned_now"] == 0  # the journal names it: referenced for now
    ref = workspace.registry.register("later", artifact={"kind": "file", "digest": stored.digest}).ref
    collect(workspace.db, workspace.repo, workspace.access, t0 + timedelta(hours=2), grace_s=3600)
    view = workspace.registry.get(ref)
    assert workspace.store.materialize(view.artifact_kind, view.digest, tmp_path / "b.bin").read_bytes() == art.read_bytes()
    orphan = tmp_path / "orphan.bin"
    orphan.write_bytes(os.urandom(50_000))
    workspace.store.put_path(orphan)  # uploaded and never registered
    assert collect(workspace.db, workspace.repo, workspace.access, t0, grace_s=3600)["sweep"]["condemned_now"] == 0
    late = t0 + timedelta(hours=4)
    collect(workspace.db, workspace.repo, workspace.access, late, grace_s=3600)  # past the grace: condemned
    gone = collect(workspace.db, workspace.repo, workspace.access, late + timedelta(hours=2), grace_s=3600)
    assert gone["sweep"]["bytes_freed"] >= 50_000


@pytest.fixture
def two_registries(tmp_path: Path):  # type: ignore[no-untyped-def]
    shared = tmp_path / "shared-store"
    opened = []
    for name in ("a", "b"):
        ws, _ = init_workspace(tmp_path / name)
        ws.config.set("store.url", str(shared))
        ws.close()
        opened.append(open_workspace(tmp_path / name / ".modelkeep"))
    yield opened
    for ws in opened:
        ws.close()


def _register(workspace: Workspace, tmp_path: Path, name: str, data: bytes) -> str:
    art = tmp_path / f"{name}-{data[:4].hex()}.bin"
    art.write_bytes(data)
    return workspace.registry.register(name, art).ref


def test_a_store_shared_by_two_registries_is_swept_keeping_what_each_references(
    two_registries: list[Workspace], tmp_path: Path
) -> None:
    a, b = two_registries
    theirs_data = os.urandom(400_000)
    theirs = _register(b, tmp_path, "theirs", theirs_data)  # only b's database knows this version
    old = _register(a, tmp_path, "mine", os.urandom(400_000))
    _register(a, tmp_path, "mine", os.urandom(1000))
    LocalConnection(a).retention.set_policy("model", "mine", {"keep_last": 1})
    result = collect(a.db, a.repo, a.access, utcnow(), grace_s=0)
    assert result["marked"] == [f"model:{old}"] and result["purged"] == [f"model:{old}"]
    assert "skipped" not in result["sweep"] and result["sweep"]["bytes_freed"] >= 390_000  # a's own dropped bytes
    b.repo.reload_index()
    view = b.registry.get(theirs)
    assert b.store.materialize(view.artifact_kind, view.digest, tmp_path / "theirs.bin").read_bytes() == theirs_data
    # b publishes its set at its own gc; its journal entries go then, and a still keeps b's version
    from modelkeep.services.workspace import registry_id

    collect(b.db, b.repo, b.access, utcnow() + timedelta(hours=1), grace_s=0)
    assert not [e for e in leases.journal(b.repo).values() if e["registry"] == registry_id(b.db)]
    assert [view.artifact_kind, view.digest] in leases.reference_set(b.repo, registry_id(b.db))["roots"]
    collect(a.db, a.repo, a.access, utcnow() + timedelta(hours=2), grace_s=0)
    b.repo.reload_index()
    assert b.store.materialize(view.artifact_kind, view.digest, tmp_path / "again.bin").read_bytes() == theirs_data
    assert LocalConnection(b).admin.verify()["ok"]


def test_a_registry_an_older_version_marked_keeps_the_store_unswept(two_registries: list[Workspace], tmp_path: Path) -> None:
    a, _b = two_registries
    a.repo.backend.put(leases.REGISTRIES + "0123456789abcdef", b"{}")  # what the previous release wrote
    result = collect(a.db, a.repo, a.access, utcnow(), grace_s=0)
    assert "published no reference set (0123456789abcdef)" in result["sweep"]["skipped"]


def test_a_push_publishes_what_the_remote_must_keep_for_the_pusher(workspace: Workspace, tmp_path: Path) -> None:
    from modelkeep.services.data.roots import registry_roots
    from modelkeep.services.data.sync import push

    data = os.urandom(300_000)
    ref = _register(workspace, tmp_path, "pushed", data)
    remote = tmp_path / "remote-store"
    push(workspace.config, registry_roots(workspace.db), workspace.repo, str(remote))
    server, _ = init_workspace(tmp_path / "server")  # a server whose own store is that remote
    server.config.set("store.url", str(remote))
    server.close()
    server = open_workspace(tmp_path / "server" / ".modelkeep")
    try:
        result = collect(server.db, server.repo, server.access, utcnow() + timedelta(days=2), grace_s=0)
        assert "skipped" not in result["sweep"] and result["sweep"]["objects_deleted"] == 0
        view = workspace.registry.get(ref)
        server.repo.reload_index()
        assert server.store.materialize(view.artifact_kind, view.digest, tmp_path / "p.bin").read_bytes() == data
    finally:
        server.close()


def test_a_lease_is_renamed_into_place_whole_without_an_fsync_and_a_journal_entry_with_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lease matters only while its writer lives (a crash that loses it ends the writer too); the
    journal and every other value are forced to disk before they are renamed into place."""

    from modelkeep.store.backends import open_backend, put_while_alive

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    backend = open_backend(str(tmp_path / "store"))
    put_while_alive(backend, "leases/0001-ab", b'{"purpose": "ingest"}')
    assert synced == [] and backend.get("leases/0001-ab") == b'{"purpose": "ingest"}'
    assert not list((tmp_path / "store" / ".tmp").iterdir())  # no temporary left beside it
    backend.put("journal/0001-ab", b'{"roots": []}')
    assert len(synced) == 1
