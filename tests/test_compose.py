"""``docker-compose.yml`` checked the way ``docker compose config`` reads it (YAML merges resolved,
``${VAR}`` filled from ``.env.example``) against the Compose Specification's schema (the compose-spec
package), plus what the schema cannot see: services reach each other by service name, named volumes
and bind-mounted files exist, health checks gate the start order, and the image carries pyproject's
versions. No Docker engine is needed (none is on these machines)."""

from __future__ import annotations

import re
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
        text = yaml.safe_dump({k: svc.get(k) for k in ("environment", "command", "entrypoint", "healthcheck")})
        for host in re.findall(r"(?:://|@|--address[= ])([A-Za-z][\w.-]*):\d+", text):
            if host not in services and host not in LOCAL:
                problems.append(f"{name}: reaches {host!r}, which is not a service name")
    return problems


def test_the_stack_is_a_valid_compose_file() -> None:
    names = schema_check(resolved())
    assert set(names) >= {"postgres", "s3", "create-bucket", "mlflow", "ray-head", "ray-worker", "ray-worker-cpu"}
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
    assert "postgresql+psycopg2://" in server and "--app-name basic-auth" in server  # SQLAlchemy 2.1: bare postgresql:// means psycopg 3
    assert "--artifacts-destination" in server and "--serve-artifacts" in server
    assert "mlflow:5000" in server  # other containers reach http://mlflow:5000 (MLflow 3's host check)
    assert "minio" not in yaml.safe_dump(s).lower()  # unmaintained images: RustFS instead


def test_one_image_with_pyprojects_versions() -> None:
    s = resolved()["services"]
    built = {n for n, svc in s.items() if svc.get("build")}
    assert built == {"mlflow", "ray-head", "ray-worker", "ray-worker-cpu"}
    assert len({s[n]["image"] for n in built}) == 1
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(re.match(r"([\w\-]+)(?:\[[^\]]*\])?==(.+)", d).groups() for d in project["dependencies"] if "==" in d)
    for name, svc in s.items():  # no service brings its own ray, mlflow or torch at another version
        for pkg in ("ray", "mlflow", "torch"):
            tag = re.search(rf"\b{pkg}[/:]\S*?(\d+\.\d+\.\d+)", svc.get("image", ""))
            if tag and pkg in pins:
                assert tag.group(1) == pins[pkg], (name, svc["image"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)  # pyproject: requires-python >= 3.11
    assert "pip install -e '.[cluster]'" in dockerfile  # the versions are pyproject's own pins
    assert {"torch", "ray", "optuna"} <= set(pins)
