"""Finishing touches on the template Chalice wrote, and the checks a reviewer would make.

The policy files in .chalice/ name resources with placeholders CloudFormation resolves
(`${ModelsBucket}`, `${BatchQueue.Arn}`, `${RetrainQueue.Arn}`, `${AggregateQueue.Arn}`,
`${AWS::StackName}`); Chalice copies them verbatim, so every string that holds one is wrapped
in `Fn::Sub` here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sklambda.infra.resources import FUNCTION_QUEUES

ROLE_TYPE = "AWS::IAM::Role"
MANAGED_POLICY_TYPE = "AWS::IAM::ManagedPolicy"


def finish(template: dict[str, Any]) -> dict[str, Any]:
    """The template with the roles' policy placeholders resolved by CloudFormation."""
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != ROLE_TYPE:
            continue
        for policy in resource.get("Properties", {}).get("Policies", []):
            policy["PolicyDocument"] = _substituted(policy["PolicyDocument"])
    _triggers_on_stack_queues(template)
    template.setdefault(
        "Description",
        "sklambda: scikit-learn models served, batch-scored and monitored on AWS Lambda",
    )
    return template


def _triggers_on_stack_queues(template: dict[str, Any]) -> None:
    # Chalice names each queue by an ARN made from its name in app.py; the stack makes the
    # queues, so each SQS-triggered function is pointed at its own.
    for name, resource in template.get("Resources", {}).items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "SQS":
                if name not in FUNCTION_QUEUES:
                    raise ValueError(f"{name} is triggered by SQS; the stack has no queue for it")
                event["Properties"]["Queue"] = {"Fn::GetAtt": [FUNCTION_QUEUES[name], "Arn"]}


def _substituted(node: Any) -> Any:
    if isinstance(node, str):
        return {"Fn::Sub": node} if "${" in node else node
    if isinstance(node, list):
        return [_substituted(item) for item in node]
    if isinstance(node, dict):
        if len(node) == 1 and next(iter(node)).startswith(("Fn::", "Ref")):
            return node  # already an intrinsic function
        return {key: _substituted(value) for key, value in node.items()}
    return node


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) for every statement of every role's inline policies and of
    every managed policy the stack makes (the registrar policy is a grant like the roles')."""
    for name, resource in template.get("Resources", {}).items():
        kind, properties = resource.get("Type"), resource.get("Properties", {})
        if kind == MANAGED_POLICY_TYPE:
            documents = [properties["PolicyDocument"]]
        elif kind == ROLE_TYPE:
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        else:
            continue
        for document in documents:
            for statement in _document_statements(document):
                yield name, statement
        if properties.get("ManagedPolicyArns"):  # a role's attached policies: not in the template
            yield name, {"Effect": "Allow", "Action": "*", "Resource": "*", "Managed": True}


def _document_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def wildcard_grants(template: dict[str, Any]) -> list[str]:
    """What a least-privilege review would reject: any Allow of `*` or `service:*` actions,
    any Allow on `*` resources without a condition, and roles attaching managed policies
    (not reviewed here; the stack's own managed policies are, statement by statement).
    """
    problems = []
    for role, statement in policy_statements(template):
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("Managed"):
            problems.append(f"{role}: attaches managed policies")
            continue
        for action in _as_list(statement.get("Action")):
            if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                problems.append(f"{role}: allows every action ({action})")
        if "*" in _as_list(statement.get("Resource")) and not statement.get("Condition"):
            problems.append(f"{role}: allows {statement.get('Action')} on every resource")
    return problems


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
