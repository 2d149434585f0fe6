"""A model registry inside the data root: ``{data_root}/models/<name>/<version>/``.

Each version folder holds the ONNX variants, the tokenizer and metadata.json (training data,
metrics, sha256 of every file). metadata.json is uploaded last, so a version without it is
an interrupted upload and is never served. Aliases (``production``, ``challenger``) live in one
small JSON object, ``{data_root}/models/<name>/aliases.json``, replaced in a single PUT; every
move of an alias is appended to ``alias_history.json`` beside it (who, when, from, to, why and
the evidence), which is also what ``promote --to-previous`` rolls back along.

Workers read a version through ``fetch`` (all of it) or ``fetch_tokenizer`` (the tokenizer
files only), into a local cache folder whose files are verified once, when they are downloaded.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import uuid
from pathlib import Path

from ..layout import models
from ..storage import Lake
from .artifacts import METADATA, TOKENIZER_FILES, TOKENIZER_JSON, sha256

log = logging.getLogger(__name__)

DEFAULT_NAME = "sentiment"
PRODUCTION = "production"
CHALLENGER = "challenger"
REPO_ROOT = Path(__file__).resolve().parents[2]


def bundled_model_dir() -> Path:
    """The model built locally by ``make model`` (or wherever NLP_TASKS_MODEL_DIR points)."""
    return Path(os.environ.get("NLP_TASKS_MODEL_DIR", REPO_ROOT / "build" / "model"))


def cache_dir() -> Path:
    return Path(os.environ.get("NLP_TASKS_CACHE", Path.home() / ".cache" / "nlp_tasks"))


class ModelNotFound(LookupError):
    pass


def _aliases_uri(lake: Lake, name: str) -> str:
    return lake.uri(models(name), "aliases.json")


def aliases(lake: Lake, name: str = DEFAULT_NAME) -> dict[str, str]:
    uri = _aliases_uri(lake, name)
    return json.loads(lake.read_text(uri)) if lake.exists(uri) else {}


def versions(lake: Lake, name: str = DEFAULT_NAME) -> list[str]:
    out = []
    for d in lake.list_dirs(lake.uri(models(name))):
        if lake.exists(f"{d}/{METADATA}"):
            out.append(d.rstrip("/").rsplit("/", 1)[-1])
    return out


def publish(lake: Lake, local_dir: Path, name: str = DEFAULT_NAME) -> str:
    """Upload a built model folder as a new version (idempotent for the same content)."""
    meta = json.loads((local_dir / METADATA).read_text())
    version = meta["version"]
    for fname, digest in meta["files"].items():
        if sha256(local_dir / fname) != digest:
            raise ValueError(f"{local_dir / fname}: sha256 does not match metadata.json")
    base = lake.uri(models(name), version)
    for fname in meta["files"]:
        lake.write_bytes(f"{base}/{fname}", (local_dir / fname).read_bytes())
    lake.write_bytes(f"{base}/{METADATA}", (local_dir / METADATA).read_bytes())
    log.info("published model %s/%s to %s", name, version, base)
    return version


def _history_uri(lake: Lake, name: str) -> str:
    return lake.uri(models(name), "alias_history.json")


def history(lake: Lake, name: str = DEFAULT_NAME) -> list[dict]:
    """Every alias move, oldest first."""
    uri = _history_uri(lake, name)
    return json.loads(lake.read_text(uri))["moves"] if lake.exists(uri) else []


def _who() -> str:
    try:
        return os.environ.get("NLP_TASKS_USER") or getpass.getuser()
    except Exception:  # no user name in a bare container
        return "unknown"


def set_alias(
    lake: Lake,
    version: str | None,
    alias: str = PRODUCTION,
    name: str = DEFAULT_NAME,
    *,
    by: str | None = None,
    action: str = "set",
    reason: str | None = None,
    evidence: dict | None = None,
) -> dict[str, str]:
    """Point ``alias`` at a published version (None clears it) and record the move.

    The history is written before the aliases: a move that is in aliases.json is always in
    the history, so a rollback never loses its way.
    """
    if version is not None and version not in versions(lake, name):
        raise ModelNotFound(f"model {name}/{version} is not published under {lake.uri(models(name))}")
    if version is None and alias == PRODUCTION:
        raise ValueError("the production alias cannot be cleared: promote another version instead")
    current = aliases(lake, name)
    before = current.get(alias)
    move = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "by": by or _who(),
        "alias": alias,
        "from": before,
        "to": version,
        "action": action,
        "reason": reason,
        "evidence": evidence,
    }
    moves = history(lake, name) + [move]
    lake.write_text(_history_uri(lake, name), json.dumps({"moves": moves}, indent=2, sort_keys=True) + "\n")
    if version is None:
        current.pop(alias, None)
    else:
        current[alias] = version
    lake.write_text(_aliases_uri(lake, name), json.dumps(current, indent=2, sort_keys=True) + "\n")
    log.info("alias %s of model %s: %s -> %s (%s by %s)", alias, name, before, version, action, move["by"])
    return current


def previous(lake: Lake, alias: str = PRODUCTION, name: str = DEFAULT_NAME) -> str | None:
    """The version ``alias`` pointed to before its latest move that was not rolled back.

    The history is a stack: each move pushes the version it replaced, each rollback pops one,
    so repeated ``--to-previous`` walks back step by step instead of flipping between two.
    """
    stack: list[str | None] = []
    for move in history(lake, name):
        if move["alias"] != alias:
            continue
        if move["action"] == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(move["from"])
    return stack[-1] if stack else None


def classes_of(lake: Lake, version: str, name: str = DEFAULT_NAME) -> tuple[str, ...]:
    """A published version's classes, from its metadata.json."""
    meta = json.loads(lake.read_text(lake.uri(models(name), version, METADATA)))
    return tuple(meta.get("labels") or ("negative", "positive"))


def ensure_default(lake: Lake, name: str = DEFAULT_NAME) -> None:
    """A data root with an empty registry gets the bundled default as production."""
    if aliases(lake, name).get(PRODUCTION):
        return
    bundled = bundled_model_dir()
    if not (bundled / METADATA).exists():
        raise ModelNotFound(
            f"registry {lake.uri(models(name))} is empty and no bundled model is built at {bundled} (run `make model`)"
        )
    version = publish(lake, bundled, name)
    set_alias(
        lake, version, PRODUCTION, name, by="nlp_tasks", action="default", reason="empty registry: the bundled model"
    )
    log.warning(
        "registry %s was empty: published the bundled default %s as production", lake.uri(models(name)), version
    )


def resolve(lake: Lake, ref: str = PRODUCTION, name: str = DEFAULT_NAME) -> str:
    """An alias or a version -> a published version."""
    if ref in (None, "", PRODUCTION):
        ensure_default(lake, name)
    names = aliases(lake, name)
    version = names.get(ref or PRODUCTION, ref)
    if version not in versions(lake, name):
        raise ModelNotFound(f"model {name}:{ref} not found; published versions: {versions(lake, name)}")
    return version


# Written into a fetched version's cache folder after its files were verified: which files of
# which version matched their sha256 when they were written. A later fetch trusts it instead of
# hashing hundreds of MB again on every call; a file is written (to a temporary name, verified,
# then renamed) before the marker that vouches for it, so an interrupted or corrupt download is
# never vouched for.
VERIFIED = ".verified.json"


def _verified(local: Path, version: str) -> dict[str, str]:
    """File -> sha256 of the files an earlier fetch of ``version`` verified (and still there)."""
    try:
        marker = json.loads((local / VERIFIED).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(marker, dict) or marker.get("version") != version:
        return {}
    return {f: d for f, d in dict(marker.get("files") or {}).items() if (local / f).is_file()}


def _replace_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_marker(local: Path, version: str, files: dict[str, str]) -> None:
    body = {"version": version, "files": dict(sorted(files.items()))}
    _replace_atomically(local / VERIFIED, (json.dumps(body, indent=2) + "\n").encode())


def _fetch(lake: Lake, version: str, name: str, only: tuple[str, ...] | None) -> Path:
    """Download ``only`` these files of a version (None: all of them and its metadata.json)
    into the local cache, verifying each file's sha256 once, when it is downloaded."""
    local = cache_dir() / "models" / name / version
    base = lake.uri(models(name), version)
    meta_bytes = lake.read_bytes(f"{base}/{METADATA}")
    expected: dict[str, str] = json.loads(meta_bytes)["files"]
    if only is not None:
        expected = {f: d for f, d in expected.items() if f in only}
    verified = _verified(local, version)
    done = all(verified.get(f) == d for f, d in expected.items())
    if done and (only is not None or (local / METADATA).is_file()):
        return local
    local.mkdir(parents=True, exist_ok=True)
    # A file about to be replaced leaves the marker first: it never vouches for one half-written.
    keep = {f: d for f, d in verified.items() if expected.get(f, d) == d}
    if keep != verified:
        _write_marker(local, version, keep)
    for fname, digest in expected.items():
        if keep.get(fname) == digest:
            continue
        path = local / fname
        # A file already there (an interrupted fetch, a cache older than the marker) is hashed
        # once and kept if it matches; anything else is downloaded and verified before it lands.
        if not (path.is_file() and sha256(path) == digest):
            tmp = path.with_name(f".{fname}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
            tmp.write_bytes(lake.read_bytes(f"{base}/{fname}"))
            if sha256(tmp) != digest:
                tmp.unlink()
                raise ValueError(f"model {name}/{version}: {fname} is corrupt (sha256 mismatch)")
            os.replace(tmp, path)
        keep[fname] = digest
    if only is None:
        _replace_atomically(local / METADATA, meta_bytes)
    _write_marker(local, version, keep)
    return local


def fetch(lake: Lake, version: str, name: str = DEFAULT_NAME) -> Path:
    """A version's folder in the local cache (every file and metadata.json), downloaded once:
    each file's sha256 is verified when it is downloaded, not on every call."""
    return _fetch(lake, version, name, None)


def fetch_tokenizer(lake: Lake, version: str, name: str = DEFAULT_NAME) -> Path:
    """The folder in the local cache holding a version's tokenizer files (``tokenizer.json``
    and the rest the version has), without downloading its model files: what the drift task
    needs for its [UNK]-share feature. The same folder ``fetch`` fills."""
    local = _fetch(lake, version, name, TOKENIZER_FILES)
    if not (local / TOKENIZER_JSON).is_file():
        raise ModelNotFound(f"model {name}/{version} has no {TOKENIZER_JSON}")
    return local
