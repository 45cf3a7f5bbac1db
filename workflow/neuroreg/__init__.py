"""neuroreg: regularizing machine-learning models with brain data.

A reproduction of Li et al., "Learning From Brains How to Regularize Machines" (NeurIPS 2019).
One subpackage per stage (:mod:`.ingest`, :mod:`.reliability`, :mod:`.encoder`,
:mod:`.similarity`, :mod:`.cotrain`, :mod:`.robustness`, :mod:`.figures`), each with a ``jobs``
module that the rules' two-line scripts call; shared by all: :mod:`.config` (config.yaml, the
overlay, the schema's defaults), :mod:`.grid` (which jobs a config asks for), :mod:`.seeds`,
:mod:`.measures` (statistics), :mod:`.io` (errors that name the file, atomic outputs),
:mod:`.logs` (a job's log holds its error), :mod:`.devices`, :mod:`.progress` (progress lines),
:mod:`.costs` and :mod:`.plan` (the run's plan and time estimate). :mod:`.regularize` is the co-training's
regularizer as an API for any model and training loop (docs/REGULARIZE.md). Map: docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
