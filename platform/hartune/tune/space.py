"""One search-space definition -> the Ray Tune param space and the Optuna distributions.

A space maps a dotted path into the run config to a typed parameter::

    train.lr:         {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    model.dropout:    {type: float, low: 0.0, high: 0.5, step: 0.1}
    train.batch_size: {type: categorical, choices: [32, 64, 128]}
    loss.gamma:       {type: int, low: 1, high: 5}
    loss.epsilon:     {type: grid, values: [0.0, 0.05, 0.1]}

Bounds are inclusive for ``int`` and stepped ``float`` in both libraries (Ray's ``randint`` upper bound
is exclusive, so ``to_tune`` adds one). A ``step`` must divide ``low`` and ``high - low``: Ray quantizes
to multiples of ``step`` while Optuna counts from ``low``, and only then do both reach the same values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    RootModel,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from hartune.registry import ConfigError, validate_config

_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise PydanticCustomError(
            "search_space", "must be a bool, int, float, string or null (what Optuna stores)"
        )
    return value


Choice = Annotated[bool | int | float | str | None, BeforeValidator(_scalar)]


def _invalid(key: str, value: Any, message: str) -> ValidationError:
    """A one-entry ValidationError on ``key``; raised inside a validator, pydantic prefixes the path."""
    error = PydanticCustomError("search_space", message)
    return ValidationError.from_exception_data(
        "param", [InitErrorDetails(type=error, loc=(key,), input=value)]
    )


def _is_multiple(x: float, step: float) -> bool:
    k = x / step
    return math.isclose(k, round(k), rel_tol=1e-9, abs_tol=1e-9)


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def bounds(self) -> list[Any]:
        """The values a sampler can reach at the edges: low and high, or every choice."""
        raise NotImplementedError

    def bound_labels(self) -> list[str]:
        """The key of each of ``bounds()`` in the space file: ``low``, ``high``, ``choices[i]``..."""
        raise NotImplementedError


class _RangeParam(_Param):
    """Shared checks of ``float`` and ``int``: the order of bounds, log and step."""

    _no_step: ClassVar[float | None] = None  # the step value that means "not stepped"
    type: str
    low: FiniteFloat
    high: FiniteFloat
    log: bool = False
    step: FiniteFloat | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> _RangeParam:
        strict = self._no_step is None  # float: low < high; int: low <= high (Optuna allows one value)
        if self.low > self.high or (strict and self.low == self.high):
            raise _invalid("low", self.low, f"must be {'<' if strict else '<='} high={self.high}")
        if self.log and self.low <= 0:
            raise _invalid("low", self.low, "must be > 0 when log=true")
        if self.log and self.step != self._no_step:
            raise _invalid("step", self.step, "cannot be combined with log=true (Optuna rule); drop one")
        if self.step and not _is_multiple(self.low, self.step):
            raise _invalid(
                "low", self.low, f"must be a multiple of step={self.step} (Ray quantizes to multiples)"
            )
        if self.step and not _is_multiple(self.high - self.low, self.step):
            raise _invalid("high", self.high, f"high - low must be a multiple of step={self.step}")
        return self

    def bounds(self) -> list[Any]:
        return [self.low, self.high]

    def bound_labels(self) -> list[str]:
        return ["low", "high"]


class FloatParam(_RangeParam):
    type: Literal["float"]

    def to_tune(self) -> Any:
        from ray import tune

        if self.log:
            return tune.loguniform(self.low, self.high)
        if self.step:
            return tune.quniform(self.low, self.high, self.step)
        return tune.uniform(self.low, self.high)

    def to_optuna(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)


class IntParam(_RangeParam):
    _no_step: ClassVar[int] = 1
    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, gt=0)

    def to_tune(self) -> Any:
        from ray import tune

        # randint/lograndint exclude ``upper``; qrandint includes it, but only for q > 1.
        if self.log:
            return tune.lograndint(self.low, self.high + 1)
        if self.step > 1:
            return tune.qrandint(self.low, self.high, self.step)
        return tune.randint(self.low, self.high + 1)

    def to_optuna(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)


class _ChoiceParam(_Param):
    _key: ClassVar[str] = "choices"  # the YAML key holding the values, for error paths

    @model_validator(mode="after")
    def _distinct(self) -> _ChoiceParam:
        values = self.bounds()
        for i, v in enumerate(values):
            if v in values[:i]:  # Optuna finds a choice by ==, so 1, 1.0 and True are one choice
                raise _invalid(self._key, v, f"repeats an earlier value at position {i}: {v!r}")
        return self

    def bound_labels(self) -> list[str]:
        return [f"{self._key}[{i}]" for i in range(len(self.bounds()))]

    def to_tune(self) -> Any:
        from ray import tune

        return tune.choice(self.bounds())

    def to_optuna(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.bounds())


class CategoricalParam(_ChoiceParam):
    """Unordered choices that a sampler picks among (TPE, random...)."""

    type: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1)

    def bounds(self) -> list[Any]:
        return list(self.choices)


class GridParam(_ChoiceParam):
    """Values that the ``grid`` sampler enumerates; any other sampler treats them as categorical."""

    _key: ClassVar[str] = "values"
    type: Literal["grid"]
    values: list[Choice] = Field(min_length=1)

    def bounds(self) -> list[Any]:
        return list(self.values)


Param = FloatParam | IntParam | CategoricalParam | GridParam
PARAM_TYPES: dict[str, type[_Param]] = {
    "float": FloatParam,
    "int": IntParam,
    "categorical": CategoricalParam,
    "grid": GridParam,
}


def _by_type(value: Any, handler: Any) -> _Param:
    """Pick the class from ``type`` and validate with it alone, so that an error's path is
    ``name.field`` (a pydantic tagged union would insert the tag: ``name.float.field``)."""
    if isinstance(value, _Param):
        return value
    valid = ", ".join(sorted(PARAM_TYPES))
    if not isinstance(value, Mapping):
        raise PydanticCustomError("search_space", "must be a mapping with a type ({valid})", {"valid": valid})
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in PARAM_TYPES:  # a list or a mapping is not hashable
        raise PydanticCustomError(
            "search_space",
            "type={kind} is not a param type; valid: {valid}",
            {"kind": repr(kind), "valid": valid},
        )
    return PARAM_TYPES[kind].model_validate(value)


AnyParam = Annotated[Param, Field(discriminator="type"), WrapValidator(_by_type)]


class SearchSpace(RootModel[dict[str, AnyParam]]):
    """Parameter name (dotted run-config path) -> typed parameter."""

    @model_validator(mode="after")
    def _dotted_names(self) -> SearchSpace:
        for name in self.root:
            if not _NAME.fullmatch(name):
                raise _invalid(name, name, "must be a dotted run-config path such as train.lr")
        return self

    @property
    def params(self) -> dict[str, Param]:
        return self.root

    def to_tune(self, grid_search: bool = False) -> dict[str, Any]:
        """Ray Tune domains. ``grid_search=True`` makes grid params ``tune.grid_search`` for Tune's own
        variant generator; OptunaSearch refuses those, so by default they are ``tune.choice``."""
        from ray import tune

        return {
            name: tune.grid_search(p.bounds()) if grid_search and isinstance(p, GridParam) else p.to_tune()
            for name, p in self.root.items()
        }

    def to_optuna(self) -> dict[str, Any]:
        """Optuna distributions; grid params are categorical."""
        return {name: p.to_optuna() for name, p in self.root.items()}

    def grid(self) -> dict[str, list[Any]]:
        """The grid/categorical params with their values (the grid sampler's search space)."""
        return {name: p.bounds() for name, p in self.root.items() if isinstance(p, _ChoiceParam)}

    def is_grid(self) -> bool:
        return all(isinstance(p, _ChoiceParam) for p in self.root.values())

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def corners(self) -> list[dict[str, Any]]:
        """Concrete points that reach every bound and every choice: all params at their first value
        (low or first choice), then each param moved to each of its other values in turn."""
        points: list[dict[str, Any]] = []
        for _, point in self.labelled_corners():
            if point not in points:
                points.append(point)
        return points

    def labelled_corners(self) -> list[tuple[str, dict[str, Any]]]:
        """Each parameter at each bound or choice (the others at their first), labelled by its key path
        (``train.lr.low``, ``model.name.choices[1]``), so that an impossible value is named in errors."""
        first = {name: p.bounds()[0] for name, p in self.root.items()}
        return [
            (f"{name}.{label}", {**first, name: value})
            for name, p in self.root.items()
            for label, value in zip(p.bound_labels(), p.bounds())
        ]


M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: PyYAML keeps the
    last one silently, so a pasted-twice ``lr:`` would hide the first value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: let PyYAML raise its own error below
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice (a later one would silently win)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml_text(path: Path) -> Any:
    """The YAML document in ``path``: UTF-8, the safe loader, no key twice in a mapping. Raises
    ``OSError``, ``UnicodeDecodeError`` or ``yaml.YAMLError`` for the caller to put in one line."""
    return yaml.load(path.read_bytes().decode("utf-8"), Loader=_UniqueKeyLoader)


def yaml_problem(e: yaml.YAMLError | UnicodeDecodeError) -> tuple[str, str]:
    """(`` line N`` or "", the problem on one line) of a YAML or decoding error."""
    if isinstance(e, UnicodeDecodeError):
        return "", f"not UTF-8 text (byte {e.start})"
    where = getattr(e, "problem_mark", None)
    line = f" line {where.line + 1}" if where else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return line, " ".join(str(problem).split())


def load_space(
    source: str | Path | Mapping[str, Any], base_dir: Path, prefix: str, model: type[M] = SearchSpace
) -> M:
    """A space (``model``: a ``SearchSpace`` or another space-file schema) from an inline mapping or a
    YAML file (relative to ``base_dir``).

    Errors are one ``ConfigError`` line: ``prefix.name.field=value: message`` for a mapping,
    ``prefix: FILE: name.field=value: message`` for a file.
    """
    if isinstance(source, Mapping):
        return validate_config(model, source, prefix)
    path = Path(base_dir) / source
    try:
        raw = read_yaml_text(path)
    except OSError as e:
        raise ConfigError(
            f"{prefix}={str(source)!r}: cannot read search space file {path}: {e.strerror}"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        line, problem = yaml_problem(e)
        raise ConfigError(f"{prefix}: {path}:{line}: not valid YAML: {problem}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{prefix}: {path}: must be a mapping of parameter name -> {{type: ...}}, got {type(raw).__name__}"
        )
    try:
        return validate_config(model, raw)
    except ConfigError as e:
        raise ConfigError(f"{prefix}: {path}: {e}") from None
