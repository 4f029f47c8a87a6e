"""Build-by-name registries: one per component kind (models, losses, datasets, splits, stages...).

Each registry maps a name to a builder. An unknown name raises ``UnknownNameError`` whose message
lists every valid name, so a typo in a spec surfaces as one readable line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T")
C = TypeVar("C", bound=BaseModel)


class ConfigError(ValueError):
    """A bad value in a typed config: one line naming the key path, the value and what is accepted."""


def describe_error(e: ValidationError, prefix: str = "", root: Any = None) -> str:
    """The first pydantic error as one line: ``key.path=value: what is accepted``.

    With ``root`` (the validated input), discriminated-union tags that pydantic inserts into the
    location (``stages.2.grid.variants``) are dropped, so the path is the one the user wrote.
    """
    err = e.errors()[0]
    parts: list[str] = [prefix] if prefix else []
    node = root
    loc = err["loc"]
    for i, p in enumerate(loc):
        if root is not None and i < len(loc) - 1:
            if isinstance(node, Mapping) and p in node:
                node = node[p]
            elif isinstance(node, list) and isinstance(p, int) and p < len(node):
                node = node[p]
            else:
                continue  # a union tag or a validator's synthetic location: not in the input
        elif root is not None and isinstance(node, Mapping) and isinstance(p, str) and p not in node:
            if err["type"] != "missing" and "extra" not in err["type"]:
                continue  # the tag of the union member whose own validator failed (loss.composite)
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]"] if parts else [f"[{p}]"]
        else:
            parts.append(str(p))
    msg = err["msg"].removeprefix("Value error, ")
    if not parts:  # a whole-config validator: its message names the keys itself
        return msg
    key = ".".join(parts)
    value = err.get("input")
    shown = "" if isinstance(value, (Mapping, list)) or err["type"] == "missing" else f"={value!r}"
    return f"{key}{shown}: {msg}"


def validate_config(cls: type[C], params: Mapping[str, Any], prefix: str = "") -> C:
    """Build ``cls(**params)``; on failure raise ``ConfigError`` with one readable line."""
    try:
        return cls.model_validate(dict(params))
    except ValidationError as e:
        raise ConfigError(describe_error(e, prefix, root=dict(params))) from None


class UnknownNameError(KeyError):
    """A name that no registry entry carries. ``str()`` gives the one-line message."""

    def __init__(self, kind: str, name: object, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.args[0]


class Registry(Generic[T]):
    """A named table of builders of one kind.

    >>> MODELS = Registry("model")
    >>> @MODELS.register("cnn")
    ... def build_cnn(**kw): ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, self.names()) from None

    def register_config(self, field: str) -> Callable[[T], T]:
        """Register a config class under the one value of its ``field: Literal["name"]``."""

        def deco(cls: T) -> T:
            self.register(cls.model_fields[field].annotation.__args__[0])(cls)  # type: ignore[attr-defined]
            return cls

        return deco

    def union(self, discriminator: str) -> Any:
        """A pydantic discriminated union of the registered config classes, keyed by ``discriminator``.

        Built when called: register every entry before the config that uses it is defined.
        """
        from typing import Annotated, Union

        from pydantic import Field

        members = tuple(self._entries[n] for n in self.names())
        if len(members) == 1:
            return members[0]
        return Annotated[Union[members], Field(discriminator=discriminator)]  # noqa: UP007

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
