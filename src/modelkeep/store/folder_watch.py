"""A watcher of a data folder, so ``mk data status`` stats only what changed (as git's fsmonitor).

``mk data watch FOLDER`` starts one process per folder that holds an inotify watch on every folder
under it and counts each change to a path: ``seq`` grows by one per change, and the watcher knows
the last ``seq`` at which each path changed. A status or an add asks for a *token* (the watcher's
instance and its ``seq``) before it scans, and keeps the token in the folder's status index when it
records the folder's stats. The next status asks which paths changed after that token and stats
only those (and the files whose stat was too recent to trust); every other file is as the index
recorded it.

Why a token can be trusted: Linux queues an inotify event inside the system call that changed the
file, and the watcher reads every queued event before it answers. So a change made before the
question is in the answer. A token from before an overflow of the kernel's queue, or from another
instance of the watcher, is refused, and the status scans the whole folder as it would without one.

Not seen by inotify, and so not by this: writes through a shared memory map, changes made by another
machine to a network file system, and changes to files a symbolic link inside the folder points to
(the watcher reports such links as changed every time, so they are always read), and a file given a
second name (a hard link) outside the folder while the watcher runs, then written through that name:
Linux tells the folder's watch of neither. Files that already had a second name when the watcher
started, or that get one inside the folder, are reported as changed every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat as stat_mod
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput

WAIT_READY = 120.0  # seconds a start waits for the watcher to have every folder watched
ASK_TIMEOUT = 5.0  # a watcher answers in milliseconds; this is for one stopped or starved


@dataclass
class WatchState:
    """What a watcher knows: when each path last changed, in its own count of changes."""

    instance: str
    seq: int = 0
    valid_from: int = 0  # tokens older than this are refused (the kernel's queue overflowed)
    changed: dict[str, int] = field(default_factory=dict)
    always: set[str] = field(default_factory=set)  # symbolic links: what they point to is not watched
    blind: str | None = None  # why a folder is not watched: no token is vouched for again

    def touch(self, rel: str) -> None:
        self.seq += 1
        self.changed[rel] = self.seq

    def overflow(self) -> None:
        """Events were lost: nothing before now can be vouched for."""
        self.seq += 1
        self.valid_from = self.seq
        self.changed.clear()

    def token(self) -> dict[str, Any]:
        return {"instance": self.instance, "seq": self.seq}

    def since(self, token: dict[str, Any]) -> list[str] | None:
        """Paths changed after ``token`` (symbolic links always), or None when it cannot be vouched for."""
        if self.blind or token.get("instance") != self.instance or not isinstance(token.get("seq"), int):
            return None
        if token["seq"] < self.valid_from or token["seq"] > self.seq:
            return None
        seq = token["seq"]
        return sorted({rel for rel, at in self.changed.items() if at > seq} | self.always)


def folder_key(folder: Path) -> str:
    """The name a data folder's files in the cache's ``status`` folder share: its status index
    (``KEY.idx``), its watcher's socket (``KEY.sock``) and log."""
    return hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:32]


def socket_name(folder: Path) -> str:
    """The watcher's socket, in the cache's ``status`` folder beside the folder's status index."""
    return f"{folder_key(folder)}.sock"


# --------------------------------------------------------------------------- the asking side


@contextlib.contextmanager
def _connected(status_dir: Path, name: str) -> Iterator[socket.socket]:
    """A connection to the watcher listening on ``name``. The socket is reached through the status
    folder's file descriptor: a socket's path is limited to 108 bytes, a cache's path is not."""
    dir_fd = os.open(status_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.stat(name, dir_fd=dir_fd)
        if not stat_mod.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
            raise ConnectionRefusedError(f"{name} is not this user's watcher")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(ASK_TIMEOUT)
            sock.connect(f"/proc/self/fd/{dir_fd}/{name}")
            yield sock
        finally:
            sock.close()
    finally:
        os.close(dir_fd)


def ask(status_dir: Path, folder: Path, request: dict[str, Any]) -> dict[str, Any] | None:
    """The watcher's answer, or None when no watcher of ``folder`` answers."""
    return _ask(status_dir, socket_name(folder), request)


def running(status_dir: Path) -> list[dict[str, Any]]:
    """Every watcher of this cache that answers: its folder, pid and folders watched."""
    if not status_dir.is_dir():
        return []
    found = (_ask(status_dir, path.name, {"ask": "token"}) for path in sorted(status_dir.glob("*.sock")))
    return sorted((answer for answer in found if answer), key=lambda answer: str(answer.get("folder")))


def _ask(status_dir: Path, name: str, request: dict[str, Any]) -> dict[str, Any] | None:
    try:
        with _connected(status_dir, name) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                part = sock.recv(1 << 20)
                if not part:
                    return None
                data += part
        answer = json.loads(data)
        return answer if isinstance(answer, dict) else None
    except (OSError, ValueError):
        return None


def token(status_dir: Path | None, folder: Path) -> dict[str, Any] | None:
    """The watcher's token now (to keep beside stats read after this), or None without a watcher."""
    if status_dir is None or not status_dir.is_dir():
        return None
    answer = ask(status_dir, Path(folder).resolve(), {"ask": "token"})
    return answer.get("token") if answer else None


def changed_since(status_dir: Path | None, folder: Path, since: dict[str, Any] | None) -> tuple[list[str], dict] | None:
    """The paths changed after ``since`` and the token now, or None when the watcher cannot say."""
    if since is None or status_dir is None:
        return None
    answer = ask(status_dir, Path(folder).resolve(), {"ask": "since", "token": since})
    if not answer or answer.get("changed") is None:
        return None
    return [str(rel) for rel in answer["changed"]], answer["token"]


def start(status_dir: Path, folder: Path) -> dict[str, Any]:
    """Start the folder's watcher (once; a second start finds the first) and wait until it watches."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder; a watcher watches a dataset's folder")
    if not sys.platform.startswith("linux"):
        raise InvalidInput("mk data watch needs Linux's inotify; status scans the folder instead")
    status_dir.mkdir(parents=True, exist_ok=True)
    running = ask(status_dir, folder, {"ask": "token"})
    if running:
        return running | {"started": False}
    import subprocess  # (here: a status asks a watcher, it starts none)

    log = (status_dir / socket_name(folder)).with_suffix(".log")
    try:
        with log.open("ab") as out:  # the process forks the watcher once it listens, and exits: 0 when ready
            done = subprocess.run([sys.executable, "-m", "modelkeep.store.folder_watch", str(folder), str(status_dir)],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                  timeout=WAIT_READY, check=False)
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"the watcher of {folder} did not start within {WAIT_READY:.0f} s") from None
    answer = ask(status_dir, folder, {"ask": "token"}) if done.returncode == 0 else None
    if answer is None:
        raise InvalidInput(f"the watcher of {folder} did not start: {log.read_text()[-500:].strip()}")
    return answer | {"started": True}


def stop(status_dir: Path, folder: Path) -> bool:
    """Stop the folder's watcher; False when none was running."""
    return ask(status_dir, Path(folder).resolve(), {"ask": "stop"}) is not None


# --------------------------------------------------------------------------- the watcher


class Watcher:
    """The watching process: inotify on every folder under ``root``, answering on a socket."""

    def __init__(self, root: Path) -> None:
        import secrets

        from inotify_simple import INotify, flags

        self.root = root
        self.flags = flags
        self.mask = (flags.MODIFY | flags.ATTRIB | flags.CLOSE_WRITE | flags.CREATE | flags.DELETE | flags.MOVED_FROM
                     | flags.MOVED_TO | flags.DELETE_SELF | flags.MOVE_SELF | flags.DONT_FOLLOW | flags.EXCL_UNLINK)
        self.inotify = INotify()
        self.folders: dict[int, str] = {}  # watch descriptor -> the folder's relative path ("" for the root)
        self.state = WatchState(secrets.token_hex(8))
        self.ready = False
        self.links_unnoted = False  # a hard link was made inside: its first name is noted before the next answer
        self._watch_tree("")
        self.ready = True

    def _watch_tree(self, rel: str) -> None:
        """Watch ``rel`` and every folder under it (symbolic links are noted, not followed)."""
        pending = [rel]
        while pending:
            current = pending.pop()
            path = os.path.join(self.root, current) if current else str(self.root)
            try:
                self.folders[self.inotify.add_watch(path, self.mask)] = current
                listing = list(os.scandir(path))
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone already: its parent's event says so
            except OSError as exc:  # ENOSPC: the user's inotify watches are used up
                why = f"{path} could not be watched ({exc.strerror}); raise fs.inotify.max_user_watches with sysctl"
                if not self.ready:
                    raise SystemExit(why) from None
                self.state.blind = why
                return
            for item in listing:
                child = f"{current}/{item.name}" if current else item.name
                if item.is_symlink():
                    self.state.always.add(child)
                elif item.is_dir(follow_symlinks=False):
                    pending.append(child)
                else:
                    self._note_links(child, item.stat(follow_symlinks=False))

    def _note_links(self, rel: str, st: os.stat_result) -> None:
        """A file with another name (a hard link, here or elsewhere) may be written through that name,
        which raises no event here: it is reported as changed every time."""
        if st.st_nlink > 1:
            self.state.always.add(rel)

    def _note_all_links(self) -> None:
        """Every file under the folder with a second name, noted (a walk: hard links are made rarely)."""
        for folder, _, names in os.walk(self.root):
            rel_folder = os.path.relpath(folder, self.root)
            for name in names:
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(folder, name))
                    if stat_mod.S_ISREG(st.st_mode):
                        self._note_links(name if rel_folder == "." else f"{rel_folder}/{name}", st)

    def _forget_tree(self, rel: str) -> None:
        """Stop watching ``rel`` and the folders under it (moved away or removed)."""
        prefix = rel + "/"
        for wd, folder in list(self.folders.items()):
            if folder == rel or folder.startswith(prefix):
                del self.folders[wd]
                with contextlib.suppress(OSError):
                    self.inotify.rm_watch(wd)
        self.state.always = {p for p in self.state.always if p != rel and not p.startswith(prefix)}

    def drain(self) -> None:
        """Apply every event the kernel has queued (all changes made before this call)."""
        flags = self.flags
        while True:
            events = self.inotify.read(timeout=0)
            if not events:
                return
            for event in events:
                if event.mask & flags.Q_OVERFLOW:
                    self.state.overflow()
                    continue
                folder = self.folders.get(event.wd)
                if folder is None:
                    continue  # a folder no longer watched
                if not event.name:  # the watched folder itself
                    if event.mask & (flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED):
                        self.state.touch(folder)
                        self._forget_tree(folder)
                    continue
                rel = f"{folder}/{event.name}" if folder else event.name
                self.state.touch(rel)
                is_dir = bool(event.mask & flags.ISDIR)
                if is_dir and event.mask & (flags.MOVED_FROM | flags.DELETE):
                    self._forget_tree(rel)
                if event.mask & (flags.CREATE | flags.MOVED_TO | flags.ATTRIB):
                    try:
                        st = os.lstat(os.path.join(self.root, rel))
                    except FileNotFoundError:
                        continue  # gone again: a later event says so
                    if stat_mod.S_ISLNK(st.st_mode):
                        self.state.always.add(rel)
                    elif stat_mod.S_ISDIR(st.st_mode):
                        if not event.mask & flags.ATTRIB:
                            self._watch_tree(rel)  # files made in it before its watch: the folder is read whole
                    elif st.st_nlink > 1 and event.mask & (flags.CREATE | flags.MOVED_TO) and rel not in self.state.always:
                        self.links_unnoted = True  # a second name made here: the first one raised no event
                elif event.mask & (flags.DELETE | flags.MOVED_FROM):
                    self.state.always.discard(rel)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        self.drain()
        if self.links_unnoted:  # one walk before an answer, not one per link (cp -al of 100,000 files)
            self._note_all_links()
            self.links_unnoted = False
        if request.get("ask") == "since":
            since = request.get("token")
            changed = self.state.since(since) if isinstance(since, dict) else None
            return {"changed": changed, "token": self.state.token()}
        return {"token": self.state.token(), "folder": str(self.root), "pid": os.getpid(),
                "folders_watched": len(self.folders)}

    def listen(self, status_dir: Path) -> socket.socket:
        """The watcher's socket, bound and listening (questions wait in its queue from now on)."""
        os.chdir(status_dir)  # bound by a short relative name (a socket's path is limited to 108 bytes)
        name = socket_name(self.root)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o077)  # this user's only
        try:
            listener.bind(name)
        finally:
            os.umask(old_mask)
        listener.listen(16)
        return listener

    def serve(self, listener: socket.socket) -> None:
        """Answer until asked to stop, or until the folder or this watcher's socket is gone (the
        repository removed, or a second watcher of the folder bound the name: the later one serves)."""
        import selectors

        name = socket_name(self.root)
        ours = os.stat(name).st_ino
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ, "listener")
        selector.register(self.inotify.fileno(), selectors.EVENT_READ, "inotify")
        try:
            while True:
                try:
                    if os.stat(name).st_ino != ours:
                        return
                except OSError:
                    return
                for key, _ in selector.select(timeout=60):
                    if key.data == "inotify":
                        self.drain()
                        if not self.root.is_dir():
                            return  # the folder is gone: nothing left to watch
                        continue
                    conn, _ = listener.accept()
                    with conn:
                        if not self._handle(conn):
                            return
        finally:
            with contextlib.suppress(OSError):
                if os.stat(name).st_ino == ours:
                    os.unlink(name)

    def _handle(self, conn: socket.socket) -> bool:
        """Answer one request; False when it asked the watcher to stop."""
        conn.settimeout(ASK_TIMEOUT)
        data = b""
        try:
            while not data.endswith(b"\n") and len(data) < 65536:
                part = conn.recv(65536)
                if not part:
                    return True
                data += part
            request = json.loads(data)
            if not isinstance(request, dict):
                return True
            if request.get("ask") == "stop":
                conn.sendall(b'{"stopped": true}\n')
                return False
            conn.sendall(json.dumps(self.answer(request)).encode() + b"\n")
        except (OSError, ValueError):
            pass
        return True


def main() -> None:
    """Watch, listen, then fork: the parent's exit (0) tells ``start`` the watcher is ready."""
    folder, status_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()  # (it changes folder to listen)
    watcher = Watcher(folder)
    listener = watcher.listen(status_dir)
    if os.fork() > 0:
        os._exit(0)
    watcher.serve(listener)


if __name__ == "__main__":
    main()
