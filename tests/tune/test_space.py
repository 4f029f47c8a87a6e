"""One search-space YAML -> Ray Tune domains and Optuna distributions that agree; one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from ray import tune
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Quantized

from hartune.registry import ConfigError
from hartune.tune.space import SearchSpace, load_space

SPACE_YAML = """
train.lr:         {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
model.dropout:    {type: float, low: 0.0, high: 0.5}
model.width:      {type: float, low: 0.25, high: 1.0, step: 0.25}
train.batch_size: {type: categorical, choices: [32, 64, 128]}
loss.gamma:       {type: int, low: 1, high: 5}
model.layers:     {type: int, low: 2, high: 8, step: 2}
model.hidden:     {type: int, low: 8, high: 256, log: true}
loss.epsilon:     {type: grid, values: [0.0, 0.05, 0.1, 0.2]}
"""


@pytest.fixture
def space(tmp_path: Path) -> SearchSpace:
    (tmp_path / "search_spaces").mkdir()
    (tmp_path / "search_spaces" / "s.yaml").write_text(SPACE_YAML)
    return load_space("search_spaces/s.yaml", tmp_path, prefix="stages[0].space")


def _ray_bounds(domain: object) -> dict[str, object]:
    """What a Ray domain can produce, in Optuna's terms (inclusive bounds)."""
    sampler = domain.get_sampler()
    step = sampler.q if isinstance(sampler, Quantized) else None
    inner = sampler.sampler if isinstance(sampler, Quantized) else sampler
    if isinstance(domain, Categorical):
        return {"choices": tuple(domain.categories)}
    high = domain.upper - 1 if isinstance(domain, Integer) and step is None else domain.upper
    return {"low": domain.lower, "high": high, "log": isinstance(inner, LogUniform), "step": step}


def _optuna_bounds(dist: object) -> dict[str, object]:
    if isinstance(dist, CategoricalDistribution):
        return {"choices": dist.choices}
    step = None if isinstance(dist, IntDistribution) and dist.step == 1 else dist.step
    return {"low": dist.low, "high": dist.high, "log": dist.log, "step": step}


def test_both_conversions_agree(space: SearchSpace) -> None:
    ray_space, optuna_space = space.to_tune(), space.to_optuna()
    assert list(ray_space) == list(optuna_space) == list(space.params)
    for name in space.params:
        assert _ray_bounds(ray_space[name]) == _optuna_bounds(optuna_space[name]), name
    # and Ray's own Tune -> Optuna conversion (what OptunaSearch does with a param_space) matches
    assert OptunaSearch.convert_search_space(ray_space) == optuna_space


def test_expected_types(space: SearchSpace) -> None:
    ray_space, optuna_space = space.to_tune(), space.to_optuna()
    assert isinstance(ray_space["train.lr"], Float) and isinstance(
        optuna_space["train.lr"], FloatDistribution
    )
    assert optuna_space["train.lr"].log and optuna_space["model.width"].step == 0.25
    assert isinstance(ray_space["loss.gamma"], Integer) and isinstance(
        optuna_space["loss.gamma"], IntDistribution
    )
    assert isinstance(ray_space["loss.epsilon"], Categorical)
    assert optuna_space["loss.epsilon"] == CategoricalDistribution([0.0, 0.05, 0.1, 0.2])
    assert space.to_tune(grid_search=True)["loss.epsilon"] == tune.grid_search([0.0, 0.05, 0.1, 0.2])


@pytest.mark.parametrize("name", ["loss.gamma", "model.layers", "model.hidden", "model.width"])
def test_ray_reaches_inclusive_bounds(space: SearchSpace, name: str) -> None:
    p = space.params[name]
    values = np.asarray(space.to_tune()[name].sample(size=4000, random_state=np.random.default_rng(0)))
    assert np.isclose(values.min(), p.low) and np.isclose(values.max(), p.high)
    if p.step:
        assert np.allclose((values - p.low) / p.step, np.round((values - p.low) / p.step))


def test_optuna_reaches_inclusive_bounds(space: SearchSpace) -> None:
    names = ["loss.gamma", "model.layers", "model.hidden", "model.width"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    points = [study.ask({n: space.to_optuna()[n] for n in names}).params for _ in range(1500)]
    for name in names:
        values = [pt[name] for pt in points]
        assert np.isclose(min(values), space.params[name].low) and np.isclose(
            max(values), space.params[name].high
        )


def test_grid_helpers() -> None:
    space = load_space(
        {"a": {"type": "grid", "values": [1, 2, 3]}, "b": {"type": "categorical", "choices": ["x", "y"]}},
        Path("."),
        "space",
    )
    assert space.is_grid() and space.grid_size() == 6
    assert space.grid() == {"a": [1, 2, 3], "b": ["x", "y"]}
    mixed = load_space(
        {"a": {"type": "grid", "values": [1, 2]}, "c": {"type": "int", "low": 0, "high": 3}},
        Path("."),
        "space",
    )
    assert not mixed.is_grid() and mixed.grid() == {"a": [1, 2]}


def test_corners_reach_every_bound_and_choice(space: SearchSpace) -> None:
    corners = space.corners()
    for name, p in space.params.items():
        reached = {c[name] for c in corners}
        expected = {p.low, p.high} if hasattr(p, "low") else set(p.bounds())
        assert reached == expected, name
    assert all(set(c) == set(space.params) for c in corners)


def test_round_trip_through_dump(space: SearchSpace) -> None:
    assert SearchSpace.model_validate(space.model_dump()) == space


def _err(spec: dict, prefix: str = "stages[2].space") -> str:
    with pytest.raises(ConfigError) as e:
        load_space(spec, Path("."), prefix)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ({"type": "int", "low": 5, "high": 1}, "stages[2].space.loss.gamma.low=5: must be <= high=1"),
        (
            {"type": "float", "low": 0.5, "high": 0.5},
            "stages[2].space.loss.gamma.low=0.5: must be < high=0.5",
        ),
        (
            {"type": "float", "low": 0.0, "high": 1.0, "log": True},
            "loss.gamma.low=0.0: must be > 0 when log=true",
        ),
        ({"type": "int", "low": -1, "high": 4, "log": True}, "loss.gamma.low=-1: must be > 0 when log=true"),
        (
            {"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1},
            "loss.gamma.step=0.1: cannot be",
        ),
        (
            {"type": "int", "low": 2, "high": 8, "log": True, "step": 2},
            "loss.gamma.step=2: cannot be combined",
        ),
        (
            {"type": "int", "low": 0, "high": 8, "step": 0},
            "loss.gamma.step=0: Input should be greater than 0",
        ),
        ({"type": "int", "low": 1, "high": 9, "step": 2}, "loss.gamma.low=1: must be a multiple of step=2"),
        ({"type": "float", "low": 0.0, "high": 0.5, "step": 0.2}, "loss.gamma.high=0.5: high - low must be"),
        (
            {"type": "float", "low": 0.0, "high": 1.0, "lo": 2},
            "loss.gamma.lo=2: Extra inputs are not permitted",
        ),
        (
            {"type": "beta", "low": 0.0},
            "loss.gamma: type='beta' is not a param type; valid: categorical, float",
        ),
        ({"low": 0.0, "high": 1.0}, "loss.gamma: type=None is not a param type; valid: categorical"),
        (3, "loss.gamma=3: must be a mapping with a type (categorical, float, grid, int)"),
        ({"type": "categorical", "choices": []}, "loss.gamma.choices: List should have at least 1 item"),
        ({"type": "grid", "values": []}, "loss.gamma.values: List should have at least 1 item"),
        ({"type": "grid", "values": [1, 2, 1.0]}, "loss.gamma.values=1.0: repeats an earlier value"),
        (
            {"type": "categorical", "choices": [[1]]},
            "loss.gamma.choices[0]: must be a bool, int, float, string",
        ),
        (
            {"type": "float", "low": 0.0, "high": "inf"},
            "loss.gamma.high='inf': Input should be a finite number",
        ),
    ],
)
def test_malformed_param_is_one_line(param: object, expected: str) -> None:
    msg = _err({"train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}, "loss.gamma": param})
    assert msg.startswith("stages[2].space.loss.gamma") and expected in msg


def test_bad_parameter_name() -> None:
    assert _err({"loss/gamma": {"type": "int", "low": 1, "high": 2}}) == (
        "stages[2].space.loss/gamma='loss/gamma': must be a dotted run-config path such as train.lr"
    )


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^space='nope.yaml': cannot read search space file .*nope.yaml"):
        load_space("nope.yaml", tmp_path, "space")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"^space: .*list.yaml: must be a mapping .* got list$"):
        load_space("list.yaml", tmp_path, "space")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match=r"empty.yaml: must be a mapping .* got NoneType$"):
        load_space(Path("empty.yaml"), tmp_path, "space")
    (tmp_path / "broken.yaml").write_text("a: {type: float, low: 1\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line 2: not valid YAML"):
        load_space("broken.yaml", tmp_path, "space")
    (tmp_path / "bad.yaml").write_text("a: {type: float, low: 2.0, high: 1.0}\n")
    with pytest.raises(ConfigError, match=r"^space: .*bad.yaml: a.low=2.0: must be < high=1.0$"):
        load_space("bad.yaml", tmp_path, "space")


def test_shipped_spaces_load() -> None:
    """Plain spaces convert identically for Ray and Optuna; loss-family files (``loss_independent``,
    ``loss_interleaved``) hold one such space per family under ``range``; grid files (Table 10's rows)
    load as ``grid`` variants, each a non-empty partial run config."""
    from hartune.tune.stages import LossSpaces
    from hartune.tune.stages.grid import Variants

    root = Path(__file__).resolve().parents[2]
    files = sorted((root / "search_spaces").glob("*.yaml"))
    assert len(files) >= 4
    grid_files = {"loss_composite_table10"}
    for f in files:
        if f.stem in grid_files:
            rows = load_space(f.name, f.parent, f.name, model=Variants).root
            assert rows and all(rows.values()), f.name
            continue
        if f.stem in ("loss_independent", "loss_interleaved"):
            spaces = [fs.range for fs in load_space(f.name, f.parent, f.name, model=LossSpaces).root.values()]
        else:
            spaces = [load_space(f.name, f.parent, prefix=f.name)]
        for space in spaces:
            assert OptunaSearch.convert_search_space(space.to_tune()) == space.to_optuna()
