"""Model artifacts: serialize, checksum, verify before loading, and a warm-container cache.

A pickled model is code. Its bytes are checked against the sha256 recorded at registration
before they reach the unpickler, and a model pickled under another scikit-learn major.minor is
refused (scikit-learn does not support loading across versions). A version's own code bundle
is checked the same way, and is importable only while its model is unpickled.
"""

from __future__ import annotations

import hashlib
import io
import platform
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.core import IntegrityError, SklambdaError, VersionSkewError
from chalicelib.registry._user_code import code_activated

if TYPE_CHECKING:
    from chalicelib.registry._metadata import RuntimeVersions
    from chalicelib.registry._user_code import UserCode

T = TypeVar("T")


def runtime_versions() -> RuntimeVersions:
    """Versions of the libraries that decide whether a pickle loads here."""
    import joblib
    import numpy
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "joblib": joblib.__version__,
    }


def serialize(estimator: Any) -> bytes:
    """The estimator as joblib bytes (uncompressed: loading fast matters more than size)."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def check_compatible(recorded: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> None:
    """Refuse a model whose scikit-learn major.minor (or numpy major) differs from ours."""
    current = runtime_versions() if current is None else current
    problems = []
    if _major_minor(recorded.get("scikit-learn")) != _major_minor(current["scikit-learn"]):
        problems.append(
            f"scikit-learn {recorded.get('scikit-learn')} (model) vs {current['scikit-learn']} "
            "(here)"
        )
    if _major(recorded.get("numpy")) != _major(current["numpy"]):
        problems.append(f"numpy {recorded.get('numpy')} (model) vs {current['numpy']} (here)")
    if problems:
        raise VersionSkewError(
            "model was saved under other library versions: "
            + "; ".join(problems)
            + ". Retrain and register it with the versions this runtime has "
            "(see requirements.txt), or deploy with the model's versions"
        )


def load_verified(
    data: bytes,
    expected_sha256: str,
    recorded_versions: Mapping[str, Any],
    *,
    loader: Callable[[io.BytesIO], Any] | None = None,
    what: str = "model",
    code: UserCode | None = None,
) -> Any:
    """Deserialize `data` only if its sha256 (and its code's) match and its versions are
    compatible; the code is importable only while `data` is unpickled."""
    actual = sha256_hex(data)
    if actual != expected_sha256:
        raise IntegrityError(
            f"{what} artifact does not match its recorded sha256 "
            f"(expected {expected_sha256[:12]}…, got {actual[:12]}…): it was changed after "
            "registration; refusing to load it. Register the model again from a trusted file"
        )
    if code is not None:
        code.verify(what)
    check_compatible(recorded_versions)
    if loader is None:
        import joblib

        loader = joblib.load
    with code_activated(code):
        return loader(io.BytesIO(data))


class ModelCache:
    """Loaded models per warm container, keyed by (name, version); least recently used goes.

    A load that fails is remembered for `failure_seconds`: a version that cannot load (not
    signed, changed after signing, saved under other libraries) answers every request with
    the same error at once, instead of fetching and checking its files again each time.
    """

    def __init__(
        self,
        max_entries: int = 8,
        *,
        failure_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._failures: dict[Hashable, tuple[SklambdaError, float]] = {}
        self._max = max_entries
        self._failure_seconds = failure_seconds
        self._clock = clock
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value for `key`, loading (once) on a miss."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            failure = self._failures.get(key)
            if failure is not None and self._clock() < failure[1]:
                # A fresh traceback each time: re-raising would chain them without end.
                raise failure[0].with_traceback(None)
        try:
            value = load()
        except SklambdaError as error:
            with self._lock:
                self._failures[key] = (error, self._clock() + self._failure_seconds)
            raise
        with self._lock:
            self._failures.pop(key, None)
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every cached model and remembered failure."""
        with self._lock:
            self._entries.clear()
            self._failures.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _major_minor(version: str | None) -> tuple[str, ...]:
    return tuple((version or "?").split(".")[:2])


def _major(version: str | None) -> str:
    return (version or "?").split(".")[0]
