from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelkeep.errors import InvalidInput
from modelkeep.version import MLVersion, Part, VersionSpec, validate_alias

parts = st.integers(min_value=0, max_value=50)
versions = st.builds(MLVersion, parts, parts, parts, parts, parts)
part_choice = st.sampled_from(list(Part))


def test_parse_pads_semver_and_formats() -> None:
    assert MLVersion.parse("2.1.0") == MLVersion(2, 1, 0, 0, 0)
    assert str(MLVersion.parse("2.1.0")) == "2.1.0.0.0"
    assert MLVersion.parse(" 2.1.0.3.4 ").parts == (2, 1, 0, 3, 4)


@pytest.mark.parametrize("bad", ["1.2.x", "-1", "1.2.3.4.5.6", "", "01.2", "1..2", "1.2.", "v1.2", " "])
def test_malformed_versions_name_the_valid_form(bad: str) -> None:
    with pytest.raises(InvalidInput, match="MAJOR.MINOR.PATCH.DATA.EXPERIMENT"):
        MLVersion.parse(bad)


def test_bump_resets_later_parts() -> None:
    v = MLVersion(2, 1, 3, 4, 5)
    assert v.bump(Part.MAJOR) == MLVersion(3, 0, 0, 0, 0)
    assert v.bump("minor") == MLVersion(2, 2, 0, 0, 0)
    assert v.bump("patch") == MLVersion(2, 1, 4, 0, 0)
    assert v.bump("data") == MLVersion(2, 1, 3, 5, 0)
    assert v.bump("experiment") == MLVersion(2, 1, 3, 4, 6)
    with pytest.raises(InvalidInput, match="valid parts"):
        v.bump("micro")


@given(versions)
def test_format_parse_roundtrip(v: MLVersion) -> None:
    assert MLVersion.parse(str(v)) == v
    assert MLVersion.from_sort_key(v.sort_key) == v


@given(versions, versions)
def test_order_is_total_and_matches_sort_key(a: MLVersion, b: MLVersion) -> None:
    assert (a < b) + (a == b) + (a > b) == 1
    assert (a < b) == (a.sort_key < b.sort_key)
    assert (a == b) == (a.sort_key == b.sort_key)


@given(versions, versions, versions)
def test_order_is_transitive(a: MLVersion, b: MLVersion, c: MLVersion) -> None:
    if a <= b and b <= c:
        assert a <= c


@given(versions, part_choice)
def test_bump_laws(v: MLVersion, part: Part) -> None:
    bumped = v.bump(part)
    assert bumped > v
    assert bumped.parts[:part] == v.parts[:part]
    assert bumped.parts[part] == v.parts[part] + 1
    assert all(p == 0 for p in bumped.parts[part + 1 :])
    # Nothing lies strictly between v and its bump at the same part within the same prefix.
    assert bumped.bump(part) > bumped


@given(versions, part_choice, part_choice)
def test_a_bigger_part_bump_dominates(v: MLVersion, p: Part, q: Part) -> None:
    if p < q:
        assert v.bump(p) > v.bump(q)


@pytest.mark.parametrize(
    ("spec", "inside", "outside"),
    [
        ("2.1.*", ["2.1.0", "2.1.9.9.9"], ["2.2.0", "2.0.9"]),
        ("^2.1", ["2.1.0", "2.9.0"], ["3.0.0", "2.0.9"]),
        ("^0.2", ["0.2.0", "0.2.5"], ["0.3.0", "0.1.0"]),
        ("~2.1.0", ["2.1.0", "2.1.7.1"], ["2.2.0", "2.0.0"]),
        ("2.1.0", ["2.1.0.0.0"], ["2.1.0.0.1"]),
    ],
)
def test_specs_select_ranges(spec: str, inside: list[str], outside: list[str]) -> None:
    parsed = VersionSpec.parse(spec)
    assert all(parsed.matches(MLVersion.parse(v)) for v in inside)
    assert not any(parsed.matches(MLVersion.parse(v)) for v in outside)


def test_latest_and_alias_specs() -> None:
    assert VersionSpec.parse("latest").kind == "latest"
    alias = VersionSpec.parse("production")
    assert (alias.kind, alias.alias) == ("alias", "production")


@pytest.mark.parametrize("bad", ["", "1.2.x", "^x", "2.1.2.3.4.*", "prod uction", "@@"])
def test_bad_specs_name_the_valid_forms(bad: str) -> None:
    with pytest.raises(InvalidInput, match="valid|MAJOR"):
        VersionSpec.parse(bad)


@pytest.mark.parametrize("bad", ["latest", "1abc", "", "a b", "x" * 70])
def test_bad_aliases(bad: str) -> None:
    with pytest.raises(InvalidInput, match="alias"):
        validate_alias(bad)
