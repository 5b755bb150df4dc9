"""Compiled scoring: a fitted pipeline's preprocessing replayed in plain Python and numpy over
JSON records, so the hot path skips pandas; what it cannot reproduce exactly is left to the
pipeline. Importing it imports neither pandas nor scikit-learn.

`_base` holds what every step shares; `_numeric`, `_categorical` and `_function` compile one
kind of transformer each; `_chain` composes them (Pipeline, ColumnTransformer, fusion, the
class-to-compiler table); `_model` ties them into a model, whose final estimator scores the
matrix (or a numpy replica of it that the caller passes: the scorer uses a plan's head).
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.scoring.compiled._model import (
        CompiledModel,
        CompiledPreprocessing,
        compile_model,
    )

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
