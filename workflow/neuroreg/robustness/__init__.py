"""Stage 6: robustness of the co-trained classifiers (section 4.2 and the supplement).

* :mod:`.noise`: accuracy under additive Gaussian noise (Fig. 4, Fig. 6);
* :mod:`.attacks`: Foolbox 3 minimal-perturbation attacks, starting points, PGD with a
  per-image epsilon search;
* :mod:`.parallel`: chunked runs of an attack across CPU processes (Brendel & Bethge's
  numba solver works one sample at a time);
* :mod:`.minimal`: the evaluation (per image the smallest distance over attacks,
  hyper-parameters, repetitions and step budgets; quantiles; Fig. 5 bookkeeping);
* :mod:`.checks`: sanity checks against a broken evaluation (their failures reach the figures
  and ``paper_vs_run.csv``);
* :mod:`.io`: the co-trained model and the CIFAR test set in, the stage's tables out;
* :mod:`.jobs`: what the rules of ``workflow/rules/robustness.smk`` run.
"""
