from __future__ import annotations

import json
from pathlib import Path

import pytest
from chalice import IAMAuthorizer

from chalicelib.api import consumer_of, route_auth

ROOT = Path(__file__).resolve().parents[2]


def test_api_key_is_the_default_and_iam_or_none_can_be_chosen() -> None:
    assert route_auth({}) == {"api_key_required": True}
    assert isinstance(route_auth({"SKLAMBDA_API_AUTH": "iam"})["authorizer"], IAMAuthorizer)
    assert route_auth({"SKLAMBDA_API_AUTH": "none"}) == {}
    with pytest.raises(ValueError, match="api_key, iam, none"):
        route_auth({"SKLAMBDA_API_AUTH": "password"})


def test_prod_stage_turns_auth_on() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {**config["environment_variables"], **config["stages"]["prod"]["environment_variables"]}
    assert route_auth(env) != {}


def test_every_route_but_health_requires_auth() -> None:
    import app as app_module

    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            protected = entry.api_key_required or entry.authorizer is not None
            assert protected == (path != "/health"), (method, path)


def test_consumer_is_the_api_key_then_the_iam_principal() -> None:
    assert consumer_of({"identity": {"apiKeyId": "k1", "userArn": "arn:x"}}) == "k1"
    assert consumer_of({"identity": {"userArn": "arn:aws:iam::1:user/ana"}}) == (
        "arn:aws:iam::1:user/ana"
    )
    assert consumer_of({}) == "anonymous"
