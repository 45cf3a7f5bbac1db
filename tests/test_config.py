"""neuroreg.config: the layering of config.yaml and an overlay, the schema as the one source of defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from neuroreg import config as C
from neuroreg.cotrain.train import Recipe
from neuroreg.encoder.train import EncoderConfig
from neuroreg.grid import EXECUTION_KEYS
from neuroreg.files import InputError
from neuroreg.robustness.minimal import Settings

REPO = Path(__file__).resolve().parents[1]
SHIPPED_OVERLAYS = sorted((REPO / "config").glob("*.yaml"))
# Dataclass fields that belong to one run or job, not to the config section (set by the rule from its wildcards/seeds).
# Recipe's method fields come from the run's condition (conditions.Condition.recipe) or, mtl_*, from the cotrain.mtl section.
PER_RUN = {Recipe: {"alpha", "seed", "regularizer", "loss", "blur_sigma"}, Settings: {"seed"}, EncoderConfig: set()}
SECTION = {Recipe: "cotrain", Settings: "robustness", EncoderConfig: "encoder"}


def _field_default(f):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


@pytest.mark.parametrize("cls", [EncoderConfig, Recipe, Settings], ids=lambda c: c.__name__)
def test_dataclass_defaults_are_the_schemas(cls):
    schema = C.defaults(SECTION[cls])
    for f in dataclasses.fields(cls):
        if f.name in PER_RUN[cls]:
            continue
        if cls is Recipe and f.name.startswith("mtl_"):
            assert _field_default(f) == schema["mtl"][f.name[4:]], f.name
            continue
        assert f.name in schema, f"{cls.__name__}.{f.name} has no default in the schema's {SECTION[cls]} section"
        value = _field_default(f)
        expected = tuple(schema[f.name]) if isinstance(value, tuple) else schema[f.name]
        assert value == expected, f"{cls.__name__}.{f.name}: code default {value!r}, schema default {expected!r}"


def test_every_encoder_key_of_the_schema_is_a_field():
    """encoder.tolerance used to be a field the config could not set."""
    props = set(C.schema()["properties"]["encoder"]["properties"])
    assert props - set(EXECUTION_KEYS) == {f.name for f in dataclasses.fields(EncoderConfig)}


def test_config_yaml_spells_out_the_schema_defaults():
    """config.yaml is the default experiment: each key it sets that has a schema default has that value,
    and every defaulted key of the stages' sections is there (so reading config.yaml shows everything)."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for section, node in C.schema()["properties"].items():
        if "default" in node and not isinstance(node["default"], dict):
            assert cfg.get(section) == node["default"], section
        for key, default in C.defaults(section).items() if "properties" in node else []:
            assert key in cfg.get(section, {}), f"config.yaml: {section}.{key} missing (schema default {default!r})"
            assert cfg[section][key] == default, f"config.yaml: {section}.{key} = {cfg[section][key]!r}, schema {default!r}"


def test_merge_rule():
    base = {"a": {"x": 1, "y": [1, 2]}, "virtual_v1": {"n_neurons": 4, "scans": {"s1": {}, "s2": {}}},
            "recordings": {"r1": {"source": "sensorium"}}}
    over = {"a": {"y": [3]}, "virtual_v1": {"scans": {"s3": {}}}, "recordings": {}}
    out = C.merge(base, over)
    assert out["a"] == {"x": 1, "y": [3]}  # mappings merge, lists replace
    assert out["virtual_v1"] == {"n_neurons": 4, "scans": {"s3": {}}}  # a named set is replaced whole
    assert out["recordings"] == {}
    assert base["virtual_v1"]["scans"] == {"s1": {}, "s2": {}}  # inputs untouched


@pytest.mark.parametrize("overlay", SHIPPED_OVERLAYS, ids=lambda p: p.name)
def test_shipped_overlays_list_only_what_they_change(overlay):
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    over = yaml.safe_load(overlay.read_text())

    def same(b, o, path):
        for k, v in o.items():
            if isinstance(v, dict) and isinstance(b.get(k), dict) and path + (k,) not in C.REPLACED:
                same(b[k], v, path + (k,))
            else:
                assert b.get(k, object()) != v, f"{overlay.name}: {'.'.join(path + (k,))} repeats config.yaml's value"

    same(base, over, ())
    C.load([overlay])  # and it validates


def test_an_overlay_gets_every_default_and_keeps_the_base():
    cfg = C.load(overrides={"encoder": {"max_epochs": 3}})
    assert cfg["encoder"]["max_epochs"] == 3 and cfg["encoder"]["hidden_channels"] == 16
    assert cfg["encoder"]["tolerance"] == 1e-5


def test_defaults_fill_sections_an_overlay_leaves_out(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    del cfg["encoder"], cfg["figures"], cfg["robustness"]["pgd"]
    C.validate(cfg)
    assert cfg["encoder"] == C.defaults("encoder") and cfg["figures"] == {"example_image": 0, "bootstrap": 2000}
    assert cfg["robustness"]["pgd"] == {"rel_stepsize": [0.1], "steps": 100, "search_steps": 8, "loss": "margin",
                                        "lower": 0.5, "precision": "fp32"}


def test_unknown_key_and_bad_value_are_named(tmp_path):
    (tmp_path / "typo.yaml").write_text("encoder: {hidden_chanels: 8}\n")
    with pytest.raises(InputError, match=r"typo.yaml: encoder.hidden_chanels: unknown key; did you mean 'hidden_channels'"):
        C.load([tmp_path / "typo.yaml"])
    with pytest.raises(InputError, match=r"stimuli.repeats: 1 is less than the minimum of 2"):
        C.load(overrides={"stimuli": {"repeats": 1}})
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(InputError, match="list.yaml: expected a mapping"):
        C.load([tmp_path / "list.yaml"])
