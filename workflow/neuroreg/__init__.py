"""neuroreg: regularizing machine-learning models with brain data.

A reproduction of Li et al., "Learning From Brains How to Regularize
Machines" (NeurIPS 2019). One module per concept; the Snakemake rules in
``workflow/rules`` call into this package through thin scripts.
"""

__version__ = "0.1.0"
