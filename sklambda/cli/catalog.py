"""The catalog: every model with its owner, live versions, last verdict, usage and batch files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.output import Result
from sklambda.cli.params import PathType, option

if TYPE_CHECKING:
    from chalicelib.monitoring import Catalog

COLUMNS = [
    "model",
    "owner",
    "team",
    "live",
    "verdict",
    "metric",
    "value",
    "api_records_7d",
    "consumers",
    "batch_files_7d",
    "batch_rows_7d",
    "last_report",
]


@command(
    "catalog",
    help="List every model: owner and team, live versions and traffic split, last monitor "
    "verdict, accuracy, consumers and batch files of the last 7 days.",
)
@option("--save-html", type=PathType(), metavar="FILE", help="also save the catalog page")
def catalog(factory: CliFactory, save_html: Path | None) -> Result:
    from chalicelib.services import catalog_sources

    document = catalog_sources(factory.create_clients(), factory.create_registry()).catalog()
    if save_html:
        from chalicelib.monitoring.report import render_catalog_html

        save_html.write_text(render_catalog_html(document), encoding="utf-8")
    return Result(document, table=lambda: catalog_rows(document), columns=COLUMNS)


def catalog_rows(document: Catalog) -> list[dict[str, Any]]:
    """One line per model, for --output table."""
    rows = []
    for entry in document["models"]:
        monitoring, usage, batch = entry["monitoring"], entry["usage"], entry["batch"]
        rows.append(
            {
                "model": entry["name"],
                "owner": entry["owner"],
                "team": entry["team"],
                "live": " ".join(
                    f"{live['alias']}:v{live['version']}"
                    + (f"@{live['share'] * 100:g}%" if live["alias"] != "shadow" else "")
                    for live in entry["live"]
                ),
                "verdict": monitoring["status"] if monitoring["at"] else "no report yet",
                "metric": monitoring["metric"],
                "value": monitoring["value"],
                "api_records_7d": usage["records"],
                "consumers": ",".join(c["consumer"] for c in usage["consumers"]) or None,
                "batch_files_7d": batch["files"],
                "batch_rows_7d": batch["rows_scored"],
                "last_report": monitoring["at"],
            }
        )
    return rows


COMMANDS = [catalog]
