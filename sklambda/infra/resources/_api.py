"""API auth resources: a usage plan and a first key when the stage uses API keys."""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._chalice import API_STAGE, REST_API, StageConfig
from sklambda.infra.resources._intrinsics import ref, sub

# The usage plan's throttle per key (requests a second, and the burst above it).
THROTTLE_RATE = 100
THROTTLE_BURST = 200


def api_auth(config: StageConfig) -> dict[str, Any]:
    """A usage plan and a first API key for api_key mode; IAM mode needs nothing here."""
    if config.api_auth != "api_key":
        return {}
    stage_id = f"{REST_API}{API_STAGE}Stage"  # the stage SAM makes for the API
    return {
        "ApiKey": {
            "Type": "AWS::ApiGateway::ApiKey",
            "DependsOn": [stage_id],
            "Properties": {
                "Name": sub("${AWS::StackName}-default"),
                "Description": "First consumer key; add one per consumer for chargeback",
                "Enabled": True,
            },
        },
        "UsagePlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "DependsOn": [stage_id],
            "Properties": {
                "UsagePlanName": sub("${AWS::StackName}"),
                "ApiStages": [{"ApiId": ref(REST_API), "Stage": API_STAGE}],
                "Throttle": {"RateLimit": THROTTLE_RATE, "BurstLimit": THROTTLE_BURST},
            },
        },
        "UsagePlanKey": {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": ref("ApiKey"),
                "KeyType": "API_KEY",
                "UsagePlanId": ref("UsagePlan"),
            },
        },
    }
