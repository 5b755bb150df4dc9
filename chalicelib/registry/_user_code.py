"""Import a version's own code only while that version loads, isolated from other versions.

Two versions may ship different modules under one name (`features`), and one warm container
may serve both. So a bundle is never left importable: while a version is unpickled its zip
sits first on sys.path (zipimport) and its module names are cleared from sys.modules; after,
the modules it imported are taken out of sys.modules again and whatever was there before is
put back. The estimator keeps working, because functions and methods hold their module's
globals, and `UserCode.modules` keeps those modules referenced beside the loaded model.

Activating the same bundle again (retraining fits and pickles inside it) puts back the very
same module objects, so pickle finds `features.f` as the object the estimator holds.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import ModuleType

from chalicelib.core import IntegrityError
from chalicelib.registry._code_bundle import CodeArchive

# sys.path and sys.modules are process-wide; one bundle at a time may change them.
_LOCK = threading.RLock()
_extracted: set[str] = set()  # zip files written (and checked) by this process


class UserCode:
    """A version's code bundle: verified, written once per container, imported on demand."""

    def __init__(self, archive: CodeArchive) -> None:
        self.archive = archive
        self.modules: dict[str, ModuleType] = {}  # what loading imported; kept alive here
        self._depth = 0

    def verify(self, what: str) -> None:
        """IntegrityError unless the bytes are the ones recorded at registration."""
        expected = self.archive.info["sha256"]
        actual = hashlib.sha256(self.archive.data).hexdigest()
        if actual != expected:
            raise IntegrityError(
                f"{what} code bundle does not match its recorded sha256 (expected "
                f"{expected[:12]}…, got {actual[:12]}…): it was changed after registration; "
                "refusing to load the model. Register the model again from trusted files"
            )

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Within the block, the bundle's modules import from it and nothing else does."""
        with _LOCK:
            if self._depth:  # already active further up this thread's stack
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            path = self._extract()
            saved = self._take_modules()
            sys.modules.update(self.modules)
            sys.path.insert(0, path)
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0
                if path in sys.path:
                    sys.path.remove(path)
                self.modules.update(self._take_modules())
                sys.modules.update(saved)

    def _take_modules(self) -> dict[str, ModuleType]:
        """Remove the bundle's module names (and submodules) from sys.modules; return them."""
        tops = self.archive.modules
        names = [n for n in sys.modules if n.partition(".")[0] in tops]
        return {name: sys.modules.pop(name) for name in names}

    def _extract(self) -> str:
        """The zip's path in the temp dir, named by its sha256, written on first use."""
        sha256 = self.archive.info["sha256"]
        path = Path(tempfile.gettempdir()) / "sklambda-code" / f"{sha256}.zip"
        if sha256 in _extracted and path.is_file():
            return str(path)
        # Another process may have left a file there; only trust it after hashing it.
        if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{sha256}.{os.getpid()}.{threading.get_ident()}")
            partial.write_bytes(self.archive.data)
            os.replace(partial, path)  # atomic: a concurrent reader never sees half a zip
        _extracted.add(sha256)
        return str(path)


def code_activated(code: UserCode | None) -> AbstractContextManager[None]:
    """`code.activated()`, or a no-op for versions without code."""
    return code.activated() if code is not None else nullcontext()
