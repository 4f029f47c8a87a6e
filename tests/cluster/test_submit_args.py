"""``hartune submit``'s command line (what follows ``--`` goes to the job's ``hartune run``) and the example
cluster-launcher config."""

from __future__ import annotations

import pytest

from hartune.cli import parse_args


def test_run_args_after_double_dash_reach_the_job() -> None:
    args = parse_args(["submit", "a.yaml", "--address", "http://h:8265", "--no-wait", "--", "--stage", "table2"])
    assert (args.spec, args.address, args.no_wait, args.run_args) == ("a.yaml", "http://h:8265", True, ["--stage", "table2"])
    assert parse_args(["submit", "a.yaml"]).run_args == []


def test_double_dash_is_refused_by_other_commands() -> None:
    with pytest.raises(SystemExit):
        parse_args(["validate", "a.yaml", "--", "--stage", "x"])


def test_the_example_launcher_config_passes_rays_schema() -> None:
    from pathlib import Path

    import yaml
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((Path(__file__).parents[2] / "cluster" / "aws-gpu.yaml").read_text())
    validate_config(prepare_config(config))  # raises on a key or type the launcher does not accept
    assert config["available_node_types"]["gpu_worker"]["resources"]["GPU"] == 1
