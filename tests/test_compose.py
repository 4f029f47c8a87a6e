"""``docker-compose.yml`` checked the way ``docker compose config`` reads it (YAML merges resolved,
``${VAR}`` filled from ``.env.example``) against the Compose Specification's schema (the compose-spec
package), plus what the schema cannot see: services reach each other by service name, named volumes
and bind-mounted files exist, health checks gate the start order, and the image carries pyproject's
versions. No Docker engine is needed (none is on these machines)."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import compose_spec
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
LOCAL = {"localhost", "127.0.0.1", "0.0.0.0"}


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return VAR.sub(lambda m: env.get(m.group(1), m.group(2) or ""), node)
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    return node


def resolved(text: str | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(text or (ROOT / "docker-compose.yml").read_text())  # merges (<<) resolved here
    return {k: v for k, v in interpolate(raw, env_example()).items() if not k.startswith("x-")}


def schema_check(doc: dict[str, Any]) -> list[str]:
    c = compose_spec.PyCompose.from_yaml(yaml.safe_dump(doc))
    c.validate()
    return c.service_names()


def cross_check(doc: dict[str, Any]) -> list[str]:
    """What the schema cannot see; returns the problems found."""
    services, volumes = doc["services"], set(doc.get("volumes") or {})
    problems = []
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            if dep not in services:
                problems.append(f"{name}: depends_on {dep!r} is not a service")
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0]
            if source.startswith((".", "/")):
                if not (ROOT / source).exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
            elif source not in volumes:
                problems.append(f"{name}: volume {source!r} is not declared")
        text = yaml.safe_dump(
            {k: svc.get(k) for k in ("environment", "command", "entrypoint", "healthcheck")}
        )
        for host in re.findall(r"(?:://|@|--address[= ])([A-Za-z][\w.-]*):\d+", text):
            if host not in services and host not in LOCAL:
                problems.append(f"{name}: reaches {host!r}, which is not a service name")
    return problems


def test_the_stack_is_a_valid_compose_file() -> None:
    names = schema_check(resolved())
    assert set(names) >= {
        "postgres",
        "s3",
        "create-bucket",
        "mlflow",
        "ray-head",
        "ray-worker",
        "ray-worker-cpu",
    }
    with pytest.raises(ValueError, match="portz"):  # the schema check does fail on a bad key
        bad = resolved()
        bad["services"]["mlflow"]["portz"] = ["5000:5000"]
        schema_check(bad)


def test_services_volumes_and_names_hold_together() -> None:
    doc = resolved()
    assert cross_check(doc) == []
    broken = resolved()
    broken["services"]["ray-worker"]["volumes"] = ["nosuchvolume:/mnt/x", "./docker/absent.sh:/x"]
    broken["services"]["ray-worker"]["environment"]["MLFLOW_TRACKING_URI"] = "http://mlfow:5000"
    assert len(cross_check(broken)) == 3


def test_every_variable_has_an_example_and_secrets_stay_out_of_git() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = {m.group(1) for m in VAR.finditer(text) if m.group(2) is None}
    assert used <= set(env_example()), used - set(env_example())
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_production_settings() -> None:
    s = resolved()["services"]
    for name in ("postgres", "s3", "mlflow", "ray-head"):
        assert "healthcheck" in s[name], name
    assert s["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert s["mlflow"]["depends_on"]["create-bucket"]["condition"] == "service_completed_successfully"
    gpu = s["ray-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert s["ray-worker-cpu"]["profiles"] == ["cpu"] and "--num-gpus=0" in s["ray-worker-cpu"]["command"]
    assert "--dashboard-host=0.0.0.0" in s["ray-head"]["command"] and "8265:8265" in s["ray-head"]["ports"]
    server = (ROOT / "docker" / "mlflow-server.sh").read_text()
    assert (
        "postgresql+psycopg2://" in server and "--app-name basic-auth" in server
    )  # SQLAlchemy 2.1: bare postgresql:// means psycopg 3
    assert "--artifacts-destination" in server and "--serve-artifacts" in server
    assert "mlflow:5000" in server  # other containers reach http://mlflow:5000 (MLflow 3's host check)
    assert "minio" not in yaml.safe_dump(s).lower()  # unmaintained images: RustFS instead


def test_one_image_with_pyprojects_versions() -> None:
    s = resolved()["services"]
    built = {n for n, svc in s.items() if svc.get("build")}
    assert built == {"mlflow", "ray-head", "ray-worker", "ray-worker-cpu"}
    assert len({s[n]["image"] for n in built}) == 1
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(
        re.match(r"([\w\-]+)(?:\[[^\]]*\])?==(.+)", d).groups() for d in project["dependencies"] if "==" in d
    )
    for name, svc in s.items():  # no service brings its own ray, mlflow or torch at another version
        for pkg in ("ray", "mlflow", "torch"):
            tag = re.search(rf"\b{pkg}[/:]\S*?(\d+\.\d+\.\d+)", svc.get("image", ""))
            if tag and pkg in pins:
                assert tag.group(1) == pins[pkg], (name, svc["image"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.MULTILINE)  # pyproject: requires-python >= 3.11
    assert "pip install -e '.[cluster]'" in dockerfile  # the versions are pyproject's own pins
    assert {"torch", "ray", "optuna"} <= set(pins)


# ---- issue 21 point 10: the stack refuses the example secrets -----------------------------------------

SCRIPT = ROOT / "docker" / "require-secrets.sh"
EXAMPLE_SECRETS = sorted(k for k, v in env_example().items() if v.startswith("change-me-"))


def require_secrets(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    """The entrypoint script itself, under ``sh`` as in the containers, with only ``env`` (no Docker)."""
    return subprocess.run(
        ["sh", str(SCRIPT), *command],
        check=False,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def own_secrets() -> dict[str, str]:
    return {
        k: f"{k.lower()}-{os.urandom(6).hex()}" if k in EXAMPLE_SECRETS else v
        for k, v in env_example().items()
    }


def test_the_example_env_is_refused_with_one_line_naming_every_example_secret() -> None:
    assert len(EXAMPLE_SECRETS) == 5  # postgres, s3, mlflow admin, flask, ray token
    done = require_secrets(env_example(), "echo", "started")
    assert done.returncode == 1 and done.stdout == ""  # the service's command never ran
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert all(k in lines[0] for k in EXAMPLE_SECRETS) and "change-me" in lines[0]


@pytest.mark.parametrize("name", EXAMPLE_SECRETS)
def test_one_example_secret_left_is_refused_naming_it(name: str) -> None:
    env = {**own_secrets(), name: env_example()[name]}
    done = require_secrets(env, "echo", "started")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and name in done.stderr
    assert not [k for k in EXAMPLE_SECRETS if k != name and k in done.stderr]


def test_a_derived_value_holding_an_example_secret_is_refused() -> None:
    """e.g. the Optuna storage URI that compose builds from POSTGRES_PASSWORD."""
    env = {
        **own_secrets(),
        "HARTUNE_OPTUNA_STORAGE": "postgresql+psycopg2://hartune:change-me-postgres@postgres/optuna",
    }
    done = require_secrets(env)
    assert done.returncode == 1 and "HARTUNE_OPTUNA_STORAGE" in done.stderr


def test_own_secrets_start_the_command() -> None:
    done = require_secrets(own_secrets(), "echo", "started")
    assert done.returncode == 0 and done.stdout == "started\n" and done.stderr == ""
    assert require_secrets(own_secrets()).returncode == 0  # the secrets-check service: no command


def test_every_service_starts_behind_the_secrets_check() -> None:
    s = resolved()["services"]
    check = s["secrets-check"]
    assert check["command"] == ["sh", "/opt/hartune/docker/require-secrets.sh"] and check["restart"] == "no"
    assert set(check["environment"]) == set(EXAMPLE_SECRETS)  # every example secret is checked
    assert "./docker:/opt/hartune/docker:ro" in check["volumes"] and os.access(SCRIPT, os.X_OK)
    for name in ("postgres", "s3"):  # the roots of the start order: all else waits on them
        assert s[name]["depends_on"]["secrets-check"]["condition"] == "service_completed_successfully", name
    for name, svc in s.items():  # every hartune container checks its own environment as well
        if svc.get("build"):
            assert svc["entrypoint"] == ["/opt/hartune/docker/require-secrets.sh"], name

    def waits_on_check(name: str) -> bool:
        deps = s[name].get("depends_on") or {}
        return "secrets-check" in deps or any(waits_on_check(d) for d in deps)

    assert all(waits_on_check(n) for n in s if n != "secrets-check")
    assert "require-secrets.sh" in (ROOT / "docker" / "mlflow-server.sh").read_text()
