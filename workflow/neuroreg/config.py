"""The configuration: config.yaml, an overlay on it, validated against the schema that holds every default.

Layering (nanoGPT style): a run's config is ``config.yaml`` (the default experiment, beside the
Snakefile) with the file given to ``--configfile`` merged over it, so an alternative config lists
only what it changes (``config/quick.yaml``, ``config/antolik2016.yaml``). The merge rule:

* mappings merge key by key, recursively;
* lists and scalars replace;
* mappings that name a set of things (:data:`REPLACED`: ``virtual_v1.scans``, ``recordings``) are
  replaced whole: an overlay's ``recordings:`` is the list of recordings, not an addition to it
  (``virtual_v1: {scans: {}}`` means no virtual scans).

The merged config is validated against ``workflow/neuroreg/config.schema.yaml``: unknown keys,
wrong types and out-of-range values are errors naming the key, and every key the config leaves
out gets the schema's default. The schema is the one source of defaults: the package's
dataclasses (:class:`neuroreg.encoder.train.EncoderConfig`, :class:`neuroreg.cotrain.train.Recipe`,
:class:`neuroreg.robustness.minimal.Settings`) take theirs from :func:`defaults`.

:class:`Layers` keeps the layers apart (config.yaml, each ``--configfile``, ``--config``), so an error
names the file a value came from (:meth:`Layers.origin`), and it gives the run its name
(:func:`run_name`): key ``run``, the folder ``results/<run>/`` every output, log and benchmark of
the run goes to, so runs of different configs never overwrite each other.
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import re
from pathlib import Path

import yaml

from .files import InputError

PACKAGE = Path(__file__).resolve().parent  # workflow/neuroreg/ in the repository, site-packages/neuroreg/ installed
SCHEMA_PATH = PACKAGE / "config.schema.yaml"  # package data: an installed neuroreg (pip install .) carries it
REPOSITORY = PACKAGE.parents[1]  # the repository root, when the package runs from its repository


def _default_config() -> Path:
    """The default experiment, ``config.yaml`` at the repository root: the one beside the package when it runs from
    its repository (editable install, PYTHONPATH=workflow), else the working directory's (an installed package used
    from a clone's root, as ``snakemake`` is)."""
    return REPOSITORY / "config.yaml" if (REPOSITORY / "Snakefile").is_file() else Path("config.yaml")


DEFAULT_CONFIG = _default_config()

#: Mappings that name a set of things: an overlay replaces them instead of merging into them.
REPLACED = (("virtual_v1", "scans"), ("recordings",))
#: The origin of a key no layer sets.
SCHEMA_DEFAULT = "the schema's default (workflow/neuroreg/config.schema.yaml)"
#: Suffixes of a config file; anything else after ``--configfile`` is taken for a misplaced target.
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
#: A run name: one path component (results/<run>/).
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@functools.cache
def schema() -> dict:
    """The config schema (JSON Schema draft 2020-12, YAML), parsed once."""
    if not SCHEMA_PATH.is_file():
        raise InputError(SCHEMA_PATH, None, "config schema missing: this neuroreg was installed without its package "
                         "data (pyproject.toml, tool.setuptools.package-data); reinstall it")
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


def validate(cfg: dict, where: str = "config", origin=None) -> dict:
    """Fill the schema's defaults into ``cfg`` (in place) and validate it; returns ``cfg``.

    Raises :class:`InputError` ``<where>: <key.path>: <problem>`` for the first violation; with
    ``origin`` (a function of the key path tuple, :meth:`Layers.origin`) ``<where>`` is the file
    that set the offending key. An unknown key gets a "did you mean" and no schema dump.
    """
    import jsonschema

    root = schema()
    _fill_defaults(cfg, root, root)
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return cfg
    e = errors[0]
    path = tuple(map(str, e.absolute_path))
    problem = e.message
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        known = list(e.schema.get("properties", {}))
        unknown = sorted(k for k in e.instance if k not in known)
        if unknown:
            path += (unknown[0],)
            close = difflib.get_close_matches(unknown[0], known, n=1)
            problem = ("unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
                       + f" (the keys of {'.'.join(path[:-1]) or 'the config'} and their defaults: "
                       "workflow/neuroreg/config.schema.yaml)")
    key = ".".join(path) or "(top level)"
    raise InputError(origin(path) if origin else where, key, problem)


def load(overlays=(), base: str | os.PathLike | None = DEFAULT_CONFIG, overrides: dict | None = None) -> dict:
    """``base`` (config.yaml), each file of ``overlays`` and then ``overrides`` merged in that order,
    named (:func:`run_name`) and validated; errors name the file a value came from."""
    return Layers.from_files(overlays, base, overrides).load()


def misplaced_target(value: str | os.PathLike) -> str | None:
    """Why a ``--configfile`` value looks like a target given after ``--configfile`` (which takes
    every following word), or None when it looks like a config file: a path under ``results/``, or a
    name without a config suffix (.yaml, .yml, .json)."""
    path = Path(value)
    try:
        rel = Path(os.path.relpath(path.absolute()))
    except ValueError:  # another drive
        rel = path
    if rel.parts[:1] == ("results",):
        return f"{value} is a results path"
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        return f"{value} is not a config file (.yaml, .yml or .json)"
    return None


class Layers:
    """The layers of one run's config, in order: ``(name, mapping)`` pairs, later ones merged over
    earlier ones (:func:`merge`). ``name`` is what errors call the layer: a file path, or ``--config``."""

    def __init__(self, layers):
        self.layers = [(str(name), dict(data)) for name, data in layers]

    @classmethod
    def from_files(cls, overlays=(), base: str | os.PathLike | None = DEFAULT_CONFIG,
                   overrides: dict | None = None) -> "Layers":
        """config.yaml (``base``), the overlay files, then ``overrides`` (Snakemake's ``--config``).

        An overlay path that looks like a target given after ``--configfile`` is an error that says so."""
        layers = [] if base is None else [(_shown(base, base_name=True), read_yaml(base))]
        for f in overlays:
            why = misplaced_target(f)
            if why:
                raise InputError(f, None, f"{why}: was it meant as a target? --configfile takes every word after "
                                 "it, so put targets before it: snakemake <targets> --configfile <config.yaml>")
            layers.append((_shown(f), read_yaml(f)))
        if overrides:
            layers.append(("--config", dict(overrides)))
        return cls(layers)

    @property
    def names(self) -> str:
        return " + ".join(name for name, _ in self.layers) or "config"

    def merged(self) -> dict:
        cfg: dict = {}
        for _, data in self.layers:
            cfg = merge(cfg, data)
        return cfg

    def origin(self, key) -> str:
        """The name of the last layer that sets ``key`` (dotted string or tuple), or :data:`SCHEMA_DEFAULT`.

        A key below one a layer replaces whole (:data:`REPLACED`) or sets to a non-mapping comes
        from that layer."""
        path = tuple(key.split(".")) if isinstance(key, str) else tuple(key)
        for name, data in reversed(self.layers):
            node = data
            for i, part in enumerate(path):
                if not isinstance(node, dict) or part not in node:
                    break
                node = node[part]
                if path[: i + 1] in REPLACED or not isinstance(node, dict):
                    return name
            else:
                return name
        return SCHEMA_DEFAULT

    def load(self, check=None) -> dict:
        """The merged config with its run name, validated (errors name the layer of the key).

        ``check(cfg)``: more checks of the validated config (:func:`neuroreg.grid.check`); an
        :class:`InputError` it raises about ``config`` is re-raised naming the layer of its key."""
        cfg = self.merged()
        cfg["run"] = run_name(self)
        cfg = validate(cfg, where=self.names, origin=self.origin)
        if check is not None:
            try:
                check(cfg)
            except InputError as err:
                if err.path not in (None, "config") or not err.key:
                    raise
                first = re.split(r"[ /,]+", err.key.strip())[0]
                raise InputError(self.origin(first), err.key, err.problem) from err
        return cfg


def run_name(layers: Layers) -> str:
    """The run's name, its results folder ``results/<run>/``: key ``run`` of the last overlay that sets
    it; else the file name of the last overlay (``--configfile my/other.yaml`` -> ``other``), so a
    new config never writes into another's folder; else config.yaml's (``default``).

    Raises :class:`InputError` when the name is not one path component (letters, digits, ``_.-``)."""
    overlays = layers.layers[1:]
    name = next((data["run"] for _, data in reversed(overlays) if "run" in data), None)
    source = next((n for n, data in reversed(overlays) if "run" in data), None)
    if name is None:
        files = [n for n, _ in overlays if n != "--config"]
        if files:
            name, source = Path(files[-1]).stem, files[-1]
        elif layers.layers and "run" in layers.layers[0][1]:
            name, source = layers.layers[0][1]["run"], layers.layers[0][0]
        else:
            name, source = defaults_root()["run"], SCHEMA_DEFAULT
    if not isinstance(name, str) or not RUN_NAME.match(name):
        raise InputError(source, "run", f"{name!r}: a run name is one folder name (letters, digits, _ . -), "
                         "results go to results/<run>/")
    return name


def defaults_root() -> dict:
    """The schema's top-level defaults (``stages``, ``run``, ...)."""
    return {k: copy.deepcopy(v["default"]) for k, v in schema()["properties"].items() if "default" in v}


def _shown(path, base_name: bool = False) -> str:
    """A config path as errors show it: relative to the working directory when below it."""
    p = Path(path)
    if base_name and p.resolve() == DEFAULT_CONFIG.resolve():
        return "config.yaml"
    try:
        rel = os.path.relpath(p.absolute())
    except ValueError:
        return str(p)
    return rel if not rel.startswith("..") else str(p)


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
