"""The data-root allow-list: which roots a run (or the UI plugin) may read and write.

``data_root`` is a free-text DAG Param, so anyone who may trigger a run could otherwise point
the workers, and their S3 credentials, at any bucket or local path. A root is allowed when it
is, or lies under, one of:

* the configured default root (``$NLP_TASKS_DATA_ROOT``, else the clone's ``lake/``), always;
* each entry of ``$NLP_TASKS_ALLOWED_ROOTS``, a comma-separated list of roots
  (``s3://bucket``, ``s3://bucket/prefix``, ``file:///path`` or a plain absolute path).

The list is read from the environment only (the workers' and the API server's), never from
an Airflow Variable: whoever may edit Variables in the UI could widen the list that is meant
to hold the UI's users in.

Matching is by whole path segments after normalisation, so ``s3://bucket/prefix`` allows
``s3://bucket/prefix/sub`` but neither ``s3://bucket/prefix-other`` nor ``s3://bucket-evil``.
Local roots (``file://`` URIs and plain paths, read as :class:`nlp_tasks.storage.Lake` reads
them) are compared after ``os.path.realpath``: ``..`` segments and symlinks are resolved
first, so neither can lead out of an allowed folder. S3 keys are literal (S3 resolves no
``..``), so an S3 root holding an empty, ``.`` or ``..`` segment is refused outright.

Standard library only: the DAG files, the plugin and tests import it without Airflow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

ENV = "NLP_TASKS_ALLOWED_ROOTS"
DEFAULT_ENV = "NLP_TASKS_DATA_ROOT"
# The clone's lake/ (an editable install, as `make` does): the root when $NLP_TASKS_DATA_ROOT is unset.
_CLONE_LAKE = "file://" + os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lake")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # lenient: S3-compatible stores differ


class RootNotAllowed(ValueError):
    """A data root outside the allow-list, or one that is not a valid root at all."""


@dataclass(frozen=True)
class Root:
    """A root in comparable form: its scheme and its path segments."""

    scheme: str  # "s3" or "file"
    segments: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"{self.scheme}://" + ("/" if self.scheme == "file" else "") + "/".join(self.segments)

    def contains(self, other: Root) -> bool:
        return self.scheme == other.scheme and other.segments[: len(self.segments)] == self.segments


def parse(root: str) -> Root:
    """Normalise a data root for comparison; raise RootNotAllowed if it is not a valid root."""
    if not isinstance(root, str) or not root.strip():
        raise RootNotAllowed(f"data root {root!r} is empty")
    text = root.strip()
    if text.startswith("s3://"):
        rest = text[len("s3://") :].rstrip("/")
        segments = tuple(rest.split("/")) if rest else ()
        if not segments or not _BUCKET.fullmatch(segments[0]):
            raise RootNotAllowed(f"data root {root!r} does not name a valid S3 bucket")
        bad = [s for s in segments[1:] if s in ("", ".", "..")]
        if bad:
            raise RootNotAllowed(
                f"data root {root!r} holds an empty, '.' or '..' segment: S3 roots must be plain prefixes"
            )
        return Root("s3", segments)
    if text.startswith("file://"):
        path = text[len("file://") :]
    elif _SCHEME.match(text):
        raise RootNotAllowed(f"data root {root!r}: only s3:// and file:// roots (or plain paths) are supported")
    else:
        path = text
    # As storage.normalise_root reads it, then with symlinks and '..' resolved.
    real = os.path.realpath(os.path.expanduser(path))
    return Root("file", tuple(s for s in real.split("/") if s))


def default_root(env: Mapping[str, str] | None = None) -> str:
    """The configured default root: ``$NLP_TASKS_DATA_ROOT``, else the clone's ``lake/``.

    Read at call time, so the DAGs (at parse), their tasks and the UI plugin all see the
    environment of the process they run in.
    """
    environ = os.environ if env is None else env
    return environ.get(DEFAULT_ENV) or _CLONE_LAKE


def allowed_roots(default_root: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The configured default root, then every entry of $NLP_TASKS_ALLOWED_ROOTS."""
    environ = os.environ if env is None else env
    extra = [r.strip() for r in (environ.get(ENV) or "").split(",") if r.strip()]
    out = []
    for r in [default_root, *extra]:
        if r and r not in out:
            out.append(r)
    return out


def is_allowed(root: str, allowed: list[str]) -> bool:
    """Whether `root` is one of `allowed` or lies under one (invalid roots are not allowed)."""
    try:
        cand = parse(root)
    except RootNotAllowed:
        return False
    for a in allowed:
        try:
            if parse(a).contains(cand):
                return True
        except RootNotAllowed:
            continue
    return False


def check_root(root: str, default_root: str, env: dict | None = None) -> str:
    """Return `root` if the allow-list allows it; else raise RootNotAllowed with a message that
    names the root, what it resolves to, the allowed roots and how to allow it."""
    allowed = allowed_roots(default_root, env)
    bad_entries = []
    parsed_allowed = []
    for a in allowed:
        try:
            parsed_allowed.append(parse(a))
        except RootNotAllowed as e:
            bad_entries.append(str(e))
    cand = parse(root)  # raises for a root that is not valid at all
    if any(a.contains(cand) for a in parsed_allowed):
        return root
    resolved = "" if cand.uri == root.strip().rstrip("/") else f" (resolved: {cand.uri})"
    msg = (
        f"data_root {root!r}{resolved} is not an allowed data root; allowed: "
        + (", ".join(a.uri for a in parsed_allowed) or "none")
        + f". To allow it, add it (or a root it lies under) to {ENV}, a comma-separated list in the "
        "environment of the Airflow workers and API server (e.g. "
        f"{ENV}=s3://bucket/prefix,file:///data/lake), and restart them. Nothing was read or written."
    )
    if bad_entries:
        msg += " Ignored invalid entries: " + "; ".join(bad_entries)
    raise RootNotAllowed(msg)
