"""Where a modelkeep repository lives and how it is configured.

A repository is a ``.modelkeep/`` folder holding ``config.toml``, the SQLite database
``registry.db`` (unless the configuration names another database) and the local object folder
``objects/``. Commands find it like git: ``MODELKEEP_HOME`` if set (the ``.modelkeep`` folder
itself or the folder that contains it), otherwise the nearest ``.modelkeep/`` walking up from
the current directory.

Settings are dotted keys (``db.url``, ``store.url``, ``user.name``, ``remote.origin``). They
come from the user's config (``config.toml`` in the platform's config folder, or
``MODELKEEP_CONFIG_DIR``: ``mk config set --global``), overridden by the repository's, overridden
by environment variables: ``MODELKEEP_DB`` for ``db.url``, ``MODELKEEP_USER`` for ``user.name``.
Setting a key rewrites only that key (tomlkit): the file keeps its comments and layout.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput, NotFound

DIR_NAME = ".modelkeep"
CONFIG_FILE = "config.toml"
DB_FILE = "registry.db"
OBJECTS_DIR = "objects"

KNOWN_KEYS = {
    "lineage.namespace": "the OpenLineage namespace of this registry's jobs and datasets (default: modelkeep://HOST/PATH)",
    "db.url": "database URL (sqlite:///... or postgresql+psycopg://user@host/db)",
    "store.url": "object store location (a folder path or file:// URL)",
    "user.name": "the name recorded as created_by",
    "remote.origin": "the default remote store for push/pull",
    "store.compression": "zstd level for new chunks (-7..19) or 'off' (default: the store's config, level 1)",
    "audit.key_file": "file holding the audit chain's HMAC key (default .modelkeep/keys/audit.key; keep it apart)",
    "audit.signing_key": "Ed25519 key (PEM) that signs audit checkpoints (default .modelkeep/keys/audit-signing.pem)",
    "server.max_upload_bytes": "largest artifact one upload may carry (default 10 GiB)",
    "audit.checkpoint_every": "the server signs a checkpoint every N audit entries (default 1000)",
    "gc.every": "mk server collects garbage this often (e.g. 24h; default: never, run mk gc yourself)",
    "gc.grace": "undelete window and sweep delay of a scheduled gc (default 24h)",
    "quota.default": "bytes of model and run artifacts a project may hold (e.g. 50GiB; default: no limit)",
}
_REMOTE = re.compile(r"remote\.[a-z][a-z0-9_-]*\Z")
_QUOTA = re.compile(r"quota\.project\.[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")
_KEY = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_.-]*\Z")


@dataclass
class RepoConfig:
    """The resolved configuration of one repository."""

    root: Path  # the .modelkeep folder
    values: dict[str, str] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        url = os.environ.get("MODELKEEP_DB") or self.values.get("db.url")
        return url or f"sqlite:///{self.root / DB_FILE}"

    @property
    def store_url(self) -> str:
        """The object store: a folder (relative paths are inside .modelkeep) or a backend URL."""
        url = os.environ.get("MODELKEEP_STORE") or self.values.get("store.url")
        if not url:
            return str(self.root / OBJECTS_DIR)
        if "://" in url:
            return url
        path = Path(url).expanduser()
        return str(path if path.is_absolute() else self.root / path)

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def user(self) -> str:
        name = os.environ.get("MODELKEEP_USER") or self.values.get("user.name")
        if name:
            return name
        try:
            return getpass.getuser()
        except Exception:  # no login name in some containers
            return "unknown"

    @property
    def where(self) -> str:
        """The repository, as messages name it."""
        return f"the repository at {self.root.parent}"

    @property
    def lineage_namespace(self) -> str:
        """Where this registry's lineage nodes live, as an OpenLineage namespace: ``lineage.namespace``,
        else ``modelkeep://HOST/PATH`` of the repository (the same through a server as on it)."""
        import socket  # here: most commands never ask

        return self.get("lineage.namespace") or f"modelkeep://{socket.gethostname()}{self.root.parent.as_posix()}"

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        """Set a key in the repository's file (atomically; comments and layout kept)."""
        set_key(self.root / CONFIG_FILE, key, value)
        self.values[key] = value


def check_key(key: str) -> str:
    if not _QUOTA.match(key) and (not _KEY.match(key) or not (key in KNOWN_KEYS or _REMOTE.match(key))):
        raise InvalidInput(
            f"unknown config key {key!r}: valid keys are {', '.join(sorted(KNOWN_KEYS))}, remote.NAME "
            "(a named remote store) and quota.project.NAME (one project's quota)"
        )
    return key


def config_dir() -> Path:
    """The user's modelkeep config folder (``MODELKEEP_CONFIG_DIR`` overrides the platform's)."""
    override = os.environ.get("MODELKEEP_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("modelkeep"))


def user_config_path() -> Path:
    return config_dir() / CONFIG_FILE


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str, key: str) -> int:
    """``"50GiB"``, ``"500 MB"`` or a number of bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise InvalidInput(f"{key} = {text!r} is not a size: give bytes or a number with a unit, e.g. 50GiB or 500MB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "B").lower()])


def set_key(path: Path, key: str, value: str) -> None:
    """Set one dotted key in a TOML file, keeping everything else as written (temp file + rename)."""
    import tomlkit

    check_key(key)
    if key.startswith("quota."):
        parse_size(value, key)  # refused now, not at the first registration it would apply to
    section, _, name = key.partition(".")
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except tomlkit.exceptions.ParseError as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}; fix it first (nothing was changed)") from exc
    table = document.get(section)
    if table is None:
        table = tomlkit.table()
        document[section] = table
    elif not isinstance(table, dict):
        raise InvalidInput(f"{path}: {section!r} is a value, not a [{section}] table; fix it first")
    table[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(tomlkit.dumps(document), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_values(path: Path) -> dict[str, str]:
    """The dotted keys of one TOML file ({} if it does not exist)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}") from exc
    return _flatten(data)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_config(path: Path, values: dict[str, str]) -> None:
    """Write flat dotted keys as TOML sections (temp file + rename, so never half-written)."""
    sections: dict[str, dict[str, str]] = {}
    for key in sorted(values):
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = values[key]
    lines = ["# modelkeep repository configuration"]
    for section, entries in sections.items():
        lines.append(f"\n[{section}]")
        lines.extend(f'"{name}" = {_toml_string(v)}' for name, v in entries.items())
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_config(root: Path) -> RepoConfig:
    """The repository's settings over the user's (``mk config set --global``)."""
    return RepoConfig(root=root, values={**read_values(user_config_path()), **read_values(root / CONFIG_FILE)})


def local_config() -> RepoConfig:
    """The configuration of the repository found from the working folder (NotFound where none)."""
    return load_config(find_root())


def find_root(start: Path | None = None) -> Path:
    """Locate the ``.modelkeep`` folder (see the module docstring).

    Raises:
        NotFound: when there is none, with a hint to run ``mk init``.
    """
    env = os.environ.get("MODELKEEP_HOME")
    if env:
        home = Path(env).expanduser().resolve()
        if home.name != DIR_NAME and (home / DIR_NAME).is_dir():
            home = home / DIR_NAME
        if not home.is_dir():
            raise NotFound(
                f"MODELKEEP_HOME={env} is not a modelkeep repository",
                hint="run 'mk init' there or unset MODELKEEP_HOME",
            )
        return home
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DIR_NAME
        if candidate.is_dir():
            return candidate
    raise NotFound(
        f"no modelkeep repository in {here} or any parent folder",
        hint="run 'mk init' to create one, or set MODELKEEP_HOME",
    )


def init_root(directory: Path) -> tuple[Path, bool]:
    """Create ``DIRECTORY/.modelkeep`` with its config and object folder.

    Returns the folder and whether it was created (False: it existed already).
    """
    root = directory.resolve() / DIR_NAME
    created = not root.exists()
    (root / OBJECTS_DIR).mkdir(parents=True, exist_ok=True)
    if not (root / CONFIG_FILE).exists():
        write_config(root / CONFIG_FILE, {})
    return root, created
