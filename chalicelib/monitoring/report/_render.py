"""The monitor report (format 1) as one self-contained HTML page, rendered by Jinja2.

Inline CSS and inline SVG only: no scripts, stylesheets, fonts or images from anywhere, so the
page can be mailed, attached or opened from S3 as is, printed, and served under the API's
CSP (`default-src 'none'; style-src 'unsafe-inline'; img-src data:`). Every string from the
report (model, feature names, bin labels, categories, aliases, reasons...) is untrusted:
`_page` turns the report into plain data and text, and the templates escape all of it
(autoescaping is on for every template, and nothing is marked safe). Missing or null values
render as gaps in charts and as words in tables ("missing", "not measured", "no labels yet":
see `_format.present`), never as blank cells.

Importing this module is cheap: the API's monitor only reads stored pages, so Jinja2 and the
page's modules load on the first render.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

# The package's own directory: templates/ and report.css are read from beside this module,
# so a plain copy of chalicelib/ (what Chalice zips) renders without installed metadata.
HERE = Path(__file__).resolve().parent
PAGE_TEMPLATE = "templates/report.html.j2"
CATALOG_TEMPLATE = "templates/catalog.html.j2"


def render_report_html(report: Mapping[str, Any]) -> str:
    """One self-contained HTML page for a monitor report (format 1)."""
    from chalicelib.monitoring.report._page import build_page

    return environment().get_template(PAGE_TEMPLATE).render(page=build_page(report))


def render_catalog_html(catalog: Mapping[str, Any]) -> str:
    """One self-contained HTML page for the catalog (monitoring/_catalog), same stylesheet,
    helpers and escaping as the report."""
    from chalicelib.monitoring.report._catalog_page import build_catalog_page

    return environment().get_template(CATALOG_TEMPLATE).render(page=build_catalog_page(catalog))


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment, built on first use and kept for the process: a warm Lambda
    reuses it and the templates it compiled."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE),
        # On for every template whatever its name: the report's text is untrusted. (The
        # templates are named *.j2, which select_autoescape would not match by default.)
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the render, never blanks
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # the files never change under a running process
    )
