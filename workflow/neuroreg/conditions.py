"""Co-training conditions and their runs: the one home of what a condition name means and where a run lives.

A **condition** is a name in ``cotrain.conditions`` (:func:`parse` gives its :class:`Condition`):

* ``none``: cross-entropy only;
* a similarity target (``neural_model``, ``neural_data``, ``shuffle``, ``ground_truth``, ``vgg``, ``pixel``,
  ``random_network``, ``neural_model_{scan}``): Eq. 7-8 towards ``results/<run>/similarity/{target}.h5``;
* ``cka_{target}`` / ``logcka_{target}``: the same target with the loss 1 - CKA or log(1 - CKA);
* ``mtl_model``, ``mtl_shuffle``, ``mtl_ground_truth``, ``mtl_data``: multi-task co-training (a readout predicts a
  response set with the Poisson loss);
* ``blur{sigma}`` (e.g. ``blur1.5``): the low-pass control, trained like none; ``blur{sigma}_{condition}`` and
  ``blurbest_{condition}``: that condition on top of the blur front end (best: the sigma rule blur_selection chose).

A :class:`Condition` knows its family (the figures' grouping), its alpha under a config, the Recipe fields it sets,
the files its training reads, and what ``metrics.json`` records of it. A **run** is a :class:`Run` ``(condition,
alpha, seed)`` of strings as they appear in paths, ``<results>/<stage>/{condition}/alpha{alpha}/seed{seed}/<file>``
(CIFAR-100: under ``<results>/cifar100/``): :meth:`Run.path` writes such a path and :meth:`Run.parse` is the one
reader of them.

Adding a condition: its grammar in :func:`parse` (and, for a new kind, its family, recipe and inputs in
:class:`Condition`), a colour and label in ``figures/style.py`` where its family's are not enough, and its line in
``cotrain.conditions`` (``tests/test_grid.py`` shows one added this way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
#: Loss forms of a similarity condition, by name prefix: Eq. 8 (none), 1 - linear CKA, log(1 - CKA).
SIMILARITY_LOSSES = {"cka_": "cka", "logcka_": "logcka"}
#: The run paths' root (the Snakemake path variable of results/<run>/, neuroreg.grid.pathvars).
RESULTS = "<results>"

_BLUR = re.compile(r"blur(?P<sigma>[0-9]+(?:\.[0-9]+)?|best)(?:_(?P<rest>.+))?")
_SINGLE_SCAN = re.compile(r"neural_model_[A-Za-z0-9_\-]+")
_RUN_PATH = re.compile(r"(?P<condition>[^/\\]+)[/\\]alpha(?P<alpha>[0-9]+(?:\.[0-9]+)?)[/\\]seed(?P<seed>[0-9]+)"
                       r"(?:[/\\][^/\\]+)?$")


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
        elif rest == "none":
            raise InputError("config", key, "'blurbest' alone: the best blur's runs are its blur{sigma} runs; "
                             "blurbest_{condition} puts a condition on top of it")
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
    def parse(cls, path) -> "Run":
        """The run a path belongs to (``.../{condition}/alpha{alpha}/seed{seed}[/file]``); ValueError otherwise."""
        m = _RUN_PATH.search(str(path))
        if m is None:
            raise ValueError(f"{path}: not a .../{{condition}}/alpha{{alpha}}/seed{{seed}}/file path")
        return cls(m["condition"], m["alpha"], m["seed"])

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
