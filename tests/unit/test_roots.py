"""The data-root allow-list (nlp_tasks.roots): segment matching after normalisation."""

from __future__ import annotations

import os

import pytest

from nlp_tasks import roots
from nlp_tasks.roots import ENV, RootNotAllowed, check_root, is_allowed


def allowed(*entries: str, default: str = "s3://reviews/nightly") -> list[str]:
    return roots.allowed_roots(default, {ENV: ",".join(entries)})


@pytest.mark.parametrize(
    "root, ok",
    [
        ("s3://reviews/nightly", True),  # the default root itself
        ("s3://reviews/nightly/", True),  # trailing slash
        ("s3://reviews/nightly//", True),
        ("s3://reviews/nightly/sub", True),  # sub-prefix
        ("s3://reviews/nightly/sub/deeper/", True),
        ("s3://reviews/nightly-other", False),  # shares a prefix, not a segment
        ("s3://reviews/nightlyx/sub", False),
        ("s3://reviews", False),  # the parent of an allowed prefix
        ("s3://reviews/other", False),
        ("s3://reviews-evil/nightly", False),  # bucket that only shares a prefix
        ("s3://other/nightly", False),
        ("s3://reviews/nightly/../other", False),  # '..' is not a segment S3 resolves: refused
        ("s3://reviews/nightly/./sub", False),
        ("s3://reviews//nightly", False),  # an empty segment addresses other keys
        ("s3://", False),
        ("", False),
        ("gs://reviews/nightly", False),  # unsupported scheme
        ("file:///reviews/nightly", False),  # same path, other scheme
    ],
)
def test_s3_default_root(root, ok):
    assert is_allowed(root, allowed()) is ok


def test_a_whole_bucket_allows_its_prefixes_but_not_a_longer_bucket_name():
    a = allowed("s3://reviews")
    assert is_allowed("s3://reviews", a) and is_allowed("s3://reviews/", a) and is_allowed("s3://reviews/any/prefix", a)
    assert not is_allowed("s3://reviews-evil", a) and not is_allowed("s3://reviews-evil/nightly", a)
    assert not is_allowed("s3://reviewsx", a)


def test_entries_are_comma_separated_and_trimmed():
    a = allowed(" s3://a/p/ ", "", "s3://b ", default="file:///srv/lake")
    assert a == ["file:///srv/lake", "s3://a/p/", "s3://b"]
    assert is_allowed("s3://a/p/x", a) and is_allowed("s3://b/y", a) and is_allowed("file:///srv/lake/z", a)
    assert not is_allowed("s3://a/q", a)
    # Without the setting: the default root only.
    assert roots.allowed_roots("s3://reviews/nightly", {}) == ["s3://reviews/nightly"]


@pytest.fixture
def tree(tmp_path):
    """allowed/lake (the allowed root), outside/, and a symlink inside the lake to outside/."""
    lake = tmp_path / "allowed" / "lake"
    (lake / "sub").mkdir(parents=True)
    (tmp_path / "allowed" / "lake-other").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (lake / "escape").symlink_to(outside)
    (tmp_path / "link-to-lake").symlink_to(lake)
    return tmp_path, lake, outside


def test_file_roots_exact_sub_and_trailing_slash(tree):
    tmp, lake, _ = tree
    a = allowed(f"file://{lake}", default="s3://reviews")
    for root in (
        f"file://{lake}",
        f"file://{lake}/",
        f"file://{lake}/sub",
        f"file://{lake}/sub/",
        f"file://{lake}/not-yet-created",
    ):
        assert is_allowed(root, a), root
    assert not is_allowed(f"file://{tmp}/allowed/lake-other", a)  # shares a prefix
    assert not is_allowed(f"file://{tmp}/allowed", a)


def test_plain_paths_and_file_uris_are_the_same_root(tree, monkeypatch):
    tmp, lake, outside = tree
    # Allowed as a plain path, used as a URI, and the other way round.
    assert is_allowed(f"file://{lake}/sub", allowed(str(lake), default="s3://x"))
    assert is_allowed(f"{lake}/sub", allowed(f"file://{lake}/", default="s3://x"))
    # A relative plain path is read against the working directory, as storage.Lake does.
    monkeypatch.chdir(lake)
    assert is_allowed("sub", allowed(str(lake), default="s3://x"))
    assert not is_allowed("../lake-other", allowed(str(lake), default="s3://x"))
    assert not is_allowed(str(outside), allowed(str(lake), default="s3://x"))


def test_dotdot_segments_cannot_escape(tree):
    tmp, lake, outside = tree
    a = allowed(f"file://{lake}", default="s3://x")
    assert not is_allowed(f"file://{lake}/../../outside", a)
    assert not is_allowed(f"file://{lake}/sub/../../lake-other", a)
    assert not is_allowed(f"{lake}/../lake-other", a)
    assert is_allowed(f"file://{lake}/sub/../sub", a)  # resolves back inside: allowed
    assert is_allowed(f"file://{tmp}/allowed/lake-other/../lake", a)


def test_symlinks_are_resolved_before_comparing(tree):
    tmp, lake, outside = tree
    a = allowed(f"file://{lake}", default="s3://x")
    assert not is_allowed(f"file://{lake}/escape", a)  # a link inside the lake to outside/
    assert not is_allowed(f"file://{lake}/escape/sub", a)
    assert is_allowed(f"file://{tmp}/link-to-lake/sub", a)  # a link to the lake is the lake
    # An allowed root given through a symlink allows where it points.
    assert is_allowed(f"file://{lake}/sub", allowed(f"file://{tmp}/link-to-lake", default="s3://x"))
    assert is_allowed(f"file://{outside}", allowed(f"file://{lake}/escape", default="s3://x"))


def test_s3_and_file_never_match_each_other(tree):
    _, lake, _ = tree
    assert not is_allowed(f"s3:/{lake}", allowed(f"file://{lake}", default="s3://x"))
    assert not is_allowed("file:///reviews", allowed("s3://reviews", default="s3://x"))
    assert not is_allowed(f"file://{os.sep}reviews", allowed("s3://reviews", default="s3://x"))


def test_check_root_message_names_the_root_and_the_setting(tree):
    tmp, lake, outside = tree
    assert check_root("s3://reviews/nightly/sub", "s3://reviews/nightly", {}) == "s3://reviews/nightly/sub"
    with pytest.raises(RootNotAllowed) as e:
        check_root("s3://reviews-evil/nightly", "s3://reviews/nightly", {ENV: "s3://archive"})
    msg = str(e.value)
    assert "'s3://reviews-evil/nightly'" in msg and ENV in msg
    assert "s3://reviews/nightly, s3://archive" in msg and "Nothing was read or written" in msg
    # A file root names what it resolves to.
    with pytest.raises(RootNotAllowed, match=f"resolved: file://{outside}"):
        check_root(f"file://{lake}/escape", f"file://{lake}", {})
    # An invalid root is refused with its own reason; an invalid entry is reported, not used.
    with pytest.raises(RootNotAllowed, match="segment"):
        check_root("s3://reviews/nightly/../x", "s3://reviews/nightly", {})
    with pytest.raises(RootNotAllowed, match="Ignored invalid entries"):
        check_root("s3://x/y", "s3://reviews/nightly", {ENV: "s3://x/../y"})
