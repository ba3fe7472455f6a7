"""`mk data checkout --prune` removes only what an earlier checkout wrote, and touches nothing
until every object of the target version has been read and verified (issue 10)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelkeep.errors import Conflict, IntegrityError, InvalidInput
from modelkeep.services.workspace import Workspace
from modelkeep.store.packs import pack_key
from tests.test_cli_data import mk


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _two_versions(ws: Workspace, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("a1")
    (data / "sub" / "b.txt").write_text("b1")
    ws.datasets.add(data, "ds")
    (data / "sub" / "b.txt").unlink()
    (data / "a.txt").write_text("a2")
    (data / "c.txt").write_text("c2")
    ws.datasets.add(data, "ds")
    return data


def _damage_c2(ws: Workspace) -> None:
    """Flip a byte of ds@2's c.txt where its pack holds it."""
    c2 = ws.datasets.files("ds@2")["c.txt"]
    entry = ws.repo.entry(c2.id)
    path = Path(ws.config.store_url) / pack_key(entry.pack)
    raw = bytearray(path.read_bytes())
    raw[entry.offset] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(raw))


def test_prune_removes_only_unchanged_files_of_an_earlier_checkout(workspace: Workspace, tmp_path: Path) -> None:
    _two_versions(workspace, tmp_path)
    out = tmp_path / "out"
    workspace.datasets.checkout("ds@1", out)
    (out / "mine.txt").write_text("the user's own file")
    (out / "sub" / "notes.md").write_text("also the user's")
    result = workspace.datasets.checkout("ds@2", out, prune=True)[1]
    assert result.removed == ["sub/b.txt"]  # written by the checkout of ds@1, unchanged since
    assert result.kept == ["mine.txt", "sub/notes.md"]
    files = _tree(out)
    assert files["mine.txt"] == b"the user's own file" and files["sub/notes.md"] == b"also the user's"
    assert files["a.txt"] == b"a2" and files["c.txt"] == b"c2" and "sub/b.txt" not in files


def test_modified_tracked_file_is_kept_and_reported(workspace: Workspace, tmp_path: Path) -> None:
    _two_versions(workspace, tmp_path)
    out = tmp_path / "out"
    workspace.datasets.checkout("ds@1", out)
    (out / "sub" / "b.txt").write_text("edited by hand")  # tracked, not in ds@2, changed since
    result = workspace.datasets.checkout("ds@2", out, prune=True)[1]
    assert result.kept == ["sub/b.txt"] and (out / "sub" / "b.txt").read_text() == "edited by hand"
    # a tracked file the next version replaces, edited since: refused, nothing touched
    workspace.datasets.checkout("ds@1", out, force=["sub/b.txt"])
    (out / "a.txt").write_text("my edit")
    before = _tree(out)
    with pytest.raises(Conflict, match="a.txt"):
        workspace.datasets.checkout("ds@2", out, prune=True)
    assert _tree(out) == before
    result = workspace.datasets.checkout("ds@2", out, prune=True, force=["a.txt", "sub"])[1]
    assert (out / "a.txt").read_text() == "a2" and result.removed == ["sub/b.txt"]


def test_prune_refuses_a_folder_that_was_never_a_checkout(workspace: Workspace, tmp_path: Path) -> None:
    _two_versions(workspace, tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.tex").write_text("years of work")
    with pytest.raises(InvalidInput, match="no checkout manifest"):
        workspace.datasets.checkout("ds@1", project, prune=True)
    assert _tree(project) == {"thesis.tex": b"years of work"}


@pytest.mark.parametrize("where", ["/", "~", "repo", "repo-parent"])
def test_prune_refuses_root_home_and_repository(workspace: Workspace, tmp_path: Path, where: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _two_versions(workspace, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    dest = {"/": Path("/"), "~": Path("~"), "repo": tmp_path, "repo-parent": tmp_path.parent}[where]
    with pytest.raises(InvalidInput, match="--prune refuses"):
        workspace.datasets.checkout("ds@1", dest, prune=True)


def test_damaged_target_leaves_the_folder_exactly_as_it_was(workspace: Workspace, tmp_path: Path) -> None:
    _two_versions(workspace, tmp_path)
    out = tmp_path / "out"
    workspace.datasets.checkout("ds@1", out)
    (out / "mine.txt").write_text("mine")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    _damage_c2(workspace)
    with pytest.raises(IntegrityError, match="nothing in the folder was changed"):
        workspace.datasets.checkout("ds@2", out, prune=True)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == before
    assert not list(out.glob(".mk-staging-*"))


def test_a_fresh_checkout_appears_whole_or_not_at_all_and_never_writes_outside(workspace: Workspace,
                                                                               tmp_path: Path) -> None:
    """A folder that does not exist yet is written beside it and renamed into place whole: on a
    damaged object neither it nor its staging folder is left; a stored path that would lead outside
    (``..``, or a symbolic link on the way) is refused before anything is written."""
    from modelkeep.store.dataset_checkout import checkout_files
    from modelkeep.store.format import TREE, TreeEntry, encode_tree, object_id

    _two_versions(workspace, tmp_path)
    out = tmp_path / "new" / "out"
    workspace.datasets.checkout("ds@2", out)
    assert _tree(out) == {".modelkeep-checkout.json": (out / ".modelkeep-checkout.json").read_bytes(),
                          "a.txt": b"a2", "c.txt": b"c2"}
    assert workspace.datasets.checkout("ds@2", out)[1].written == 0  # the manifest vouches for every file
    assert not list(out.parent.glob(".mk-staging-*"))
    _damage_c2(workspace)
    damaged = tmp_path / "damaged"
    with pytest.raises(IntegrityError, match="nothing in the folder was changed"):
        workspace.datasets.checkout("ds@2", damaged)
    assert not damaged.exists() and not list(tmp_path.glob(".mk-staging-*"))
    a1 = workspace.datasets.files("ds@1")["a.txt"]
    for name in ("..", "."):
        inner = encode_tree([TreeEntry(name, "blob", a1.id, a1.size)])
        workspace.repo.put(inner, TREE)
        outer = encode_tree([TreeEntry("sub", "tree", object_id(inner), a1.size)])
        workspace.repo.put(outer, TREE)
        root = TreeEntry("", "tree", object_id(outer), a1.size, 0)
        for into in (tmp_path / "bad-new", out):  # a new folder, and one holding a checkout
            with pytest.raises(IntegrityError, match="escapes its folder"):
                checkout_files(workspace.repo, root, into, file_name="x", owner="ds", version="ds@9")
    (out / "link").symlink_to(tmp_path)
    escape = encode_tree([TreeEntry("link", "tree", object_id(encode_tree([TreeEntry("x.txt", "blob", a1.id, a1.size)])),
                                    a1.size)])
    workspace.repo.put(encode_tree([TreeEntry("x.txt", "blob", a1.id, a1.size)]), TREE)
    workspace.repo.put(escape, TREE)
    with pytest.raises(IntegrityError, match="escapes its folder"):
        checkout_files(workspace.repo, TreeEntry("", "tree", object_id(escape), a1.size, 0), out, file_name="x",
                       owner="ds", version="ds@9")
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "bad-new").exists()


def test_cli_prune_refusals_and_exit_codes(tmp_path: Path) -> None:
    mk(tmp_path, "init")
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.csv").write_text("a\n1\n")
    mk(tmp_path, "data", "add", "data", "--name", "t")
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep.txt").write_text("keep")
    env = {"HOME": str(home)}
    for dest in ("/", str(home), str(tmp_path)):
        result = mk(tmp_path, "data", "checkout", "t@1", "--to", dest, "--prune", code=1, env=env)
        assert "--prune refuses" in result.stderr and "Traceback" not in result.stderr
    assert (home / "keep.txt").exists()
    mk(tmp_path, "data", "checkout", "t@1", "--to", "copy")
    assert (tmp_path / "copy" / "x.csv").read_text() == "a\n1\n"
    # the checkout's manifest is not data: adding the checked-out folder again changes nothing
    assert "unchanged" in mk(tmp_path, "data", "add", "copy", "--name", "t").stdout
