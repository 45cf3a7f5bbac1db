"""The documentation's measured numbers are rendered from a run's tables (neuroreg.figures.docs)."""

from __future__ import annotations

import pandas as pd
import pytest

from neuroreg.figures import docs
from neuroreg.files import InputError


def verdict_rows():
    base = {"n_seeds": 5, "n_seeds_other": 5, "n_images": 100, "checks": "", "unit": "", "note": "", "null": 0.0}
    rows = [
        {"claim": "median_L2", "comparison": "neural_model vs none", "bn": "cifar", "primary": True, "effect": 1.2637,
         "ci_low": 1.1155, "ci_high": 1.4317, "scale": "ratio", "paper": 1.4444, "verdict": "holds", "detectable": 1.1887},
        {"claim": "median_L2", "comparison": "neural_model vs none", "bn": "trained", "primary": False, "effect": 1.05,
         "ci_low": 0.95, "ci_high": 1.2, "scale": "ratio", "paper": 1.4444, "verdict": "inconclusive", "detectable": 1.2},
        {"claim": "median_Linf", "comparison": "neural_model vs none", "bn": "cifar", "primary": True, "effect": 1.1,
         "ci_low": 0.98, "ci_high": 1.25, "scale": "ratio", "paper": 1.36, "verdict": "inconclusive", "detectable": 1.2},
        {"claim": "accuracy_sd0.1", "comparison": "neural_model vs none", "bn": "cifar", "primary": True,
         "effect": 0.0402, "ci_low": 0.0026, "ci_high": 0.0779, "scale": "difference", "paper": 0.3, "verdict": "holds",
         "detectable": 0.052},
        {"claim": "accuracy_sd0.1", "comparison": "neural_model vs shuffle", "bn": "cifar", "primary": True,
         "effect": -0.01, "ci_low": -0.05, "ci_high": 0.03, "scale": "difference", "paper": float("nan"),
         "verdict": "inconclusive", "detectable": 0.1},
    ]
    return pd.DataFrame([{**base, **r} for r in rows])


def test_verdict_table_by_hand():
    table = docs.verdict_table(verdict_rows()).splitlines()
    assert table[2] == ("| accuracy at sd 0.10 | `none` | **+4.0 [+0.3, +7.8]** | **holds** |  |  | +30 | 5.2 |")
    assert table[3] == "|  | `shuffle` | -1.0 [-5.0, +3.0] | inconclusive |  |  | > 0 | 10.0 |"
    assert table[4] == ("| median minimal L2 (ratio) | `none` | **x1.26 [1.12, 1.43]** | **holds** | x1.05 [0.95, 1.20] | "
                        "inconclusive | x1.44 | x1.19 |")
    assert table[5].startswith("| median minimal Linf (ratio) | `none` | x1.10 [0.98, 1.25] | inconclusive |")
    with pytest.raises(InputError, match="verdict.csv: ci_low: missing column"):
        docs.verdict_table(verdict_rows().drop(columns="ci_low"))


def test_noise_table_from_the_runs_files(tmp_path):
    for cond, alpha, seed, accs in [("none", "0", 0, (0.5, 0.3)), ("none", "0", 1, (0.6, 0.4)),
                                    ("neural_model", "2", 0, (0.55, 0.45))]:
        d = tmp_path / "robustness" / cond / f"alpha{alpha}" / f"seed{seed}"
        d.mkdir(parents=True)
        pd.DataFrame({"bn": ["cifar", "cifar", "trained", "trained"], "level": [0.0, 0.1, 0.0, 0.1],
                      "accuracy": list(accs) + [a - 0.1 for a in accs]}).to_csv(d / "noise.csv", index=False)
    lines = docs.noise_table(tmp_path).splitlines()
    assert lines[0] == "| condition (seeds) | clean | sd 0.10 |"
    assert lines[2] == "| `none` (2) | 55.0 ± 5.0 / 45.0 ± 5.0 | 35.0 ± 5.0 / 25.0 ± 5.0 |"
    assert lines[3] == "| `neural_model` (1) | 55.0 / 45.0 | 45.0 / 35.0 |"


def test_render_rewrites_only_the_blocks_and_check_reports_stale(tmp_path):
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    verdict_rows().to_csv(run / "tables" / "verdict.csv", index=False)
    doc = tmp_path / "doc.md"
    doc.write_text("Prose by hand.\n<!-- rendered: headline -->\nold numbers\n<!-- /rendered -->\nMore prose.\n")
    assert docs.main([str(doc), "--run", str(run), "--check"]) == 1
    assert "old numbers" in doc.read_text()  # --check writes nothing
    assert docs.main([str(doc), "--run", str(run)]) == 0
    text = doc.read_text()
    assert text.startswith("Prose by hand.\n<!-- rendered: headline -->\n**The verdict**") and text.endswith(
        "<!-- /rendered -->\nMore prose.\n")
    assert "median L2 x1.26 [1.12, 1.43]: holds, Linf x1.10 [0.98, 1.25]: inconclusive" in text
    assert "sd 0.10, points over `none`: +4.0 [+0.3, +7.8]: holds" in text
    assert docs.main([str(doc), "--run", str(run), "--check"]) == 0
    doc.write_text("<!-- rendered: nonsense -->\n<!-- /rendered -->\n")
    with pytest.raises(InputError, match="doc.md: nonsense: unknown rendered block"):
        docs.main([str(doc), "--run", str(run)])
