"""Refuse at registration a model that Lambda could not import, before anything is written.

Two checks. A static one for every model: the modules its pickle names (read from the
GLOBAL / STACK_GLOBAL opcodes, nothing unpickled) must be in the Lambda runtime or in the
version's code, and never `__main__`. And, for models registered with code, a proof: a clean
interpreter loads the artifact and predicts a few training rows with only the runtime and
the code importable, so a module that merely happens to be on the author's path is named
now rather than in a 500 later. Pure scikit-learn models never pay for that subprocess.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import subprocess
import sys
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.core import InvalidInputError
from chalicelib.registry._code_bundle import CodeArchive, build_code_archive
from chalicelib.registry._runtime_modules import RUNTIME_MODULES, in_runtime, top_level

PROOF_TIMEOUT_SECONDS = 300
PROOF_ROWS = 5
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING"}
_STRINGS |= {"BINSTRING", "SHORT_BINSTRING"}

CodeSpec = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | CodeArchive | None


def main_module_message(names: Collection[str]) -> str:
    """What to do about a model that uses functions or classes defined in `__main__`."""
    return (
        f"the model uses {', '.join(sorted(names))} defined in __main__ (a notebook or "
        "script), which no other process can import: move it into a module (e.g. "
        "features.py), import it from there, refit, save, and register with --code features.py"
    )


def missing_module_message(module: str) -> str:
    """What to do about a model that needs a module neither Lambda nor its code has."""
    return (
        f"the model needs the module {module!r}, which is neither in the Lambda runtime nor in "
        "the code registered with it; pass its file or package with --code (code=[...] from "
        "Python)"
    )


def pickle_references(obj: Any) -> set[tuple[str, str]]:
    """(module, qualified name) of every global `obj`'s pickle refers to."""
    # Out-of-band buffers keep array data out of the stream: cheap even for large models,
    # and the references are those of the joblib artifact (joblib pickles the same objects).
    data = pickle.dumps(obj, protocol=5, buffer_callback=lambda _: None)
    found: set[tuple[str, str]] = set()
    pushed: list[Any] = []  # the last two values pushed (None: not a string)
    memo: dict[Any, Any] = {}  # memo index -> value, as the unpickler's memo
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, qualname = str(arg).partition(" ")
            found.add((module, qualname))
        elif name == "STACK_GLOBAL" and len(pushed) == 2:
            module, qualname = pushed
            if isinstance(module, str) and isinstance(qualname, str):
                found.add((module, qualname))
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        if name in _STRINGS:
            pushed.append(arg)
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif opcode.stack_after and name not in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            pushed.append(None)
        del pushed[:-2]
    return found


def check_references(estimator: Any, code_modules: Collection[str]) -> None:
    """Refuse a model whose pickle names `__main__` or a module Lambda cannot import."""
    references = pickle_references(estimator)
    in_main = {qualname for module, qualname in references if module == "__main__"}
    if in_main:
        raise InvalidInputError(main_module_message(in_main))
    missing = sorted(
        {
            top_level(module)
            for module, _ in references
            if not in_runtime(module) and top_level(module) not in code_modules
        }
    )
    if missing:
        raise InvalidInputError(missing_module_message(missing[0]))


def prepare_code(
    code: CodeSpec,
    estimator: Any,
    artifact: bytes,
    frame: Any,
    features: Sequence[Mapping[str, Any]],
    *,
    prove: bool,
) -> CodeArchive | None:
    """The version's code archive (None without code), after refusing what cannot load."""
    if isinstance(code, CodeArchive):
        archive: CodeArchive | None = code
    elif isinstance(code, str | os.PathLike):  # one path, not a sequence of characters
        archive = build_code_archive([code])
    else:
        archive = build_code_archive(code) if code else None
    check_references(estimator, archive.modules if archive else ())
    if archive is not None and prove:
        prove_clean_load(artifact, archive, sample_rows(frame, features), features)
    return archive


def sample_rows(
    frame: Any, features: Sequence[Mapping[str, Any]], *, limit: int = PROOF_ROWS
) -> list[dict[str, Any]]:
    """The first `limit` training rows as a JSON request would send them (null for missing,
    times as ISO 8601 text): no pandas or pyarrow dtypes in transit."""
    head = frame.head(limit)
    names = [str(f["name"]) for f in features]
    return [
        {name: _as_json(value) for name, value in zip(names, values, strict=True)}
        for values in head[names].astype(object).itertuples(index=False)
    ]


def _as_json(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def prove_clean_load(
    artifact: bytes,
    archive: CodeArchive,
    rows: list[dict[str, Any]],
    features: Sequence[Mapping[str, Any]],
) -> None:
    """Load `artifact` and predict `rows` (`sample_rows`) in a clean interpreter with only the
    runtime and the code importable, reading them as serving reads a request."""
    with tempfile.TemporaryDirectory(prefix="sklambda-proof-") as folder:
        root = Path(folder)
        (root / "model.joblib").write_bytes(artifact)
        (root / "code.zip").write_bytes(archive.data)
        args = {
            "model": str(root / "model.joblib"),
            "code": str(root / "code.zip"),
            "rows": rows,
            "features": list(features),
            "allowed": sorted(RUNTIME_MODULES | set(archive.modules)),
        }
        source = Path(__file__).with_name("_clean_load.py").read_text(encoding="utf-8")
        try:
            done = subprocess.run(  # noqa: S603 - our interpreter, our script, no shell
                [sys.executable, "-I", "-c", source, json.dumps(args, default=str)],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=PROOF_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InvalidInputError(
                f"loading the model in a clean interpreter took over {PROOF_TIMEOUT_SECONDS} s; "
                "check that importing the code given with --code does no slow work"
            ) from None
    outcome = _last_json_line(done.stdout)
    if outcome.get("ok"):
        return
    if outcome.get("error") == "ModuleNotFoundError" and outcome.get("module"):
        raise InvalidInputError(
            "the model does not load with only the Lambda runtime and its code: it needs the "
            f"module {outcome['module']!r}; pass its file or package with --code (code=[...] "
            "from Python)"
        )
    problem = (
        f"{outcome['error']}: {outcome.get('message', '')}"
        if "error" in outcome
        else (done.stderr.strip().splitlines() or ["the interpreter exited early"])[-1]
    )
    raise InvalidInputError(
        "the model does not load and predict with only the Lambda runtime and its code "
        f"({problem}); check that the code given is what the model was fitted with"
    )


def _last_json_line(out: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return {}
