"""The deployment files are valid and refer only to things that exist.

- docker-compose.yaml against the Compose Specification's JSON schema (vendored from the
  docker-compose 1.29.2 wheel, Apache-2.0: see data/compose_spec.LICENSE);
- every image is either built from this repository (build context and Dockerfile exist, build
  args are declared) or a tagged public image; every bind-mounted path exists; every `${VAR}`
  is documented in .env.example;
- the Dockerfile copies only files that exist;
- deploy/helm/values.yaml is YAML for the official Airflow chart with the keys this project sets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}; `$${...}` is an escaped literal for the container.
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?+-][^}]*)?\}")
PROJECT_IMAGE_VARS = {"NLP_TASKS_IMAGE", "NLP_TASKS_GPU_IMAGE"}


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (REPO / "docker-compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)  # resolves the <<: merge keys, as Compose does


def env_example() -> dict[str, str]:
    out = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def expand_defaults(value: str) -> str:
    """What Compose would substitute with an empty environment: each variable's default."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def test_compose_matches_the_compose_spec_schema(compose):
    schema = json.loads((DATA / "compose_spec.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_is_not_vacuous():
    schema = json.loads((DATA / "compose_spec.json").read_text())
    bad = {"services": {"x": {"image": 1, "depends_on": {"y": {"condition": "whenever"}}, "bogus": True}}}
    assert len(list(jsonschema.Draft201909Validator(schema).iter_errors(bad))) >= 3


def test_every_variable_is_documented_in_env_example(compose_text):
    used = set(VAR.findall(compose_text))
    documented = env_example()
    assert used, "no ${VAR} found: the pattern is broken"
    assert used <= set(documented), f"not in .env.example: {sorted(used - set(documented))}"
    # .env.example documents nothing that is not used (a stale name would mislead).
    assert set(documented) <= used, f"in .env.example but unused: {sorted(set(documented) - used)}"


def test_env_example_values_match_the_compose_defaults(compose_text):
    defaults = dict(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}", compose_text))
    for key, value in env_example().items():
        if key in defaults:
            assert value == defaults[key], (
                f"{key}: .env.example says {value!r}, docker-compose.yaml defaults to {defaults[key]!r}"
            )


def dockerfile_args(path: Path) -> set[str]:
    return set(re.findall(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", path.read_text(), flags=re.M))


def test_images_are_built_here_or_tagged(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image or svc.get("build"), f"{name}: neither image nor build"
        if svc.get("build"):
            build = svc["build"]
            context = REPO / build.get("context", ".")
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            for arg in build.get("args") or {}:
                assert arg in dockerfile_args(dockerfile), f"{name}: build arg {arg} not declared in {dockerfile.name}"
            # A service built here carries a project image name (so `docker compose build` tags it).
            assert set(VAR.findall(image or "")) & PROJECT_IMAGE_VARS, (
                f"{name}: built image has no NLP_TASKS_*IMAGE name"
            )
        else:
            resolved = expand_defaults(image)
            assert re.fullmatch(r"[a-z0-9./_-]+:[A-Za-z0-9._-]+", resolved), (
                f"{name}: image {image!r} has no explicit tag"
            )


def test_bind_mounts_exist(compose):
    named = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: bind mount {source} does not exist in the repo"
            else:
                assert source in named, f"{name}: named volume {source} is not declared under volumes:"


def test_depends_on_names_real_services(compose):
    services = set(compose["services"])
    for name, svc in compose["services"].items():
        deps = svc.get("depends_on") or {}
        assert set(deps) <= services, f"{name} depends on unknown {set(deps) - services}"


def test_airflow_services_share_one_configuration(compose):
    airflow = {n: s for n, s in compose["services"].items() if n.startswith("airflow-")}
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-init"} <= set(
        airflow
    )
    for name, svc in airflow.items():
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which the image does not have.
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://"), name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"], name
        for var in (
            "NLP_TASKS_DATA_ROOT",
            "NLP_TASKS_MODEL_DIR",
            "NLP_TASKS_INFERENCE_QUEUE",
            "NLP_TASKS_INFERENCE_POOL",
        ):
            assert env.get(var), f"{name}: {var} not set"
    gpu = compose["services"]["airflow-worker-gpu"]
    assert "--queues gpu" in gpu["command"] and gpu["profiles"] == ["gpu"]
    assert "airflow pools set gpu" in compose["services"]["airflow-init"]["command"][-1]


def pinned(package: str) -> str:
    """The version requirements.txt (the lock `make` installs) pins ``package`` to."""
    (version,) = re.findall(rf"^{re.escape(package)}==(\S+)", (REPO / "requirements.txt").read_text(), flags=re.M)
    return version


def test_dockerfile_copies_only_existing_files():
    text = (REPO / "Dockerfile").read_text()
    # COPY --from=<stage> copies out of a build stage, not out of the build context.
    copies = re.findall(r"^COPY\s+(?!.*--from=)(?:--\S+\s+)*(.+)$", text, flags=re.M)
    assert copies
    for line in copies:
        *sources, _dest = line.split()
        for src in sources:
            assert (REPO / src).exists(), f"Dockerfile copies {src}, which does not exist"
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, flags=re.M))
    for stage in re.findall(r"^COPY\s+.*--from=(\S+)", text, flags=re.M):
        assert stage in stages, f"Dockerfile copies from {stage}, which is no stage of it"


def test_the_images_run_the_airflow_and_python_the_project_pins():
    """The base image, the Helm chart's Airflow and requirements.txt name the same Airflow, and
    the image's Python is the one pyproject.toml requires: the tests ran on that pair."""
    airflow = pinned("apache-airflow")
    text = (REPO / "Dockerfile").read_text()
    (image,) = re.findall(r"^ARG AIRFLOW_IMAGE=apache/airflow:(\S+)$", text, flags=re.M)
    version, _, python = image.partition("-python")
    assert version == airflow
    requires = re.search(r'requires-python = ">=(\d+\.\d+),<', (REPO / "pyproject.toml").read_text())
    assert requires and python == requires.group(1)
    assert set(re.findall(r"^FROM (\S+)", text, flags=re.M)) == {"${AIRFLOW_IMAGE}"}  # every stage
    helm = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    assert helm["airflowVersion"] == airflow


# -- Helm -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def helm_values() -> dict:
    return yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())


def test_helm_values_configure_celery_and_the_image(helm_values):
    v = helm_values
    assert v["executor"] in ("CeleryExecutor", "KubernetesExecutor")
    assert v["images"]["airflow"]["repository"] and v["images"]["airflow"]["tag"]
    assert v["config"]["core"]["dags_are_paused_at_creation"] == "True"
    assert v["dagProcessor"]["enabled"] is True


def test_helm_values_set_the_pipeline_environment(helm_values):
    env = {e["name"]: e["value"] for e in helm_values["env"]}
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    compose_env = compose["x-airflow-common"]["environment"]
    # The same NLP_TASKS_* variables as docker-compose.yaml.
    assert {k for k in compose_env if k.startswith("NLP_TASKS_")} <= set(env)
    assert env["NLP_TASKS_INFERENCE_QUEUE"] == "gpu" and env["NLP_TASKS_INFERENCE_POOL"] == "gpu"
    assert env["NLP_TASKS_DATA_ROOT"].startswith("s3://")
    assert [s["envName"] for s in helm_values["secret"]] == ["AIRFLOW_CONN_AWS_DEFAULT"]


def test_helm_values_have_a_gpu_worker_set(helm_values):
    celery = helm_values["workers"]["celery"]
    assert celery["replicas"] >= 1 and celery["resources"]["requests"]
    (gpu,) = [s for s in celery["sets"] if s["name"] == "gpu"]
    env = {e["name"]: e["value"] for e in helm_values["env"]}
    assert gpu["queue"] == env["NLP_TASKS_INFERENCE_QUEUE"]
    assert "--queues gpu" in " ".join(gpu["args"])
    assert gpu["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["resources"]["requests"]["nvidia.com/gpu"] == 1
