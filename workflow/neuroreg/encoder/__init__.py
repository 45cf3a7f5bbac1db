"""Stage 3: the predictive model of section 2.2 (core, Gaussian readout, shifter, modulator).

Modules: :mod:`.core` (stacked 2D conv core), :mod:`.readout` (Gaussian readout),
:mod:`.shifter`, :mod:`.modulator`, :mod:`.model` (the assembled encoder),
:mod:`.train` (fit one model per scan), :mod:`.metrics` (pure NumPy evaluation), :mod:`.run`
(train, evaluate and save one scan's encoder), :mod:`.jobs` (what ``workflow/rules/encoder.smk`` runs).
"""
