"""Aliases of a model (champion, canary, shadow), their history, and rollout decisions.

<name>/aliases.json                 champion / canary / shadow, what is retired (If-Match)
<name>/history/<revision>.json      one object per alias move
<name>/decisions/<time>-<id>.json   retraining and rollout decisions, with reasons
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.core import ConflictError, NotFoundError, iso
from chalicelib.registry import _aliases as alias_state
from chalicelib.registry import _retirement as retirement
from chalicelib.registry._aliases import AliasesDocument, AliasEvent
from chalicelib.registry._versions import VersionStore, check_model_name
from chalicelib.storage import ObjectMissing, PreconditionFailed


class AliasBook(VersionStore):
    """Which version holds each alias, every move with who and why, and decisions."""

    def resolve(self, name: str, version: int | None = None, alias: str | None = None) -> int:
        """A version number from an explicit version, an alias, or the champion."""
        if version is not None:
            return version
        alias = alias or alias_state.CHAMPION
        entry = self.get_aliases(name)["aliases"].get(alias)
        if entry is None:
            self.list_versions(name)  # unknown model → NotFoundError first
            raise NotFoundError(
                f"model {name!r} has no {alias!r} alias; promote a version with "
                f"`sklambda promote {name} VERSION --alias {alias}`"
            )
        return int(entry["version"])

    def get_aliases(self, name: str) -> AliasesDocument:
        """The aliases document of `name` (empty when no alias was ever set)."""
        return self._read_aliases(name)[0]

    def _read_aliases(self, name: str) -> tuple[AliasesDocument, str | None]:
        check_model_name(name)
        try:
            document, etag = self._store.get_json(self._model_key(name, "aliases.json"))
        except ObjectMissing:
            return alias_state.empty_document(), None
        return document, etag

    def promote(
        self,
        name: str,
        version: int,
        *,
        alias: str = alias_state.CHAMPION,
        weight: float | None = None,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> AliasesDocument:
        """Point `alias` at `version`; ConflictError if the aliases changed meanwhile.

        `expected_revision`: only if the aliases are still at that revision (what an
        automated decision was based on), so two racing decisions cannot both land.
        """
        self.get_metadata(name, version)

        def change(doc: AliasesDocument, actor: str, at: str) -> AliasesDocument | None:
            retirement.refuse_retired(name, doc, alias, version)
            return alias_state.promote(
                doc,
                model=name,
                alias=alias,
                version=version,
                weight=weight,
                actor=actor,
                at=at,
                reason=reason,
            )

        return self._change_aliases(name, change, expected_revision)

    def rollback(
        self, name: str, *, alias: str = alias_state.CHAMPION, reason: str = ""
    ) -> AliasesDocument:
        """Move `alias` back to the version it pointed to before its last promotion."""
        self.list_versions(name)

        def change(doc: AliasesDocument, actor: str, at: str) -> AliasesDocument:
            changed = alias_state.rollback(
                doc, model=name, alias=alias, actor=actor, at=at, reason=reason
            )
            retirement.refuse_retired(name, doc, alias, changed["aliases"][alias]["version"])
            return changed

        return self._change_aliases(name, change)

    # -- retiring -----------------------------------------------------------------------
    def retire(self, name: str, version: int | None = None, *, reason: str) -> AliasesDocument:
        """Retire `version` (None: the whole model): it serves nothing, cannot be promoted,
        and its large files are tagged for a cheaper storage class. Kept in the history."""
        self._check_target(name, version)
        document = self._change_aliases(
            name,
            lambda doc, actor, at: retirement.retire(
                doc, model=name, version=version, actor=actor, at=at, reason=reason
            ),
        )
        self._tag_archived(name, document, version)
        return document

    def restore(
        self, name: str, version: int | None = None, *, reason: str = ""
    ) -> AliasesDocument:
        """Put a retired `version` (None: the whole model) back in service."""
        self._check_target(name, version)
        document = self._change_aliases(
            name,
            lambda doc, actor, at: retirement.restore(
                doc, model=name, version=version, actor=actor, at=at, reason=reason
            ),
        )
        self._tag_archived(name, document, version)
        return document

    def check_servable(self, name: str, version: int) -> None:
        """GoneError when `version` (or its whole model) is retired."""
        error = retirement.gone(name, self.get_aliases(name), version)
        if error is not None:
            raise error

    def _check_target(self, name: str, version: int | None) -> None:
        if version is None:
            self.list_versions(name)  # NotFoundError naming the model
        else:
            self.get_metadata(name, version)  # ... or naming the versions that exist

    def _tag_archived(self, name: str, document: AliasesDocument, version: int | None) -> None:
        # After the document's write: running retire or restore again (a no-op on the
        # document) finishes tags a failure left half done.
        numbers = self.list_versions(name) if version is None else [version]
        for number in numbers:
            archived = retirement.version_retirement(document, number) is not None
            value = retirement.RETIRED_TAG_VALUE if archived else None
            folder = self._version_key(name, number, "")
            for key in self._store.list_keys(folder):
                if key[len(folder) :] in retirement.ARCHIVED_FILES:
                    with contextlib.suppress(ObjectMissing):
                        self._store.set_tag(key, retirement.RETIRED_TAG_KEY, value)

    def remove_alias(
        self,
        name: str,
        *,
        alias: str,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> AliasesDocument:
        """Remove a canary or shadow alias."""
        self.list_versions(name)
        return self._change_aliases(
            name,
            lambda doc, actor, at: alias_state.remove(
                doc, model=name, alias=alias, actor=actor, at=at, reason=reason
            ),
            expected_revision,
        )

    def _change_aliases(
        self,
        name: str,
        change: Callable[[AliasesDocument, str, str], AliasesDocument | None],
        expected_revision: int | None = None,
    ) -> AliasesDocument:
        document, etag = self._read_aliases(name)
        if expected_revision is not None and document.get("revision", 0) != expected_revision:
            raise ConflictError(
                f"the aliases of {name!r} moved on (revision {document.get('revision', 0)}, "
                f"expected {expected_revision}) since this decision was prepared; nothing "
                "was changed"
            )
        self._record_event(name, document.get("last_event"))
        changed = change(document, self._identity(), iso(self._clock()))
        if changed is None:
            return document
        key = self._model_key(name, "aliases.json")
        try:
            self._store.replace_json(key, changed, etag)
        except PreconditionFailed:
            raise ConflictError(
                f"the aliases of {name!r} were changed by someone else while this change was "
                f"prepared, so nothing was changed; check `sklambda history {name}` and retry"
            ) from None
        self._record_event(name, changed["last_event"])
        return changed

    def _record_event(self, name: str, event: AliasEvent | None) -> None:
        # Idempotent: the object for a revision is written once. Called again before the next
        # change, so a history write that failed after its alias move is repaired.
        if not event:
            return
        with contextlib.suppress(PreconditionFailed):
            self._store.put_json(
                self._history_key(name, event["revision"]), event, if_none_match=True
            )

    def _history_key(self, name: str, revision: int) -> str:
        return self._model_key(name, "history", f"{revision:010d}.json")

    def history(self, name: str, *, with_decisions: bool = False) -> list[dict[str, Any]]:
        """Every alias move of `name` (and retraining decisions, if asked), oldest first."""
        self.list_versions(name)
        events = {}
        for key in self._store.list_keys(self._model_key(name, "history") + "/"):
            event, _ = self._store.get_json(key)
            events[event["revision"]] = event
        last = self.get_aliases(name).get("last_event")
        if last:
            events.setdefault(last["revision"], last)
        moves = [events[r] for r in sorted(events)]
        if not with_decisions:
            return moves
        return sorted(moves + self.decisions(name), key=lambda e: str(e.get("at", "")))

    def record_decision(self, name: str, decision: Mapping[str, Any]) -> dict[str, Any]:
        """Keep a retraining or rollout decision (what, why, by whom) in the model's history."""
        at = iso(self._clock())
        event = {"at": at, "actor": self._identity(), **decision}
        stamp = at.replace("-", "").replace(":", "").replace(".", "")
        key = self._model_key(name, "decisions", f"{stamp}-{uuid.uuid4().hex[:8]}.json")
        self._store.put_json(key, event, if_none_match=True)
        return event

    def decisions(self, name: str) -> list[dict[str, Any]]:
        """Every retraining and rollout decision of `name`, oldest first."""
        found = []
        for key in self._store.list_keys(self._model_key(name, "decisions") + "/"):
            with contextlib.suppress(ObjectMissing):
                found.append(self._store.get_json(key)[0])
        return sorted(found, key=lambda e: str(e.get("at", "")))
