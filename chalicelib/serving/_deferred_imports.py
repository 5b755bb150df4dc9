"""Keep pandas out of the HTTP function's cold start while a model loads.

scikit-learn imports pandas whenever it is installed (sklearn.utils.fixes), which costs a
few hundred milliseconds of cold start. Models the compiled path covers never need it, so
while a model is unpickled for online scoring, `import pandas` fails as if pandas were absent
(scikit-learn then keeps `pd = None`, which it only uses to pass into helpers that take
pandas as an argument). Once loading is done, pandas imports normally again, so the fallback
path and everything else still get it on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType


class _DeferPandas(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@contextmanager
def pandas_deferred() -> Iterator[None]:
    """Within the block, importing pandas fails unless it is already imported."""
    if "pandas" in sys.modules:
        yield
        return
    finder = _DeferPandas()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def needs_pandas(error: BaseException) -> bool:
    """Whether an import error was pandas being deferred (the model's pickle holds pandas)."""
    return isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] == "pandas"
