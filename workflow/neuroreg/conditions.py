"""Co-training conditions and their runs: the one home of what a condition name means and where a run lives.

A **condition** is a name in ``cotrain.conditions`` (:func:`parse` gives its :class:`Condition`):

* ``none``: cross-entropy only;
* a similarity target (``neural_model``, ``neural_data``, ``shuffle``, ``ground_truth``, ``vgg``, ``pixel``,
  ``random_network``, ``neural_model_{scan}``): Eq. 7-8 towards ``results/<run>/similarity/{target}.h5``;
* ``cka_{target}`` / ``logcka_{target}``: the same target with the loss 1 - CKA or log(1 - CKA);
* ``mtl_model``, ``mtl_shuffle``, ``mtl_ground_truth``, ``mtl_data``: multi-task co-training (a readout predicts a
  response set with the Poisson loss);
* ``blur{sigma}`` (e.g. ``blur1.5``): the low-pass control, trained like none; ``blur{sigma}_{condition}`` and
  ``blurbest_{condition}``: that condition on top of the blur front end (best: the sigma rule blur_selection chose);
  ``blurbest_none``: the low-pass control at the chosen sigma, its own runs (the seeds and attacks of the condition
  it controls, where the sweep has fewer).

A :class:`Condition` knows its family (the figures' grouping), its alpha under a config, the Recipe fields it sets,
the files its training reads, and what ``metrics.json`` records of it. A **run** is a :class:`Run` ``(condition,
alpha, seed)`` of strings as they appear in paths, ``<results>/<stage>/{condition}/alpha{alpha}/seed{seed}/<file>``
(CIFAR-100: under ``<results>/cifar100/``): :meth:`Run.path` writes such a path; nothing reads a run back out of
one. A run records what it is: its ``metrics.json`` (stage 5) holds ``condition``, ``alpha`` and ``seed``
(:meth:`Run.recorded`), and every per-run table of stage 6 carries them as its first columns (:meth:`Run.record`;
``checks.json``: its ``run`` entry), so stage 7 attributes a result by what the run wrote (:meth:`Run.of_table`).

Adding a condition: its grammar in :func:`parse` (and, for a new kind, its family, recipe and inputs in
:class:`Condition`), a colour and label in ``figures/style.py`` where its family's are not enough, and its line in
``cotrain.conditions`` (``tests/test_grid.py`` shows one added this way).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .files import InputError

#: Similarity targets built from the scans (Eq. 2, 6 and the controls), then the VGG19 one.
SCAN_TARGETS = ("neural_model", "neural_data", "shuffle", "ground_truth")
#: Targets from the stimuli alone, no brain data (neuroreg.similarity.content): the controls of "is the gain neural?".
CONTENT_TARGETS = ("pixel", "random_network")
TARGETS = SCAN_TARGETS + ("vgg",) + CONTENT_TARGETS
#: Co-training conditions: no similarity loss, or one of the targets.
CONDITIONS = ("none",) + TARGETS
#: Multi-task conditions (README, "Other ways to learn from brains"): the response set each one predicts.
MTL_RESPONSES = {"mtl_model": "model", "mtl_shuffle": "shuffle", "mtl_ground_truth": "ground_truth", "mtl_data": "data"}
#: The low-pass control at the sigma blur_selection chooses, as its own condition (trained like none on that blur).
BEST_BLUR = "blurbest_none"
#: "Is the gain neural?": a condition that carries brain data -> the controls without it, run beside it
#: (neuroreg.figures.controls; "blur": ``blurbest_none`` where the config trains it, else the blur{sigma} rule
#: blur_selection chose).
CONTROLS = {"neural_model": ("shuffle", "pixel", "random_network", "blur"),
            "ground_truth": ("shuffle", "pixel", "random_network", "blur"),
            "mtl_model": ("mtl_shuffle",),
            "blurbest_neural_model": (BEST_BLUR,)}  # does the neural target add to the chosen blur?
#: Loss forms of a similarity condition, by name prefix: Eq. 8 (none), 1 - linear CKA, log(1 - CKA).
SIMILARITY_LOSSES = {"cka_": "cka", "logcka_": "logcka"}
#: The run paths' root (the Snakemake path variable of results/<run>/, neuroreg.grid.pathvars).
RESULTS = "<results>"

_BLUR = re.compile(r"blur(?P<sigma>[0-9]+(?:\.[0-9]+)?|best)(?:_(?P<rest>.+))?")
_SINGLE_SCAN = re.compile(r"neural_model_[A-Za-z0-9_\-]+")
#: The columns a per-run table of stage 6 starts with (:meth:`Run.record`), and the keys of a run's metrics.json.
RUN_COLUMNS = ("condition", "alpha", "seed")


@dataclass(frozen=True)
class Condition:
    """What a condition name means (:func:`parse`).

    kind: ``none`` (cross-entropy only), ``similarity`` (Eq. 7 with ``loss`` arctanh (Eq. 8), cka or logcka towards
    the similarity target ``target``) or ``mtl`` (a readout predicts the response set ``responses`` with the Poisson
    loss); blur: the sigma (pixels) of the fixed Gaussian low-pass front end as in the name, ``best`` (chosen on
    held-out images, rule blur_selection) or None.
    """

    name: str
    kind: str
    target: str | None = None
    loss: str | None = None
    responses: str | None = None
    blur: str | None = None

    @property
    def base(self) -> str:
        """The condition without its blur front end (``blur1.5_neural_model`` -> ``neural_model``)."""
        if self.blur is None:
            return self.name
        rest = self.name.split("_", 1)
        return rest[1] if len(rest) == 2 else "none"

    @property
    def family(self) -> str:
        """baseline, similarity, cka, multi-task, low-pass, or low-pass + the family of what sits on the blur."""
        if self.blur is not None:
            return "low-pass" if self.base == "none" else f"low-pass + {parse(self.base).family}"
        if self.kind == "none":
            return "baseline"
        if self.kind == "mtl":
            return "multi-task"
        return "cka" if self.loss in ("cka", "logcka") else "similarity"

    def alpha(self, cfg: dict) -> float:
        """The alpha (Eq. 7 weight) of its main-text runs: 0 without a regularizer, cotrain.mtl.alpha for multi-task,
        cotrain.cka.alpha for a CKA loss, cotrain.alpha for Eq. 8."""
        if self.kind == "none":
            return 0
        if self.kind == "mtl":
            return cfg["cotrain"]["mtl"]["alpha"]
        if self.loss in ("cka", "logcka"):
            return cfg["cotrain"]["cka"]["alpha"]
        return cfg["cotrain"]["alpha"]

    def recipe(self, best_sigma: float | None = None) -> dict:
        """The Recipe fields it sets: the regularizer, the loss form and the blur sigma (``best``: ``best_sigma``,
        the one tables/blur_selection.csv chose, :func:`neuroreg.cotrain.blur.selected_sigma`)."""
        out = {"regularizer": "mtl" if self.kind == "mtl" else "similarity",
               "loss": self.loss if self.kind == "similarity" else "arctanh"}
        if self.blur == "best":
            if best_sigma is None:
                raise ValueError(f"{self.name}: the best blur's sigma (tables/blur_selection.csv) is needed")
            out["blur_sigma"] = float(best_sigma)
        elif self.blur is not None:
            out["blur_sigma"] = float(self.blur)
        return out

    def inputs(self, alpha, root: str = RESULTS) -> dict:
        """The files a run of it at ``alpha`` trains on: CIFAR and the stimuli; its similarity target, or its
        response set (multi-task), or nothing (none, blur{sigma}); for blurbest_ the blur selection table."""
        inputs = {"cifar": f"{root}/data/cifar10.h5", "stimuli": f"{root}/data/stimuli.h5"}
        if self.kind == "none":
            if float(alpha) != 0:
                raise ValueError(f"cotrain: condition {self.name!r} needs alpha 0, got alpha {alpha}")
        elif self.kind == "mtl":
            inputs["responses"] = f"{root}/responses/{self.responses}.h5"
        else:
            inputs["similarity"] = f"{root}/similarity/{self.target}.h5"
        if self.blur == "best":
            inputs["blur_selection"] = f"{root}/tables/blur_selection.csv"
        return inputs

    def method(self, blur_sigma: float | None) -> dict:
        """What ``metrics.json`` records of it (``method``): kind, loss, similarity target, responses, blur sigma."""
        return {"kind": self.kind, "loss": self.loss, "similarity_target": self.target, "responses": self.responses,
                "blur_sigma": blur_sigma}


def parse(name: str, key: str = "cotrain.conditions") -> Condition:
    """A condition name -> :class:`Condition` (the grammar: module doc); an unknown name is an InputError naming
    ``key``."""
    m = _BLUR.fullmatch(name)
    blur, rest = None, name
    if m:
        blur, rest = m["sigma"], m["rest"] or "none"
        if blur != "best":
            if float(blur) <= 0:
                raise InputError("config", key, f"{name!r}: the blur sigma must be > 0 (none is the unblurred network)")
            if name.split("_", 1)[0] != f"blur{float(blur):g}":
                raise InputError("config", key, f"{name!r}: write the sigma as {float(blur):g} (blur{float(blur):g})")
        elif m["rest"] is None:
            raise InputError("config", key, "'blurbest' alone: write blurbest_none (the low-pass control at the "
                             "sigma blur_selection chooses, trained with its own seeds) or blurbest_{condition}")
        if _BLUR.fullmatch(rest):
            raise InputError("config", key, f"{name!r}: one blur front end per condition")
    if rest == "none":
        return Condition(name, "none", blur=blur)
    if rest in MTL_RESPONSES:
        return Condition(name, "mtl", loss="poisson", responses=MTL_RESPONSES[rest], blur=blur)
    loss, target = "arctanh", rest
    for prefix, form in SIMILARITY_LOSSES.items():
        if rest.startswith(prefix):
            loss, target = form, rest[len(prefix):]
    if target in TARGETS or _SINGLE_SCAN.fullmatch(target):
        return Condition(name, "similarity", target=target, loss=loss, blur=blur)
    raise InputError("config", key, f"unknown condition {name!r}: use none, a similarity target "
                     f"({', '.join(TARGETS)}), cka_/logcka_ + a target, {', '.join(MTL_RESPONSES)}, "
                     "blur{sigma} or blur{sigma}_ / blurbest_ + one of these")


def alpha_label(alpha) -> str:
    """Alpha as it appears in paths: 20 -> '20', 0.5 -> '0.5'."""
    return f"{float(alpha):g}"


class Run(NamedTuple):
    """One co-training run: its condition, alpha and seed as they appear in paths (so it unpacks as the rules'
    ``(condition, alpha, seed)`` triple)."""

    condition: str
    alpha: str
    seed: str

    @classmethod
    def of(cls, condition: str, alpha, seed) -> "Run":
        """From values: alpha as :func:`alpha_label` writes it, the seed as an integer string."""
        return cls(str(condition), alpha_label(alpha), str(int(seed)))

    def path(self, stage: str, name: str, *, root: str = RESULTS, cifar100: bool = False) -> str:
        """``{root}/[cifar100/]{stage}/{condition}/alpha{alpha}/seed{seed}/{name}``."""
        head = f"{root}/cifar100/{stage}" if cifar100 else f"{root}/{stage}"
        return f"{head}/{self.condition}/alpha{self.alpha}/seed{self.seed}/{name}"

    @classmethod
    def recorded(cls, metrics_path, expected: "Run | None" = None) -> "Run":
        """The run a co-trained model's ``metrics.json`` says it is (its ``condition``, ``alpha``, ``seed``).
        ``expected`` (the job's own run, from its wildcards): a different record is an InputError naming the file (a
        model copied under another run's path)."""
        try:
            m = json.loads(Path(metrics_path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(metrics_path, None, f"cannot be read as JSON: {err}") from err
        missing = [k for k in RUN_COLUMNS if k not in m]
        if missing:
            raise InputError(metrics_path, missing[0], "missing: a co-trained model's metrics.json records its "
                             "condition, alpha and seed (rerun its training)")
        run = cls.of(m["condition"], m["alpha"], m["seed"])
        if expected is not None and run != cls.of(*expected):
            raise InputError(metrics_path, "condition", f"records the run {run.describe()}, but the job is for "
                             f"{cls.of(*expected).describe()}: the model sits under another run's path")
        return run

    def record(self, df):
        """The pandas table ``df`` with this run's ``condition``, ``alpha`` (float) and ``seed`` (int) as its first
        columns: what every per-run table of stage 6 carries."""
        out = df.drop(columns=[c for c in RUN_COLUMNS if c in df.columns])
        for col, value in reversed(list(self.values().items())):
            out.insert(0, col, value)
        return out

    def values(self) -> dict:
        """{condition: str, alpha: float, seed: int}: as tables and JSON files record it."""
        return {"condition": self.condition, "alpha": self.alpha_value, "seed": self.seed_value}

    @classmethod
    def of_table(cls, df, path) -> "Run":
        """The one run a per-run table (read from ``path``) records in its first columns; an InputError naming the
        file if it records none (written before runs recorded themselves: rerun its job) or more than one."""
        missing = [c for c in RUN_COLUMNS if c not in df.columns]
        if missing:
            raise InputError(path, missing[0], "missing: a per-run table records its run (condition, alpha, seed); "
                             "this one was written before neuroreg recorded it: rerun its job")
        runs = df[list(RUN_COLUMNS)].drop_duplicates()
        if len(runs) != 1:
            raise InputError(path, "condition", f"records {len(runs)} runs; a per-run table holds exactly one")
        return cls.of(*runs.iloc[0])

    def describe(self) -> str:
        return f"{self.condition}, alpha {self.alpha}, seed {self.seed}"

    @property
    def spec(self) -> Condition:
        """Its condition parsed (:func:`parse`)."""
        return parse(self.condition)

    @property
    def alpha_value(self) -> float:
        return float(self.alpha)

    @property
    def seed_value(self) -> int:
        return int(self.seed)
