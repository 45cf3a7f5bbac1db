"""Stage 2, reliability (section 2, 2.1; Eq. 1, 3-5), from the repeated (oracle) trials.

* :mod:`.oracle`: the estimators, arrays in and out (signal, noise, SNR weights, oracle
  correlation, explainable variance, S^oracle, Delta S^scan, Delta S^repeat);
* :mod:`.io`: the stage's files (``results/<run>/reliability/``) and the fluctuations across scans;
* :mod:`.checks`: the sanity check that a scan's neurons carry a stimulus signal;
* :mod:`.jobs`: what the rules of ``workflow/rules/reliability.smk`` run.
"""
