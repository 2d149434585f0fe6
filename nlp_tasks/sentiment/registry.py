"""A model registry inside the data root: ``{data_root}/models/<name>/<version>/``.

Each version folder holds the ONNX variants, the tokenizer and metadata.json (training data,
metrics, sha256 of every file). metadata.json is uploaded last, so a version without it is
an interrupted upload and is never served. Aliases (``production``, ``challenger``) live in one
small JSON object, ``{data_root}/models/<name>/aliases.json``, replaced in a single PUT; every
move of an alias is appended to ``alias_history.json`` beside it (who, when, from, to, why and
the evidence), which is also what ``promote --to-previous`` rolls back along.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
from pathlib import Path

from ..layout import models
from ..storage import Lake
from .artifacts import sha256

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
        if lake.exists(d + "/metadata.json"):
            out.append(d.rstrip("/").rsplit("/", 1)[-1])
    return out


def publish(lake: Lake, local_dir: Path, name: str = DEFAULT_NAME) -> str:
    """Upload a built model folder as a new version (idempotent for the same content)."""
    meta = json.loads((local_dir / "metadata.json").read_text())
    version = meta["version"]
    for fname, digest in meta["files"].items():
        if sha256(local_dir / fname) != digest:
            raise ValueError(f"{local_dir / fname}: sha256 does not match metadata.json")
    base = lake.uri(models(name), version)
    for fname in meta["files"]:
        lake.write_bytes(f"{base}/{fname}", (local_dir / fname).read_bytes())
    lake.write_bytes(f"{base}/metadata.json", (local_dir / "metadata.json").read_bytes())
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
    meta = json.loads(lake.read_text(lake.uri(models(name), version, "metadata.json")))
    return tuple(meta.get("labels") or ("negative", "positive"))


def ensure_default(lake: Lake, name: str = DEFAULT_NAME) -> None:
    """A data root with an empty registry gets the bundled default as production."""
    if aliases(lake, name).get(PRODUCTION):
        return
    bundled = bundled_model_dir()
    if not (bundled / "metadata.json").exists():
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


def fetch(lake: Lake, version: str, name: str = DEFAULT_NAME) -> Path:
    """Download a version into the local cache once, verifying every file's sha256."""
    local = cache_dir() / "models" / name / version
    base = lake.uri(models(name), version)
    meta_bytes = lake.read_bytes(f"{base}/metadata.json")
    meta = json.loads(meta_bytes)
    if (local / "metadata.json").exists() and all(
        (local / f).exists() and sha256(local / f) == d for f, d in meta["files"].items()
    ):
        return local
    local.mkdir(parents=True, exist_ok=True)
    for fname, digest in meta["files"].items():
        data = lake.read_bytes(f"{base}/{fname}")
        tmp = local / f".{fname}.part"
        tmp.write_bytes(data)
        if sha256(tmp) != digest:
            tmp.unlink()
            raise ValueError(f"model {name}/{version}: {fname} is corrupt (sha256 mismatch)")
        os.replace(tmp, local / fname)
    (local / "metadata.json").write_bytes(meta_bytes)
    return local
