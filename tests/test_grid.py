"""neuroreg.grid and neuroreg.seeds: which jobs a config asks for, their params and their seeds."""

from __future__ import annotations

import re

from pathlib import Path

import pytest

from neuroreg import conditions
from neuroreg import config as C
from neuroreg import grid, seeds
from neuroreg.ingest.registry import SOURCES
from neuroreg.files import InputError
from neuroreg.robustness.attacks import ATTACKS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default():
    return C.load()


def quick():
    return C.load([REPO / "config" / "quick.yaml"])


def test_names_agree_with_the_schema():
    s = C.schema()
    pattern = re.compile(s["$defs"]["condition"]["pattern"])
    for name in conditions.CONDITIONS + tuple(conditions.MTL_RESPONSES) + ("cka_neural_model", "logcka_shuffle", "blur1.5",
                                                                "blurbest_mtl_model", "blur2_neural_model"):
        assert pattern.fullmatch(name) and conditions.parse(name).name == name
        assert name.split("_")[0].rstrip("0123456789.") in s["$defs"]["condition"]["description"] or name in conditions.CONDITIONS
    assert tuple(s["properties"]["similarity"]["properties"]["targets"]["items"]["enum"]) == conditions.TARGETS
    assert tuple(s["properties"]["stages"]["items"]["enum"]) == grid.STAGES == tuple(s["properties"]["stages"]["default"])
    source = s["properties"]["recordings"]["additionalProperties"]["properties"]["source"]["enum"]
    assert tuple(source) == tuple(SOURCES)
    attacks = s["properties"]["robustness"]["properties"]["attacks"]["properties"]
    assert {norm: set(v["items"]["enum"]) for norm, v in attacks.items()} == {n: set(a) for n, a in ATTACKS.items()}


def test_default_grid(default):
    assert len(grid.scans(default)) == 8 and grid.encoder_scans(default) == grid.scans(default)
    assert grid.similarity_targets(default) == ["neural_model", "neural_data", "shuffle", "ground_truth"]
    main = grid.figure_runs(default)
    assert len(main) == 25 and main[0] == ("none", "0", "0") and ("neural_model", "20", "4") in main
    sweep = grid.sweep_runs(default)
    assert len(sweep) == 18 and ("neural_model_v1_a1_s1", "32", "2") in sweep and ("none", "0", "1") in sweep
    assert len(grid.cotrain_runs(default)) == 40  # the sweep's 3 alpha-0 runs are main-text none runs
    attacked = grid.adversarial_runs(default)
    assert len(attacked) == 15 and {c for c, _, _ in attacked} == {"none", "shuffle", "neural_model"}
    assert grid.cifar100_runs(default) == []  # data.cifar100 is null


def test_a_sweep_on_the_averaged_target_shares_the_main_runs(default):
    """similarity.alpha_sweep_scan: null sweeps on neural_model, so its runs at cotrain.alpha are the main ones."""
    cfg = C.merge(default, {"similarity": {"alpha_sweep_scan": None},
                            "cotrain": {"alpha_sweep": {"alphas": [0, 5, 20], "seeds": [0, 1]}}})
    assert grid.sweep_target(cfg) == "neural_model"
    sweep = grid.sweep_runs(cfg)
    assert ("neural_model", "20", "1") in sweep and ("neural_model", "5", "0") in sweep
    assert len(grid.cotrain_runs(cfg)) == 25 + 2  # only alpha 5 x 2 seeds is new


def test_quick_grid():
    q = quick()
    assert grid.scans(q) == ["v1_a1_s1", "v1_a2_s1"]
    assert len(grid.cotrain_runs(q)) == 12 and len(grid.adversarial_runs(q)) == 6


def test_what_cannot_be_built_is_left_out_or_refused(default):
    recorded = C.load(overrides={"virtual_v1": {"scans": {}},
                                 "recordings": {"r1": {"source": "antolik2016", "path": "x"}}})
    assert grid.encoder_scans(recorded) == []
    assert "ground_truth" not in grid.similarity_targets(recorded) and "ground_truth" not in grid.conditions(recorded)
    assert grid.target_scans(default, "ground_truth") == grid.virtual_scans(default)
    vgg = C.load(overrides={"similarity": {"targets": ["vgg"]}})
    with pytest.raises(InputError, match="similarity.targets: contains 'vgg' but data.vgg19_weights"):
        grid.similarity_targets(vgg)
    assert "vgg" not in grid.conditions(C.load(overrides={"cotrain": {"conditions": ["none", "vgg"]}}))
    with pytest.raises(InputError, match="no scans"):
        grid.scans(C.load(overrides={"virtual_v1": {"scans": {}}}))
    twice = C.load(overrides={"recordings": {"v1_a1_s1": {"source": "sensorium", "path": "x"}}})
    with pytest.raises(InputError, match=r"used twice: \['v1_a1_s1'\]"):
        grid.scans(twice)


def test_cifar100_runs_take_the_cifar100_section():
    cfg = C.load(overrides={"data": {"cifar100": "somewhere"}, "cifar100": {"seeds": [0, 1]}})
    assert grid.cifar100_runs(cfg) == [("none", "0", "0"), ("none", "0", "1"), ("neural_model", "20", "0"),
                                       ("neural_model", "20", "1")]
    c100 = grid.cifar100_cotrain(cfg)
    assert c100["arch"] == "resnet34" and c100["layers"] == [1, 7, 15, 27, 33] and c100["epochs"] == 40


def test_params_do_not_hold_the_run_choices(default):
    """Adding a seed, a condition, an alpha or a scan leaves every existing job's params as they were."""
    more = C.load(overrides={"cotrain": {"seeds": [0, 1, 2, 3, 4, 5], "conditions": ["none", "neural_model"],
                                         "alpha_sweep": {"alphas": [0, 1]}},
                             "robustness": {"adversarial_conditions": ["none"]},
                             "virtual_v1": {"scans": {"extra": {"animal": 9, "session": 1}}}})
    assert grid.cotrain_params(more["cotrain"]) == grid.cotrain_params(default["cotrain"])
    assert grid.noise_params(more["robustness"], more["cotrain"]) == grid.noise_params(default["robustness"], default["cotrain"])
    assert grid.attack_params(more["robustness"], more["cotrain"]) == grid.attack_params(default["robustness"], default["cotrain"])
    assert grid.virtual_v1_params(more["virtual_v1"]) == grid.virtual_v1_params(default["virtual_v1"])
    assert "seeds" not in grid.cotrain_params(default["cotrain"]) and "epochs" in grid.cotrain_params(default["cotrain"])
    changed = C.load(overrides={"cotrain": {"epochs": 3}, "robustness": {"noise_levels": [0.0]}})
    assert grid.cotrain_params(changed["cotrain"]) != grid.cotrain_params(default["cotrain"])
    assert grid.noise_params(changed["robustness"], changed["cotrain"]) != grid.noise_params(default["robustness"], default["cotrain"])


def test_the_adversarial_job_gets_every_setting_of_its_attacks():
    """Every robustness key the attacks read (minimal.Settings, but the seed the rule passes) reaches the job's
    params: a key left out of ATTACK_KEYS would be silently replaced by its default in the job."""
    from neuroreg.robustness.minimal import Settings

    assert set(Settings.__dataclass_fields__) - {"seed"} <= set(grid.ATTACK_KEYS)
    schema = C.schema()["properties"]["robustness"]["properties"]
    assert set(grid.ATTACK_KEYS) - {"bn"} <= set(schema)


def test_threads_are_not_params(default):
    """How many threads a job gets does not change what it computes: changing them reruns nothing."""
    more = C.load(overrides={"encoder": {"threads": 1}, "cotrain": {"threads": 1, "mem_mb": 999}})
    assert grid.encoder_params(more["encoder"]) == grid.encoder_params(default["encoder"])
    assert grid.cotrain_params(more["cotrain"]) == grid.cotrain_params(default["cotrain"])
    assert "threads" not in grid.encoder_params(default["encoder"]) and "lr" in grid.encoder_params(default["encoder"])


def test_priorities_start_what_gates_the_most_work(default):
    """Encoders gate the neural targets and so half of the trainings; attacked runs go before the rest,
    so the attacks overlap the remaining trainings (the laptop run's hour, README)."""
    p = grid.PRIORITY
    assert p["encoder"] > p["similarity"] > p["adversarial"] > p["attacked_cotrain"] > p["cotrain"] > 0
    attacked = grid.adversarial_runs(default)
    others = [r for r in grid.cotrain_runs(default) if r not in attacked]
    assert attacked and others
    assert {grid.cotrain_priority(default, *r) for r in attacked} == {p["attacked_cotrain"]}
    assert {grid.cotrain_priority(default, *r) for r in others} == {p["cotrain"]}


def test_paths_and_alpha_labels():
    assert conditions.alpha_label(20) == "20" and conditions.alpha_label(0.5) == "0.5" and conditions.alpha_label(0) == "0"
    assert grid.cotrain_path("none", "0", "1", "model.pt") == "<results>/cotrain/none/alpha0/seed1/model.pt"
    assert grid.robustness_path("shuffle", "20", "0", "noise.csv") == "<results>/robustness/shuffle/alpha20/seed0/noise.csv"
    assert grid.cifar100_path("cotrain", "none", "0", "0", "x") == "<results>/cifar100/cotrain/none/alpha0/seed0/x"


def test_seeds_are_the_pipelines():
    """Pinned values: the same derivations the rules used before (runs stay reproducible across versions)."""
    assert seeds.encoder_seed(2019, "v1_a1_s1") == 590137326
    assert seeds.cotrain_seed(2019, 0) == 2074074628 and seeds.cotrain_seed(2019, "1") == 179940959
    assert seeds.stimulus_seed(2019) == seeds.scan_seed(2019) == seeds.attack_seed(2019) == 2019
    assert seeds.shuffle_seed(2019) == 2019 and seeds.shuffle_seed(2019, 7) == 7
    assert all(0 <= seeds.encoder_seed(m, s) < 2**31 for m in (0, 2**31 - 1) for s in ("a", "b"))


def test_condition_seeds_replace_the_seeds_of_single_conditions():
    """cotrain.condition_seeds: the laptop run trains (and attacks) none, shuffle and neural_model with 5 seeds and the
    other conditions with cotrain.seeds' one; the methods overlay merges its own (its attacked methods and controls
    get 5 too, the rest 3); a condition that is not in cotrain.conditions is an error naming the key."""
    laptop = C.load([REPO / "config" / "laptop.yaml"])
    runs = grid.figure_runs(laptop)
    per = {c: sorted(int(s) for cc, _, s in runs if cc == c) for c in laptop["cotrain"]["conditions"]}
    assert per == {"none": [0, 1, 2, 3, 4], "neural_model": [0, 1, 2, 3, 4], "shuffle": [0, 1, 2, 3, 4],
                   "neural_data": [0], "ground_truth": [0]}
    assert len(grid.adversarial_runs(laptop)) == 15
    methods = C.load([REPO / "config" / "laptop.yaml", REPO / "config" / "laptop-methods.yaml"])
    runs = grid.figure_runs(methods)
    per = {c: sorted(int(s) for cc, _, s in runs if cc == c) for c in methods["cotrain"]["conditions"]}
    attacked = methods["robustness"]["adversarial_conditions"]
    assert all(per[c] == [0, 1, 2, 3, 4] for c in attacked) and per["mtl_data"] == per["blur1.5"] == [0, 1, 2]
    assert "mtl_shuffle" in attacked  # the controls get the seeds and attacks of what they control
    assert len(grid.adversarial_runs(methods)) == 5 * len(attacked)
    assert "condition_seeds" not in grid.cotrain_params(laptop["cotrain"])
    with pytest.raises(InputError, match="cotrain.condition_seeds"):
        grid.check(C.load(overrides={"cotrain": {"condition_seeds": {"mtl_model": [0]}}}))
