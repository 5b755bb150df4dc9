"""Small builders every resource family uses: intrinsic functions and the TLS-only statement."""

from __future__ import annotations

from typing import Any


def sub(text: str) -> dict[str, str]:
    """`Fn::Sub` of `text`: ${...} placeholders resolved by CloudFormation."""
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    """`Ref` of a parameter, resource or pseudo parameter."""
    return {"Ref": name}


def arn_of(name: str) -> dict[str, list[str]]:
    """The ARN of the resource `name` (`Fn::GetAtt`)."""
    return {"Fn::GetAtt": [name, "Arn"]}


def tls_only_statement(service: str, resource: Any) -> dict[str, Any]:
    """Deny every request to `resource` that does not come over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": f"{service}:*",
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
