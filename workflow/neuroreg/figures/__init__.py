"""Figures of the paper, one plotting module per stage (:mod:`.reliability`, :mod:`.similarity`,
:mod:`.robustness`), the paper-vs-run table (:mod:`.paper_vs_run`), one look for all (:mod:`.style`),
and :mod:`.jobs`: what the rules of ``workflow/rules/figures.smk`` run (the stage 2 and 4 figures
are run by those stages' jobs)."""
