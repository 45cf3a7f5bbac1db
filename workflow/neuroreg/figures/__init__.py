"""Figures of the paper, one module per stage. Shared look in :mod:`neuroreg.figures.style`."""
