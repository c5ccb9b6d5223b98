"""Figures used by the notebooks and the README (matplotlib / seaborn), one sub-module per topic."""
