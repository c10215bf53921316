"""Measures of what a tensor product can represent: expressivity and interactability."""

from equitens.analysis.expressivity import (
    ExpressivityReport,
    Interaction,
    bilinear_paths,
    expressivity,
    interactability,
)

__all__ = ["ExpressivityReport", "Interaction", "bilinear_paths", "expressivity", "interactability"]
