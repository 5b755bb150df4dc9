"""sklambda's Lambda functions. Handlers stay thin: parse, call chalicelib, map errors."""

from __future__ import annotations

from chalice import Chalice

from chalicelib import __version__

app = Chalice(app_name="sklambda")


@app.route("/health", methods=["GET"])
def health() -> dict[str, str]:
    """Liveness: answers without touching AWS, so it stays cheap and never needs auth."""
    return {"status": "ok", "version": __version__}
