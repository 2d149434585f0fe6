"""Model registry in the data root: publish, alias, resolve, fetch with checksums, local and S3."""

from __future__ import annotations

import json
import shutil

import pytest

from nlp_tasks.sentiment import registry


@pytest.fixture
def bundled(model_dir, tmp_path, monkeypatch):
    # A light copy: the registry logic does not care about the size of the files.
    small = tmp_path / "bundled"
    small.mkdir()
    meta = json.loads((model_dir / "metadata.json").read_text())
    keep = ["model.int8.onnx", "tokenizer.json"]
    for f in keep:
        shutil.copy(model_dir / f, small / f)
    meta["files"] = {f: meta["files"][f] for f in keep}
    (small / "metadata.json").write_text(json.dumps(meta))
    monkeypatch.setenv("NLP_TASKS_MODEL_DIR", str(small))
    monkeypatch.setenv("NLP_TASKS_CACHE", str(tmp_path / "cache"))
    return small, meta["version"]


@pytest.mark.parametrize("lake_kind", ["local_lake", "s3_lake"])
def test_empty_registry_gets_default_then_alias_moves(request, lake_kind, bundled, tmp_path):
    lake = request.getfixturevalue(lake_kind)
    small, version = bundled
    assert registry.aliases(lake) == {}
    assert registry.resolve(lake) == version  # published on first use
    assert registry.aliases(lake) == {"production": version}
    local = registry.fetch(lake, version)
    assert (local / "model.int8.onnx").read_bytes() == (small / "model.int8.onnx").read_bytes()

    # Publish a second version and move production to it, then roll back.
    other = tmp_path / "v2"
    shutil.copytree(small, other)
    meta = json.loads((other / "metadata.json").read_text())
    meta["version"] = "candidate-2"
    (other / "metadata.json").write_text(json.dumps(meta))
    assert registry.publish(lake, other) == "candidate-2"
    assert sorted(registry.versions(lake)) == sorted([version, "candidate-2"])
    assert registry.resolve(lake) == version
    registry.set_alias(lake, "candidate-2")
    assert registry.resolve(lake) == "candidate-2"
    assert registry.resolve(lake, version) == version
    registry.set_alias(lake, version)
    assert registry.resolve(lake) == version
    with pytest.raises(registry.ModelNotFound):
        registry.set_alias(lake, "nope")
    with pytest.raises(registry.ModelNotFound):
        registry.resolve(lake, "nope")


def test_corrupt_download_is_refused(local_lake, bundled):
    _, version = bundled
    registry.resolve(local_lake)
    target = local_lake.uri("models/sentiment", version, "tokenizer.json")
    local_lake.write_bytes(target, b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        registry.fetch(local_lake, version)


def test_publish_checks_local_files(bundled, local_lake):
    small, _ = bundled
    (small / "tokenizer.json").write_text("{}")
    with pytest.raises(ValueError, match="sha256"):
        registry.publish(local_lake, small)


@pytest.fixture
def hashes(monkeypatch):
    """The files registry.fetch hashes, in order."""
    seen: list[str] = []
    real = registry.sha256

    def counting(path):
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(registry, "sha256", counting)
    return seen


def test_fetch_verifies_once_per_download(local_lake, bundled, hashes):
    small, version = bundled
    registry.resolve(local_lake)  # publishes the bundled model
    hashes.clear()
    local = registry.fetch(local_lake, version)
    assert len(hashes) == 2  # each file once, as it lands
    hashes.clear()
    assert registry.fetch(local_lake, version) == local
    assert registry.fetch_tokenizer(local_lake, version) == local
    assert hashes == []  # the marker vouches for what was verified on download
    assert (local / "model.int8.onnx").read_bytes() == (small / "model.int8.onnx").read_bytes()

    # A cache without the marker (older than it, or an interrupted fetch): its files are hashed
    # once, a half-written one is downloaded again, and the marker comes back.
    (local / registry.VERIFIED).unlink()
    (local / "model.int8.onnx").write_bytes(b"half a file")
    registry.fetch(local_lake, version)
    assert (local / "model.int8.onnx").read_bytes() == (small / "model.int8.onnx").read_bytes()
    hashes.clear()
    registry.fetch(local_lake, version)
    assert hashes == []
    marker = json.loads((local / registry.VERIFIED).read_text())
    assert marker == {"version": version, "files": json.loads((small / "metadata.json").read_text())["files"]}


def test_fetch_tokenizer_downloads_only_the_tokenizer(local_lake, bundled, hashes):
    small, version = bundled
    registry.resolve(local_lake)
    # The model file is broken in the lake: fetching the tokenizer does not read it.
    model_uri = local_lake.uri("models/sentiment", version, "model.int8.onnx")
    good = local_lake.read_bytes(model_uri)
    local_lake.write_bytes(model_uri, b"tampered")
    hashes.clear()
    local = registry.fetch_tokenizer(local_lake, version)
    assert (local / "tokenizer.json").read_bytes() == (small / "tokenizer.json").read_bytes()
    assert not (local / "model.int8.onnx").exists() and not (local / "metadata.json").exists()
    assert len(hashes) == 1
    hashes.clear()
    assert registry.fetch_tokenizer(local_lake, version) == local and hashes == []
    with pytest.raises(ValueError, match="sha256"):
        registry.fetch(local_lake, version)
    assert not (local / "model.int8.onnx").exists()  # the corrupt download never landed
    local_lake.write_bytes(model_uri, good)
    hashes.clear()
    assert registry.fetch(local_lake, version) == local
    assert len(hashes) == 1  # only the model file: the tokenizer was verified already
    assert (local / "metadata.json").exists()


def test_tampered_tokenizer_is_refused(local_lake, bundled):
    _, version = bundled
    registry.resolve(local_lake)
    local_lake.write_bytes(local_lake.uri("models/sentiment", version, "tokenizer.json"), b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        registry.fetch_tokenizer(local_lake, version)
