"""The configuration: config.yaml, an overlay on it, validated against the schema that holds every default.

Layering (nanoGPT style): a run's config is ``config.yaml`` (the default experiment, beside the
Snakefile) with the file given to ``--configfile`` merged over it, so an alternative config lists
only what it changes (``config/quick.yaml``, ``config/antolik2016.yaml``). The merge rule:

* mappings merge key by key, recursively;
* lists and scalars replace;
* mappings that name a set of things (:data:`REPLACED`: ``virtual_v1.scans``, ``recordings``) are
  replaced whole: an overlay's ``recordings:`` is the list of recordings, not an addition to it
  (``virtual_v1: {scans: {}}`` means no virtual scans).

The merged config is validated against ``workflow/schemas/config.schema.yaml``: unknown keys,
wrong types and out-of-range values are errors naming the key, and every key the config leaves
out gets the schema's default. The schema is the one source of defaults: the package's
dataclasses (:class:`neuroreg.encoder.train.EncoderConfig`, :class:`neuroreg.cotrain.train.Recipe`,
:class:`neuroreg.robustness.minimal.Settings`) take theirs from :func:`defaults`.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path

import yaml

from .io import InputError

WORKFLOW = Path(__file__).resolve().parents[1]  # workflow/
SCHEMA_PATH = WORKFLOW / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = WORKFLOW.parent / "config.yaml"

#: Mappings that name a set of things: an overlay replaces them instead of merging into them.
REPLACED = (("virtual_v1", "scans"), ("recordings",))


@functools.cache
def schema() -> dict:
    """The config schema (JSON Schema draft 2020-12, YAML), parsed once."""
    if not SCHEMA_PATH.is_file():
        raise InputError(SCHEMA_PATH, None, "config schema missing (neuroreg must run from its repository, "
                         "pip install -e .)")
    return yaml.safe_load(SCHEMA_PATH.read_text())


def merge(base: dict, overlay: dict, _path: tuple = ()) -> dict:
    """``overlay`` merged over ``base`` (a new dict; neither input changes). Rule: module docstring."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        path = _path + (key,)
        if isinstance(value, dict) and isinstance(out.get(key), dict) and path not in REPLACED:
            out[key] = merge(out[key], value, path)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fill_defaults(instance, node: dict, root: dict) -> None:
    """Set the schema's ``default`` of every property missing from ``instance`` (recursively, into
    sections that exist or that a default just created), as Snakemake's ``validate`` does."""
    node = _deref(node, root)
    if not isinstance(instance, dict):
        return
    for key, sub in node.get("properties", {}).items():
        sub = _deref(sub, root)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)


def _deref(node: dict, root: dict) -> dict:
    """``node`` with a local ``$ref`` ("#/$defs/...") resolved; the node's own keys (a default) win."""
    if "$ref" not in node:
        return node
    ref = node["$ref"]
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    target = root
    for part in ref[2:].split("/"):
        target = target[part]
    return {**_deref(target, root), **{k: v for k, v in node.items() if k != "$ref"}}


def validate(cfg: dict, where: str = "config") -> dict:
    """Fill the schema's defaults into ``cfg`` (in place) and validate it; returns ``cfg``.

    Raises :class:`InputError` ``<where>: <key.path>: <problem>`` for the first violation.
    """
    import jsonschema

    root = schema()
    _fill_defaults(cfg, root, root)
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        e = errors[0]
        key = ".".join(map(str, e.absolute_path)) or "(top level)"
        raise InputError(where, key, e.message)
    return cfg


def load(overlays=(), base: str | os.PathLike | None = DEFAULT_CONFIG, overrides: dict | None = None) -> dict:
    """``base`` (config.yaml), each file of ``overlays`` and then ``overrides`` merged in that order, validated."""
    files = ([base] if base is not None else []) + list(overlays)
    cfg: dict = {}
    for f in files:
        cfg = merge(cfg, read_yaml(f))
    if overrides:
        cfg = merge(cfg, overrides)
    return validate(cfg, where=" + ".join(str(f) for f in files) or "config")


def read_yaml(path: str | os.PathLike) -> dict:
    """A YAML mapping from ``path``; errors name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise InputError(path, None, "config file does not exist") from err
    except yaml.YAMLError as err:
        raise InputError(path, None, f"not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, None, f"expected a mapping of config sections, got {type(data).__name__}")
    return data


def defaults(section: str) -> dict:
    """The schema's defaults of one config section, ``{key: default}``, nested defaults filled in (a fresh copy)."""
    root = schema()
    out: dict = {}
    _fill_defaults(out, root["properties"][section], root)
    return out
