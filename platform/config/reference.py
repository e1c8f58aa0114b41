"""The markdown configuration reference, generated from the schema (``s2hand config reference``).

docs/config_reference.md is this module's output; a test regenerates it and compares, so the document cannot
drift from the code. Every field must carry a description: rendering fails loudly on one that does not.
"""
from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import Any, Iterator, Literal, Union

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from s2hand.config.spec import (
    FLAT_WEIGHT_FACTORS,
    LOSS_TERMS,
    STAGE_TERMS,
    STAGES,
    ExperimentSpec,
    LossSpec,
    SearchDim,
    SweepSpec,
)

__all__ = ["render_reference"]

_INTRO = """\
# Configuration reference

Generated from `platform/config/spec.py` by `s2hand config reference --out docs/config_reference.md`;
do not edit by hand (a test compares this file with the schema).

An **experiment spec** is a YAML file of the sections below; every key is optional and the defaults are the
paper's settings on the embedded synthetic data, so an empty file is a runnable spec.

- `s2hand config show SPEC [KEY=VALUE ...]` prints the resolved spec; `s2hand config validate SPEC ...` checks files.
- `SPEC` is a path or a name under the jobs folder (`s2hand/finetune` = `jobs/s2hand/finetune.yaml`; the folder
  is `$S2HAND_JOBS_DIR` when set).
- `extends: ../base.yaml` (a path relative to the file, or a list of them) deep-merges the parent first; the
  child wins, lists are replaced whole, cycles are refused.
- Overrides are dotted keys with YAML values: `train.lr=1e-4 data.root=/data/FreiHAND loss.terms.quat=false
  train.betas=[0.9,0.99] train.init_from=null`. Scalars follow YAML 1.2: `1e-3` is a float, only `true`/`false`
  are booleans.
- Types are strict: `1` is not a boolean and `true` not a number. Unknown keys are refused, naming the file and line.
- Relative paths are taken from the working directory at load time and stored absolute.
"""


# --------------------------------------------------------------------------------------------- type labels


def _number(value: Any) -> str:
    return repr(value)


def _bounds(metadata: list[Any]) -> str:
    low = next((("[", m.ge) for m in metadata if isinstance(m, Ge)), None) or next(
        (("(", m.gt) for m in metadata if isinstance(m, Gt)), None)
    high = next(((m.le, "]") for m in metadata if isinstance(m, Le)), None) or next(
        ((m.lt, ")") for m in metadata if isinstance(m, Lt)), None)
    if low and high:
        return f" in {low[0]}{_number(low[1])}, {_number(high[0])}{high[1]}"
    if low:
        return f" {'≥' if low[0] == '[' else '>'} {_number(low[1])}"
    if high:
        return f" {'≤' if high[1] == ']' else '<'} {_number(high[0])}"
    pattern = next((getattr(m, "pattern", None) for m in metadata if getattr(m, "pattern", None)), None)
    return f" matching `{pattern}`" if pattern else ""


def type_label(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A short human type: ``float ≥ 0``, ``int in [1, 45]``, ``path or null``, ``one of `a`, `b```."""
    metadata = list(metadata or [])
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        nested = [m for e in extra for m in (e.metadata if isinstance(e, FieldInfo) else [e])]
        return type_label(inner, metadata + nested)
    if origin in (Union, types.UnionType):
        members = [type_label(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        nullable = type(None) in typing.get_args(annotation)
        return " or ".join(members + (["null"] if nullable else []))
    if origin is Literal:
        values = [f"`{value}`" for value in typing.get_args(annotation)]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {type_label(args[0])}"
        return "[" + ", ".join(type_label(arg) for arg in args) + "]"
    if origin is list:
        (item,) = typing.get_args(annotation)
        return "list" if item is Any else f"list of {type_label(item)}"
    if origin is dict:
        return "mapping of dotted key to dimension"
    names = {bool: "bool", int: "int", float: "float", str: "str", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation))) + _bounds(metadata)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.get_default(call_default_factory=True)
    text = yaml.safe_dump(to_jsonable_python(value), default_flow_style=True, width=10**6).strip()
    return f"`{text.removesuffix('...').strip()}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------------------------- tables


def _section_model(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _sections(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """(dotted prefix, model) for the model and every nested section, depth first."""
    yield prefix, model
    for name, info in model.model_fields.items():
        inner = _section_model(info)
        if inner is not None:
            yield from _sections(inner, f"{prefix}{name}.")


def _table(model: type[BaseModel], prefix: str) -> list[str]:
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if not info.description:
            raise ValueError(f"{model.__name__}.{name} has no description: every setting needs one")
        if _section_model(info) is not None:
            continue
        label = type_label(info.annotation, info.metadata)
        rows.append(f"| `{prefix}{name}` | {_cell(label)} | {_cell(_default(info))} | {_cell(info.description)} |")
    return rows


def _model_tables(model: type[BaseModel], level: str, root_title: str, prefix: str = "") -> list[str]:
    lines: list[str] = []
    for section, inner in _sections(model, prefix):
        title = f"`{section.rstrip('.')}`" if section else root_title
        doc = (inner.__doc__ or "").strip().splitlines()[0] if inner.__doc__ and section else ""
        lines += ["", f"{level} {title}", ""] + ([doc, ""] if doc else [])
        lines += _table(inner, section)
    return lines


def _loss_weights_table() -> list[str]:
    loss = LossSpec()
    effective = loss.flat_weights()
    rows = ["| Term | Switch | Effective weight | Default | Stages |", "|---|---|---|---|---|"]
    for term in LOSS_TERMS:
        product = " · ".join(FLAT_WEIGHT_FACTORS[term])
        weight = math.prod(getattr(loss, factor) for factor in FLAT_WEIGHT_FACTORS[term])
        default = f"{weight:g}" + ("" if effective[term] else " (switched off)")
        stages = ", ".join(stage for stage in STAGES if term in STAGE_TERMS[stage])
        rows.append(f"| {term} | `loss.terms.{term}` | {product} | {default} | {stages} |")
    return rows


def render_reference() -> str:
    """The whole markdown document."""
    lines = [_INTRO.rstrip(), "", "## Experiment spec"]
    lines += _model_tables(ExperimentSpec, "###", "Top level")
    lines += [
        "",
        "### Effective loss weights",
        "",
        "`LossSpec.flat_weights()` multiplies the nested weights along each term's path (Eq. 1, 2, 5, 8, 9, 23);",
        "`ExperimentSpec.loss_weights()` keeps the terms its stage uses, switched on and non-zero (E_2d and E_cons",
        "need `model.use_2d_branch`, the photometric terms `model.use_texture_head`).",
        "",
    ]
    lines += _loss_weights_table()
    lines += [
        "",
        "## Sweep spec",
        "",
        "A sweep file names a `base` experiment spec; `space` maps dotted experiment keys to search dimensions.",
        "Every key must be a setting of the experiment spec, every value or bound must validate for it, and",
        "uniform / loguniform / randint dimensions need a numeric setting.",
    ]
    lines += _model_tables(SweepSpec, "###", "Top level")
    lines += ["", "### `space.<key>`", ""] + _table(SearchDim, "space.<key>.")
    return "\n".join(lines) + "\n"
