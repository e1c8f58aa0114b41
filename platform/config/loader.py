"""Load experiment and sweep specs: YAML files, ``extends`` chains, dotted overrides, readable errors.

Every key is tracked back to where it was set (``file:line`` or the override), so a refused value is reported as
``jobs/x.yaml:12: train.lr: Input should be greater than 0 (got -1.0)``: one line, no traceback.
Scalars follow YAML 1.2 core rules in files and overrides alike: ``1e-3`` is a float, only ``true``/``false``
are booleans (``yes``/``on`` stay strings), ``010`` is ten, ``null`` or nothing is null.
"""
from __future__ import annotations

import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TypeVar, Union

import yaml
from pydantic import BaseModel, ValidationError

from s2hand.config.spec import ExperimentSpec, SpecValueError, SweepSpec, setting_field
from s2hand.errors import ConfigError

__all__ = [
    "JOBS_DIR_ENV",
    "apply_overrides",
    "find_spec",
    "is_sweep_file",
    "jobs_dir",
    "list_specs",
    "load_spec",
    "load_sweep",
    "loads_spec",
    "parse_override",
    "parse_value",
]

JOBS_DIR_ENV = "S2HAND_JOBS_DIR"
CLI_OVERRIDE = "command-line override"
Model = TypeVar("Model", bound=BaseModel)
Key = tuple[str, ...]
Overrides = Union[Sequence[str], Mapping[str, Any]]  # ["train.lr=1e-4"] or {"train.lr": 1e-4}


# --------------------------------------------------------------------------------------------- YAML 1.2 scalars


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core booleans, integers and floats (PyYAML implements YAML 1.1)."""


_RESOLVED_HERE = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _RESOLVED_HERE]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    if text[:2] in ("0o", "0x"):
        return int(text, 0)
    return int(text, 10)  # YAML 1.2: a leading zero is not octal


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def parse_value(text: str) -> Any:
    """A value as YAML reads it: ``"1e-3"`` -> 0.001, ``"[1, 2]"`` -> [1, 2], ``"null"`` or ``""`` -> None."""
    return yaml.load(text, Loader=_YamlLoader)


# --------------------------------------------------------------------------------------------- documents


@dataclass
class _Doc:
    """A nested mapping plus, for every key path set in it, where it was set ("file:line" or an override)."""

    data: dict[str, Any] = field(default_factory=dict)
    where: dict[Key, str] = field(default_factory=dict)

    def merged_with(self, top: _Doc) -> _Doc:
        """Deep merge, ``top`` wins; mappings merge key by key, anything else (lists too) is replaced."""
        return _Doc(_merge(self.data, top.data), {**self.where, **top.where})


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse_yaml(text: str, source: str) -> _Doc:
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        context = ""
        if error.context and error.context_mark and error.problem:
            context = f" ({error.context} on line {error.context_mark.line + 1})"
        raise ConfigError(f"{source}{line}: invalid YAML: {error.problem or error.context}{context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None
    finally:
        loader.dispose()
    if data is None:
        return _Doc()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping of settings at the top level (got {type(data).__name__})")
    doc = _Doc(data)
    _record_keys(node, (), source, doc.where)
    return doc


def _record_keys(node: yaml.Node, prefix: Key, source: str, where: dict[Key, str]) -> None:
    """Note each key's line; refuse duplicate keys, which PyYAML would silently let the last one win."""
    if not isinstance(node, yaml.MappingNode):
        return
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key, line = key_node.value, key_node.start_mark.line + 1
        if key in lines:
            dotted = ".".join(prefix + (key,))
            raise ConfigError(f"{source}:{line}: {dotted}: duplicate key (first set on line {lines[key]})")
        lines[key] = line
        where[prefix + (key,)] = f"{source}:{line}"
        _record_keys(value_node, prefix + (key,), source, where)


def _read_file(path: Path) -> _Doc:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{_display(path)}: cannot read: {error.strerror}") from None
    return _parse_yaml(text, _display(path))


def _read_with_extends(path: Path, chain: tuple[Path, ...] = ()) -> _Doc:
    """Read a file and, first, the files it ``extends`` (relative to it), child over parent."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(_display(p) for p in chain[chain.index(path):] + (path,))
        raise ConfigError(f"{_display(path)}: extends cycle: {cycle}")
    return _extend(_read_file(path), path.parent, chain + (path,))


def _extend(doc: _Doc, folder: Path, chain: tuple[Path, ...]) -> _Doc:
    if "extends" not in doc.data:
        return doc
    parents, source = doc.data.pop("extends"), doc.where.pop(("extends",))
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ConfigError(f"{source}: extends: expected a path or a list of paths (got {parents!r})")
    merged = _Doc()
    for ref in parents:
        merged = merged.merged_with(_read_with_extends(find_spec(ref, folder, context=source), chain))
    return merged.merged_with(doc)


# --------------------------------------------------------------------------------------------- spec lookup


def jobs_dir() -> Path:
    """The jobs folder: $S2HAND_JOBS_DIR, else the repository's jobs/ (editable install), else ./jobs."""
    if os.environ.get(JOBS_DIR_ENV):
        return Path(os.environ[JOBS_DIR_ENV]).expanduser()
    in_repo = Path(__file__).resolve().parents[2] / "jobs"  # platform/config/loader.py -> repository root
    in_cwd = Path.cwd() / "jobs"
    return in_repo if in_repo.is_dir() or not in_cwd.is_dir() else in_cwd


def list_specs() -> list[str]:
    """Names of the YAML files under the jobs folder (``s2hand/finetune``), sorted."""
    root = jobs_dir()
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def find_spec(ref: str | os.PathLike[str], relative_to: Path | None = None, context: str | None = None) -> Path:
    """A spec file from a path (relative to ``relative_to``, default the working directory) or a spec name."""
    as_path = Path(ref).expanduser()
    candidate = (relative_to or Path.cwd()) / as_path
    if candidate.is_file():
        return candidate
    named = jobs_dir() / as_path
    named = named if named.suffix in (".yaml", ".yml") else named.with_name(named.name + ".yaml")
    if named.is_file():
        return named
    where = f"{context}: " if context else ""
    known = ", ".join(list_specs()) or "none"
    raise ConfigError(f"{where}no spec {str(ref)!r}: neither {_display(candidate)} nor {_display(named)} exists "
                      f"(specs in {_display(jobs_dir())}: {known})")


def is_sweep_file(path: str | os.PathLike[str]) -> bool:
    """Whether a YAML file is a sweep (it names a ``base`` spec) rather than an experiment spec."""
    return "base" in _read_file(Path(path)).data


# --------------------------------------------------------------------------------------------- overrides

_DOTTED_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_override(text: str, label: str = CLI_OVERRIDE) -> tuple[str, Any]:
    """``"train.lr=1e-3"`` -> ``("train.lr", 0.001)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _DOTTED_KEY.match(key):
        raise ConfigError(f"{label} {text!r}: expected KEY=VALUE with a dotted key, e.g. train.lr=1e-4")
    try:
        return key, parse_value(raw)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or error
        raise ConfigError(f"{label} {text!r}: {key}: the value is not valid YAML: {problem}") from None


def _nest(parts: Key, value: Any) -> dict[str, Any]:
    for part in reversed(parts):
        value = {part: value}
    return value


def _leaf_keys(parts: Key, value: Any) -> Iterable[Key]:
    yield parts
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _leaf_keys(parts + (str(key),), child)


def _with_overrides(doc: _Doc, overrides: Overrides, label: str) -> _Doc:
    if isinstance(overrides, str):
        raise TypeError("overrides must be a list of KEY=VALUE strings or a mapping, not one string")
    if isinstance(overrides, Mapping):
        items = [(key, value, f"{label} {key}={value!r}") for key, value in overrides.items()]
        for key, _, source in items:
            if not _DOTTED_KEY.match(key):
                raise ConfigError(f"{source}: {key!r} is not a dotted key such as train.lr")
    else:
        items = [(*parse_override(text, label), f"{label} {text!r}") for text in overrides]
    for key, value, source in items:
        parts = tuple(key.split("."))
        doc = doc.merged_with(_Doc(_nest(parts, value), {k: source for k in _leaf_keys(parts, value)}))
    return doc


# --------------------------------------------------------------------------------------------- validation


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the one interesting type (or leave a real union)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _key_of(loc: tuple[Any, ...], root: type[BaseModel]) -> tuple[Key, type[BaseModel] | None]:
    """The user-facing key of a pydantic error location, and the model holding its last part.

    pydantic adds union-member tags (``"literal['open']"``, ``"int"``) to locations: walking the schema
    alongside keeps only what the user wrote.
    """
    parts: list[str] = []
    annotation: Any = root
    holder: type[BaseModel] | None = None
    for item in loc:
        model, plain = _as_model(annotation), _unwrap(annotation)
        origin = typing.get_origin(plain)
        if model is not None:
            holder = model
            parts.append(str(item))
            if item not in model.model_fields:
                break  # an unknown key: nothing below it to walk
            annotation = model.model_fields[item].annotation
        elif origin is dict and isinstance(item, str):
            parts.append(item)
            annotation, holder = typing.get_args(plain)[1], None
        elif origin in (list, tuple) and isinstance(item, int):
            parts[-1] += f"[{item}]"
            args = [a for a in typing.get_args(plain) if a is not Ellipsis]
            annotation = args[min(item, len(args) - 1)] if args else Any
        # anything else is a union-member tag: skip it
    return tuple(parts), holder


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lookup(data: Mapping[str, Any], parts: Key, root: type[BaseModel]) -> Any:
    """The value at a key: as given, else the schema default (None if neither exists)."""
    value: Any = data
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            try:
                return setting_field(".".join(parts), root).get_default(call_default_factory=True)
            except KeyError:
                return None
        value = value[part]
    return value


def _leaf_keys_of(model: type[BaseModel], prefix: str = "") -> Iterable[str]:
    for name, info in model.model_fields.items():
        inner = _as_model(info.annotation)
        yield from _leaf_keys_of(inner, f"{prefix}{name}.") if inner else [f"{prefix}{name}"]


def _did_you_mean(parts: Key, known: list[str], root: type[BaseModel]) -> str:
    """A close key in the same section, else a setting of that name elsewhere (model.pose_pca -> hand.pose_pca)."""
    close = difflib.get_close_matches(parts[-1], known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    elsewhere = {key.rsplit(".", 1)[-1]: key for key in _leaf_keys_of(root)}
    close = difflib.get_close_matches(parts[-1], list(elsewhere), n=1, cutoff=0.8)
    return f"; did you mean {elsewhere[close[0]]!r}?" if close else ""


@dataclass(frozen=True)
class _Problem:
    key: Key  # what the message names
    message: str
    blame: tuple[Key, ...]  # keys whose source locates the problem, best first

    @property
    def dotted(self) -> str:
        return ".".join(self.key) or "(top level)"


def _problems(error: ValidationError, root: type[BaseModel], data: Mapping[str, Any]) -> list[_Problem]:
    """One problem per refused key; union members that failed alike are folded into one message."""
    by_key: dict[Key, list[str]] = {}
    blame: dict[Key, tuple[Key, ...]] = {}
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, SpecValueError):  # a cross-field rule, raised with the key to blame
            prefix, _ = _key_of(item["loc"], root)
            parts = prefix + cause.parts
            blame[parts] = (parts,) + tuple(prefix + other for other in cause.related)
            value = _lookup(data, parts, root)
            message = f"{cause}" + (f" (got {_short(value)})" if value is not None else "")
        elif item["type"] == "extra_forbidden":
            parts, holder = _key_of(item["loc"], root)
            known = list(holder.model_fields) if holder else []
            hint = _did_you_mean(parts, known, root)
            message = f"unknown key (got {_short(item['input'])}); expected one of: {', '.join(known)}{hint}"
        elif item["type"] == "missing":
            parts, _ = _key_of(item["loc"], root)
            message = "required key is missing"
        elif item["type"] == "value_error":  # a model's own rule: its message says what was wrong
            parts, _ = _key_of(item["loc"], root)
            message = item["msg"].removeprefix("Value error, ")
        else:
            parts, _ = _key_of(item["loc"], root)
            text = "Input should be a path" if item["type"] == "path_type" else item["msg"]
            message = f"{text} (got {_short(item['input'])})"
        messages = by_key.setdefault(parts, [])
        if message not in messages:
            messages.append(message)
    return [_Problem(parts, " | ".join(messages), blame.get(parts, (parts,))) for parts, messages in by_key.items()]


def _source(keys: Sequence[Key], where: Mapping[Key, str], fallback: str) -> str:
    """Where the first of ``keys`` that the user set was set; failing that, the nearest enclosing section."""
    keys = [tuple(part.split("[")[0] for part in parts) for parts in keys]  # betas[1] was set as betas
    for parts in keys:
        if parts in where:
            return where[parts]
    for parts in keys:
        for end in range(len(parts) - 1, 0, -1):
            if parts[:end] in where:
                return where[parts[:end]]
    return fallback


def _validate(root: type[Model], doc: _Doc, fallback: str) -> Model:
    try:
        return root.model_validate(doc.data)
    except ValidationError as error:
        lines = [f"{_source(p.blame, doc.where, fallback)}: {p.dotted}: {p.message}"
                 for p in _problems(error, root, doc.data)]
        raise ConfigError("; ".join(lines)) from None


# --------------------------------------------------------------------------------------------- public API


def _load_spec_doc(path: Path, overrides: Overrides, label: str) -> ExperimentSpec:
    doc = _read_with_extends(path)
    if "base" in doc.data:
        raise ConfigError(f"{_display(path)}: this is a sweep spec (it names a base), not an experiment spec: "
                          "load it with load_sweep")
    return _validate(ExperimentSpec, _with_overrides(doc, overrides, label), fallback=_display(path))


def load_spec(path_or_name: str | os.PathLike[str], overrides: Overrides = ()) -> ExperimentSpec:
    """Load an experiment spec from a YAML path or a name under the jobs folder, then apply dotted overrides.

    >>> spec = load_spec("s2hand/finetune", ["train.lr=1e-4", "data.augment.rotation=false"])
    """
    return _load_spec_doc(find_spec(path_or_name), overrides, CLI_OVERRIDE)


def loads_spec(text: str, source: str = "<string>") -> ExperimentSpec:
    """An experiment spec from YAML text; ``extends`` is resolved from the working directory."""
    doc = _extend(_parse_yaml(text, source), Path.cwd(), ())
    return _validate(ExperimentSpec, doc, fallback=source)


def apply_overrides(spec: ExperimentSpec, overrides: Overrides, label: str = "override") -> ExperimentSpec:
    """A new validated spec: ``["train.lr=1e-4"]`` strings or a ``{"train.lr": 1e-4}`` mapping applied."""
    return _validate(ExperimentSpec, _with_overrides(_Doc(spec.to_dict()), overrides, label), fallback="spec")


def load_sweep(path_or_name: str | os.PathLike[str], overrides: Overrides = ()) -> SweepSpec:
    """Load a sweep spec; its base spec and every search-space bound or value must give a valid spec."""
    path = find_spec(path_or_name).resolve()
    doc = _with_overrides(_read_with_extends(path), overrides, CLI_OVERRIDE)
    source = _display(path)
    if isinstance(doc.data.get("base"), str):  # make `base` absolute so the sweep can run from anywhere
        base_source = _source([("base",)], doc.where, source)
        doc.data["base"] = str(find_spec(doc.data["base"], path.parent, context=base_source).resolve())
    sweep = _validate(SweepSpec, doc, fallback=source)
    base = _load_spec_doc(Path(sweep.base), sweep.overrides, label=f"{source}: overrides")
    base_data = base.to_dict()
    for key, dim in sweep.space.items():
        for value in dim.candidates():
            try:
                ExperimentSpec.model_validate(_merge(base_data, _nest(tuple(key.split(".")), value)))
            except ValidationError as error:
                found = "; ".join(f"{p.dotted}: {p.message}" for p in _problems(error, ExperimentSpec, base_data))
                where = _source([("space", key)], doc.where, source)
                raise ConfigError(f"{where}: space.{key}: {dim.type} value {value!r} gives an invalid spec: "
                                  f"{found}") from None
    return sweep
