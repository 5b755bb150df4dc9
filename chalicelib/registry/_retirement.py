"""Retired models and versions: the `retired` part of aliases.json and its pure transitions.

    "retired": {"model": {"reason": ..., "at": ..., "by": ...},      (the whole model)
                "versions": {"2": {"reason": ..., "at": ..., "by": ...}}}

It lives in the aliases document so that one conditional write checks both rules: a version
that holds an alias cannot be retired, and a retired version cannot be promoted. Serving reads
it with the aliases (same cache TTL). A retired version's large files carry the S3 tag
RETIRED_TAG, which the models bucket's lifecycle rule moves to a cheaper storage class.
"""

from __future__ import annotations

from chalicelib.core import ConflictError, GoneError, InvalidInputError, NotFoundError
from chalicelib.registry._aliases import (
    CANARY,
    CHAMPION,
    SHADOW,
    AliasesDocument,
    AliasEvent,
    RetiredState,
    Retirement,
    with_event,
)

RETIRED_TAG_KEY = "sklambda-retired"
RETIRED_TAG_VALUE = "true"
# The files a retired version no longer needs at hand; metadata.json, profile.json and
# signature.json stay in the standard class (small, and read by describe and history).
ARCHIVED_FILES = ("model.joblib", "code.zip", "plan.json", "plan.npz")


def retired_state(document: AliasesDocument) -> RetiredState:
    """What of the model is retired (nothing for a document written before retiring)."""
    return document.get("retired") or {"versions": {}}


def model_retirement(document: AliasesDocument) -> Retirement | None:
    """Why the whole model is retired, or None."""
    return retired_state(document).get("model")


def version_retirement(document: AliasesDocument, version: int) -> Retirement | None:
    """Why `version` is retired (itself, or with its whole model), or None."""
    return retired_state(document)["versions"].get(str(version)) or model_retirement(document)


def retired_versions(document: AliasesDocument) -> list[int]:
    """The versions retired one by one (not counting a whole-model retirement)."""
    return sorted(int(v) for v in retired_state(document)["versions"])


def gone(model: str, document: AliasesDocument, version: int | None = None) -> GoneError | None:
    """The 410 for a request to a retired model, or to a retired `version`; None if live."""
    whole = model_retirement(document)
    if whole is not None:
        return GoneError(
            f"model {model!r} is retired ({_why(whole)}); restore it with "
            f"`sklambda restore {model}`"
        )
    if version is None:
        return None
    one = retired_state(document)["versions"].get(str(version))
    if one is None:
        return None
    return GoneError(
        f"version {version} of {model!r} is retired ({_why(one)}); restore it with "
        f"`sklambda restore {model} --version {version}`"
    )


def refuse_retired(model: str, document: AliasesDocument, alias: str, version: int) -> None:
    """Refuse to point `alias` at a retired version (or at any version of a retired model)."""
    error = gone(model, document, version)
    if error is not None:
        raise ConflictError(f"cannot move {alias} to version {version}: {error.message}")


def retire(
    document: AliasesDocument,
    *,
    model: str,
    version: int | None,
    actor: str,
    at: str,
    reason: str,
) -> AliasesDocument | None:
    """The document with `version` (None: the whole model) retired; None if it already is.

    A version holding an alias cannot be retired; nor can a model while a canary or shadow
    is live. A retired model's champion stays recorded (it serves nothing meanwhile), so
    `restore` puts the model back as it was.
    """
    if not reason.strip():
        raise InvalidInputError("say why with --reason: it is kept in the model's history")
    state = retired_state(document)
    if version is None:
        if "model" in state:
            return None
        holding = {a: e["version"] for a, e in document["aliases"].items() if a != CHAMPION}
        if holding:
            raise ConflictError(
                f"model {model!r} cannot be retired while "
                + ", ".join(f"its {a} is version {v}" for a, v in sorted(holding.items()))
                + "; end "
                + ("them" if len(holding) > 1 else "it")
                + " first with "
                + " and ".join(f"`sklambda demote {model} --alias {a}`" for a in sorted(holding))
            )
    else:
        if str(version) in state["versions"]:
            return None
        holding_aliases = sorted(
            a for a, e in document["aliases"].items() if e["version"] == version
        )
        if holding_aliases:
            raise ConflictError(
                f"version {version} of {model!r} cannot be retired: it is the "
                f"{' and '.join(holding_aliases)}; {_free_hint(model, holding_aliases)}"
            )
    entry: Retirement = {"reason": reason, "at": at, "by": actor}
    changed = with_event(document, _event("retire", version, actor, at, reason))
    new_state = _copy(state)
    if version is None:
        new_state["model"] = entry
    else:
        new_state["versions"][str(version)] = entry
    changed["retired"] = new_state
    return changed


def restore(
    document: AliasesDocument,
    *,
    model: str,
    version: int | None,
    actor: str,
    at: str,
    reason: str,
) -> AliasesDocument | None:
    """The document with `version` (None: the whole model) back in service; None when it
    was not retired."""
    state = retired_state(document)
    if version is None and "model" not in state:
        if state["versions"]:
            raise NotFoundError(
                f"model {model!r} is not retired, only some of its versions are "
                f"({', '.join(map(str, retired_versions(document)))}); restore one with "
                f"`sklambda restore {model} --version N`"
            )
        return None
    if version is not None and str(version) not in state["versions"]:
        if "model" in state:
            raise InvalidInputError(
                f"version {version} of {model!r} was retired with the whole model; "
                f"restore the model with `sklambda restore {model}`"
            )
        return None
    changed = with_event(document, _event("restore", version, actor, at, reason))
    new_state = _copy(state)
    if version is None:
        del new_state["model"]
    else:
        del new_state["versions"][str(version)]
    changed["retired"] = new_state
    return changed


def _free_hint(model: str, aliases: list[str]) -> str:
    hints = []
    for alias in aliases:
        if alias in (CANARY, SHADOW):
            hints.append(f"end the {alias} with `sklambda demote {model} --alias {alias}`")
        else:
            hints.append(
                f"point {alias} at another version first with "
                f"`sklambda promote {model} VERSION --alias {alias}`"
            )
    return "; ".join(hints)


def _why(entry: Retirement) -> str:
    return f"by {entry['by']} at {entry['at']}: {entry['reason']}"


def _copy(state: RetiredState) -> RetiredState:
    copied: RetiredState = {"versions": dict(state["versions"])}
    if "model" in state:
        copied["model"] = state["model"]
    return copied


def _event(action: str, version: int | None, actor: str, at: str, reason: str) -> AliasEvent:
    # to_version names the version retired or restored; None for the whole model.
    return {
        "action": action,
        "alias": None,
        "from_version": None,
        "to_version": version,
        "actor": actor,
        "at": at,
        "reason": reason,
    }
