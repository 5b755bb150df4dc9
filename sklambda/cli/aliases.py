"""Registry commands that move aliases, and their history: promote, rollback, demote,
history; and retire, restore (what may hold an alias and serve).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.output import Result

if TYPE_CHECKING:
    from chalicelib.registry import AliasesDocument

from sklambda.cli.params import argument, option

ALIAS_COLUMNS = ["alias", "version", "weight", "previous", "updated_at", "updated_by"]
HISTORY_COLUMNS = [
    "revision",
    "at",
    "action",
    "alias",
    "from_version",
    "to_version",
    "weight",
    "actor",
    "reason",
]
REASON_HELP = "recorded in the history"
RETIRED_COLUMNS = ["retired", "reason", "at", "by"]


@command("promote", help="Point an alias (default champion) at a version.")
@argument("name", help="model name")
@argument("version", type=int, help="the version the alias will point to")
@option("--alias", default="champion", help="champion (default), canary, shadow")
@option("--weight", type=float, help="share of traffic for a canary, 0-1 (default 0.1)")
@option("--reason", default="", help=REASON_HELP)
def promote(
    factory: CliFactory, name: str, version: int, alias: str, weight: float | None, reason: str
) -> Result:
    document = factory.create_registry().promote(
        name, version, alias=alias, weight=weight, reason=reason
    )
    return alias_result(name, document)


@command("rollback", help="Move an alias back to the version it pointed to before.")
@argument("name", help="model name")
@option("--alias", default="champion", help="the alias to move back (default champion)")
@option("--reason", default="", help=REASON_HELP)
def rollback(factory: CliFactory, name: str, alias: str, reason: str) -> Result:
    document = factory.create_registry().rollback(name, alias=alias, reason=reason)
    return alias_result(name, document)


@command("demote", help="Remove a canary or shadow alias.")
@argument("name", help="model name")
@option("--alias", required=True, help="canary or shadow")
@option("--reason", default="", help=REASON_HELP)
def demote(factory: CliFactory, name: str, alias: str, reason: str) -> Result:
    document = factory.create_registry().remove_alias(name, alias=alias, reason=reason)
    return alias_result(name, document)


@command(
    "retire",
    help="Retire a version, or the whole model, with a reason.\n\n"
    "A retired version (--version N) or model serves nothing (HTTP 410), cannot be promoted "
    "and is not monitored; its artifacts move to Glacier Instant Retrieval after the stack's "
    "RetiredArtifactsDays (30). What holds an alias cannot be retired. Undo with "
    "`sklambda restore`.",
)
@argument("name", help="model name")
@option("--version", type=int, help="the version to retire (default: the whole model)")
@option("--reason", required=True, help="why; recorded in the history")
def retire(factory: CliFactory, name: str, version: int | None, reason: str) -> Result:
    document = factory.create_registry().retire(name, version, reason=reason)
    return retired_result(name, document)


@command(
    "restore",
    help="Put a retired version, or the whole model, back in service.\n\n"
    "It serves and can be promoted again (a model comes back with its champion). Its "
    "artifacts lose the retired tag; those already moved to Glacier Instant Retrieval stay "
    "there and still load at once.",
)
@argument("name", help="model name")
@option("--version", type=int, help="the version to restore (default: the whole model)")
@option("--reason", default="", help=REASON_HELP)
def restore(factory: CliFactory, name: str, version: int | None, reason: str) -> Result:
    document = factory.create_registry().restore(name, version, reason=reason)
    return retired_result(name, document)


def retired_result(name: str, document: AliasesDocument) -> Result:
    """What of a model is retired after a retire or restore: one row per retirement."""
    from chalicelib.registry import model_retirement

    state = document.get("retired") or {"versions": {}}
    rows = []
    whole = model_retirement(document)
    if whole is not None:
        rows.append({"retired": "the whole model", **whole})
    for number, entry in sorted(state["versions"].items(), key=lambda item: int(item[0])):
        rows.append({"retired": f"version {number}", **entry})
    data = {
        "model": name,
        "revision": document["revision"],
        "retired": rows,
        "last_event": document["last_event"],
    }
    return Result(data, table=lambda: rows or [{"retired": "nothing"}], columns=RETIRED_COLUMNS)


def alias_result(name: str, document: AliasesDocument) -> Result:
    """A model's aliases after a move: the document (json), one row per alias (table)."""
    rows = [
        {
            "alias": alias,
            "version": entry["version"],
            "weight": entry.get("weight"),
            "previous": entry["previous"] or None,
            "updated_at": entry["updated_at"],
            "updated_by": entry["updated_by"],
        }
        for alias, entry in sorted(document["aliases"].items())
    ]
    data = {
        "model": name,
        "revision": document["revision"],
        "aliases": rows,
        "last_event": document["last_event"],
    }
    return Result(data, table=lambda: rows, columns=ALIAS_COLUMNS)


@command("history", help="Show every alias move and decision of a model.")
@argument("name", help="model name")
@option(
    "--moves-only",
    is_flag=True,
    help="alias moves only, without retrain decisions",
)
def history(factory: CliFactory, name: str, moves_only: bool) -> Result:
    # Decisions name their version "version"; as "to_version" they fill the moves' column.
    events = [
        {"to_version": e.get("version"), **e} if "revision" not in e else e
        for e in factory.create_registry().history(name, with_decisions=not moves_only)
    ]
    return Result(events, columns=HISTORY_COLUMNS)


COMMANDS = [promote, rollback, demote, history, retire, restore]
