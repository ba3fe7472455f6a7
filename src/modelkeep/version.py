"""ML versions: ``MAJOR.MINOR.PATCH.DATA.EXPERIMENT`` and the specs that select them.

A version has five non-negative integer parts. Bumping a part increments it and resets every
part after it to zero. Versions are totally ordered part by part. Input with fewer than five
parts (``2.1.0``, as in semver) is padded with zeros; leading zeros (``01.2``), signs, letters
and more than five parts are rejected with a message that shows the valid form.

Specs select versions of one model, like package specs:

==============  =====================================================
``2.1.0.3.0``   exactly that version (``2.1.0`` means ``2.1.0.0.0``)
``2.1.*``       the highest version whose first parts are ``2.1``
``^2.1``        the highest ``>= 2.1`` with the same leftmost non-zero part
``~2.1.0``      the highest ``>= 2.1.0`` with the same MAJOR.MINOR
``latest``      the highest version
``production``  whatever the alias ``production`` points at
==============  =====================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from modelkeep.errors import InvalidInput

VALID_FORM = (
    "a version is MAJOR.MINOR.PATCH.DATA.EXPERIMENT: one to five non-negative integers "
    "without leading zeros, separated by dots (e.g. 2.1.0.3.0, or 2.1.0 for 2.1.0.0.0)"
)
SPEC_FORMS = (
    "valid specs: an exact version (2.1.0.3.0 or 2.1.0), a wildcard (2.1.*), a caret range "
    "(^2.1), a tilde range (~2.1.0), 'latest', or an alias name (letters, digits, '-', '_')"
)
PART_NAMES = ("major", "minor", "patch", "data", "experiment")
MAX_PART = 10**9 - 1  # keeps sort keys fixed-width (9 digits a part)

_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)\Z")
ALIAS_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}\Z")


class Part(IntEnum):
    """The five parts of an ML version, in significance order."""

    MAJOR = 0
    MINOR = 1
    PATCH = 2
    DATA = 3
    EXPERIMENT = 4

    @classmethod
    def parse(cls, text: str) -> Part:
        """Parse a part name (case-insensitive): major, minor, patch, data or experiment."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise InvalidInput(
                f"unknown version part {text!r}: valid parts are {', '.join(PART_NAMES)}"
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


def _parse_parts(text: str, *, what: str = "version") -> tuple[int, ...]:
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be text, got {type(text).__name__}; {VALID_FORM}")
    raw = text.strip()
    if not raw:
        raise InvalidInput(f"empty {what}; {VALID_FORM}")
    pieces = raw.split(".")
    if len(pieces) > 5:
        raise InvalidInput(f"{what} {text!r} has {len(pieces)} parts; {VALID_FORM}")
    parts: list[int] = []
    for piece in pieces:
        if not _NUMBER.match(piece):
            raise InvalidInput(f"{what} {text!r} has an invalid part {piece!r}; {VALID_FORM}")
        value = int(piece)
        if value > MAX_PART:
            raise InvalidInput(f"{what} {text!r} has a part above {MAX_PART}; {VALID_FORM}")
        parts.append(value)
    return tuple(parts)


@dataclass(frozen=True, order=True, slots=True)
class MLVersion:
    """One ML version. Instances compare and sort by their five parts."""

    major: int = 0
    minor: int = 0
    patch: int = 0
    data: int = 0
    experiment: int = 0

    @classmethod
    def parse(cls, text: str) -> MLVersion:
        """Parse ``1`` to ``1.2.3.4.5``; missing trailing parts are zero.

        Raises:
            InvalidInput: for anything else, naming the input and the valid form.
        """
        parts = _parse_parts(text)
        return cls(*(parts + (0,) * (5 - len(parts))))

    @classmethod
    def from_sort_key(cls, key: str) -> MLVersion:
        return cls(*(int(p) for p in key.split(".")))

    @property
    def parts(self) -> tuple[int, int, int, int, int]:
        return (self.major, self.minor, self.patch, self.data, self.experiment)

    @property
    def sort_key(self) -> str:
        """A fixed-width string whose text order is the version order (indexable in SQL)."""
        return ".".join(f"{p:09d}" for p in self.parts)

    def bump(self, part: Part | str) -> MLVersion:
        """Return the version with ``part`` incremented and every later part reset to zero."""
        index = Part.parse(part) if isinstance(part, str) else part
        parts = list(self.parts)
        if parts[index] >= MAX_PART:
            raise InvalidInput(f"cannot bump {index.label} of {self}: it is at the maximum")
        parts[index] += 1
        for later in range(index + 1, 5):
            parts[later] = 0
        return MLVersion(*parts)

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.parts)


def sort_key_prefix(parts: tuple[int, ...]) -> str:
    """The sort-key prefix shared by every version starting with ``parts``."""
    return "".join(f"{p:09d}." for p in parts)


SpecKind = Literal["exact", "wildcard", "caret", "tilde", "latest", "alias"]


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """A parsed version spec.

    ``lower``/``upper`` bound the candidate versions (``lower`` inclusive, ``upper`` exclusive,
    either may be None); the highest candidate wins. For an alias spec they are None and
    ``alias`` holds the name.
    """

    kind: SpecKind
    text: str
    lower: MLVersion | None = None
    upper: MLVersion | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> VersionSpec:
        raw = text.strip() if isinstance(text, str) else ""
        if not raw:
            raise InvalidInput(f"empty version spec; {SPEC_FORMS}")
        if raw == "latest":
            return cls("latest", raw)
        if raw.startswith("^"):
            parts = _parse_parts(raw[1:], what="caret spec")
            lower = MLVersion.parse(raw[1:])
            # npm semantics: the leftmost non-zero part given stays fixed.
            fixed = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
            return cls("caret", raw, lower, _upper_after(parts[: fixed + 1]))
        if raw.startswith("~"):
            parts = _parse_parts(raw[1:], what="tilde spec")
            lower = MLVersion.parse(raw[1:])
            return cls("tilde", raw, lower, _upper_after(parts[: min(len(parts), 2)]))
        if raw.endswith(".*") or raw == "*":
            if raw == "*":
                return cls("latest", raw)
            parts = _parse_parts(raw[:-2], what="wildcard spec")
            if len(parts) >= 5:
                raise InvalidInput(f"wildcard spec {raw!r} has too many parts; {SPEC_FORMS}")
            lower = MLVersion(*(parts + (0,) * (5 - len(parts))))
            return cls("wildcard", raw, lower, _upper_after(parts))
        if raw[0].isdigit():
            version = MLVersion.parse(raw)
            return cls("exact", raw, version, None)
        if ALIAS_PATTERN.match(raw):
            return cls("alias", raw, alias=raw.lower())
        raise InvalidInput(f"invalid version spec {raw!r}; {SPEC_FORMS}")

    @property
    def sort_bounds(self) -> tuple[str | None, str | None]:
        """``lower`` and ``upper`` as the sort keys a query compares (None where unbounded)."""
        return (self.lower.sort_key if self.lower is not None else None,
                self.upper.sort_key if self.upper is not None else None)

    def matches(self, version: MLVersion) -> bool:
        """Whether ``version`` is a candidate (always False for alias specs)."""
        if self.kind == "alias":
            return False
        if self.kind == "exact":
            return version == self.lower
        if self.lower is not None and version < self.lower:
            return False
        return self.upper is None or version < self.upper


def _upper_after(fixed: tuple[int, ...]) -> MLVersion | None:
    """The first version above every version that starts with ``fixed``."""
    if not fixed:
        return None
    bumped = list(fixed)
    bumped[-1] += 1
    return MLVersion(*(bumped + [0] * (5 - len(bumped))))


def validate_alias(name: str) -> str:
    """Check an alias name and return its canonical (lower-case) form; aliases must not look like
    versions or specs. ``Production`` and ``production`` are one alias: a protected alias cannot
    be side-stepped by changing case."""
    if not isinstance(name, str) or not ALIAS_PATTERN.match(name) or name.lower() == "latest":
        raise InvalidInput(
            f"invalid alias {name!r}: an alias starts with a letter and has up to 63 letters, "
            "digits, '-' or '_' ('latest' is reserved)"
        )
    return name.lower()


__all__ = ["MLVersion", "Part", "VersionSpec", "sort_key_prefix", "validate_alias"]
