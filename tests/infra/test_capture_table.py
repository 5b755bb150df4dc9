"""The capture's SQL table: a Glue table over what Firehose writes, read like Athena would.

Athena is not in moto, so the table is checked on the template: its location and projected
partitions are resolved as Athena resolves them and compared with the keys Firehose writes
(the layout the monitor reads too); its columns are compared with records the serving code
really captures; and no function is granted Glue or Athena.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.monitoring._hours import capture_hour_prefix
from chalicelib.registry import Registry
from chalicelib.serving import (
    Capturer,
    LogCaptureSink,
    ModelServer,
    RequestInfo,
    parse_capture_line,
)
from chalicelib.serving._capture import CAPTURE_FIELDS, CAPTURE_MARKER
from sklambda.infra.build import build
from sklambda.infra.deploy import MAX_STACK_NAME, stack_name
from sklambda.infra.resources import (
    CAPTURE_TABLE_NAME,
    JSON_SERDE,
    StageConfig,
    merge_template,
)
from sklambda.infra.template import policy_statements
from sklambda.sample_data import FEATURES, TARGET, churn_frame
from tests.models import fitted_logreg, fitted_regressor, training_frame

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "sklambda-prod-data-123456789012-eu-west-1"
RETENTION_DAYS = "90"


def table_of(template: dict[str, Any]) -> dict[str, Any]:
    (table,) = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Glue::Table"]
    return table["Properties"]["TableInput"]


def firehose_destination(template: dict[str, Any]) -> dict[str, Any]:
    stream = template["Resources"]["CaptureStream"]["Properties"]
    return stream["ExtendedS3DestinationConfiguration"]


def resolved(node: Any) -> str:
    """A Fn::Sub as CloudFormation renders it for the test stack: `${!x}` stays `${x}`."""
    text = node["Fn::Sub"] if isinstance(node, dict) else node
    values = {"DataBucket": BUCKET, "CaptureRetentionDays": RETENTION_DAYS}
    return re.sub(
        r"\$\{(!?)([^}]+)\}",
        lambda m: "${" + m.group(2) + "}" if m.group(1) else values[m.group(2)],
        text,
    )


def projected_location(table: dict[str, Any], hour: datetime) -> str:
    """The folder Athena reads for the partition of `hour`, from the projection settings."""
    parameters = table["Parameters"]
    java_to_strftime = {"yyyy": "%Y", "MM": "%m", "dd": "%d"}
    date_format = re.sub(
        "yyyy|MM|dd", lambda m: java_to_strftime[m.group()], parameters["projection.dt.format"]
    )
    digits = int(parameters["projection.hour.digits"])
    values = {"dt": hour.strftime(date_format), "hour": str(hour.hour).zfill(digits)}
    template = resolved(parameters["storage.location.template"])
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The deployable template, built as `sklambda deploy` builds it."""
    out = tmp_path_factory.mktemp("build")
    return build(ROOT, "prod", out, with_dependencies=False, slim=False).template


def test_the_deployed_stack_has_the_capture_database_and_table(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    database = resources["CaptureDatabase"]
    assert database["Type"] == "AWS::Glue::Database"
    table = resources["CaptureTable"]["Properties"]
    assert table["DatabaseName"] == {"Ref": "CaptureDatabase"}
    assert table["TableInput"]["Name"] == CAPTURE_TABLE_NAME
    assert table["TableInput"]["TableType"] == "EXTERNAL_TABLE"
    assert packaged["Outputs"]["CaptureDatabaseName"] == {"Value": {"Ref": "CaptureDatabase"}}
    assert packaged["Outputs"]["CaptureTableName"] == {"Value": {"Ref": "CaptureTable"}}


@pytest.mark.parametrize("stack", ["sklambda-prod", "a" * (MAX_STACK_NAME - 4) + "-x-1"])
def test_the_database_is_named_after_the_stack_in_glue_s_alphabet(stack: str) -> None:
    database = merge_template(StageConfig("prod"))["Resources"]["CaptureDatabase"]
    name = database["Properties"]["DatabaseInput"]["Name"]
    # Fn::Join of Fn::Split, evaluated as CloudFormation does.
    separator, (split, source) = name["Fn::Join"][0], name["Fn::Join"][1]["Fn::Split"]
    assert source == {"Ref": "AWS::StackName"}
    rendered = separator.join(stack_name("prod", stack).split(split))
    assert re.fullmatch(r"[a-z][a-z0-9_]*", rendered) and len(rendered) <= 255
    assert rendered == stack.replace("-", "_")


@pytest.mark.parametrize("prefix", ["capture/", "inference/capture/"])
def test_the_table_reads_the_capture_prefix_of_the_data_bucket(prefix: str) -> None:
    template = merge_template(StageConfig("prod", capture_prefix=prefix))
    table = table_of(template)
    location = resolved(table["StorageDescriptor"]["Location"])
    assert location == f"s3://{BUCKET}/{prefix}"
    # Firehose writes under the very same prefix, and its error objects outside it.
    destination = firehose_destination(template)
    assert destination["Prefix"] == prefix
    assert not destination["ErrorOutputPrefix"].startswith(prefix)
    # The capture's lifecycle rule expires that prefix; the projection looks back as far.
    (rule,) = [
        r
        for r in template["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"][
            "Rules"
        ]
        if r.get("Prefix") == prefix
    ]
    assert rule["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
    assert resolved(table["Parameters"]["projection.dt.range"]) == f"NOW-{RETENTION_DAYS}DAYS,NOW"


def test_a_capture_prefix_set_without_its_slash_reads_as_the_functions_read_it(
    tmp_path: Path,
) -> None:
    (tmp_path / ".chalice").mkdir()
    env = {"SKLAMBDA_CAPTURE_PREFIX": "/inference/capture"}
    config = {"stages": {"prod": {"environment_variables": env}}}
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    stage = StageConfig.from_chalice(tmp_path, "prod")
    assert stage.capture_prefix == "inference/capture/"  # what chalicelib's settings make of it
    template = merge_template(stage)
    assert firehose_destination(template)["Prefix"] == "inference/capture/"
    assert resolved(table_of(template)["StorageDescriptor"]["Location"]).endswith(
        "/inference/capture/"
    )


@pytest.mark.parametrize("prefix", ["capture/", "inference/capture/"])
@pytest.mark.parametrize(
    "hour",
    [datetime(2026, 1, 5, 3, tzinfo=UTC), datetime(2026, 12, 31, 23, tzinfo=UTC)],
    ids=["early-in-the-year", "last-hour-of-the-year"],
)
def test_projected_partitions_name_the_folders_firehose_delivers_to(
    prefix: str, hour: datetime
) -> None:
    template = merge_template(StageConfig("prod", capture_prefix=prefix))
    table = table_of(template)
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour"]
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.interval.unit"] == "DAYS"
    assert parameters["projection.hour.type"] == "integer"
    assert parameters["projection.hour.range"] == "0,23"
    # Without !{timestamp} expressions in its prefix, Firehose appends YYYY/MM/dd/HH/ (UTC),
    # the layout the monitor lists too (capture_hour_prefix).
    assert "!{" not in firehose_destination(template)["Prefix"]
    firehose_folder = f"s3://{BUCKET}/{capture_hour_prefix(prefix, hour)}"
    assert projected_location(table, hour) == firehose_folder


def test_the_table_reads_gzipped_json_lines_with_the_openx_serde() -> None:
    template = merge_template(StageConfig("prod"))
    storage = table_of(template)["StorageDescriptor"]
    assert storage["SerdeInfo"]["SerializationLibrary"] == JSON_SERDE
    assert storage["SerdeInfo"]["Parameters"]["ignore.malformed.json"] == "true"
    assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert table_of(template)["Parameters"]["classification"] == "json"
    # Firehose gzips (the SerDe reads .gz objects as they are) and keeps only the log
    # messages, so each line is a bare capture record, not a CloudWatch Logs envelope.
    destination = firehose_destination(template)
    assert destination["CompressionFormat"] == "GZIP" and storage["Compressed"] is True
    processors = {p["Type"]: p for p in destination["ProcessingConfiguration"]["Processors"]}
    assert processors["CloudWatchLogProcessing"]["Parameters"] == [
        {"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}
    ]
    assert "AppendDelimiterToRecord" in processors  # one record a line


# -- the columns against records the server really captures ---------------------------------
def served_capture(registry: Registry) -> list[dict[str, Any]]:
    """Capture records of a classifier and its shadow, a regressor, and a request that failed
    on the server."""
    for _ in range(2):  # the champion, and a shadow scored beside it
        registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    registry.promote("churn", 2, alias="shadow")
    frame = training_frame()[["tenure_months", "age", "monthly_charges"]]
    registry.register("charges", fitted_regressor(), frame, "monthly_charges")
    registry.promote("charges", 1)
    out = io.StringIO()
    server = ModelServer(registry, Capturer(LogCaptureSink(out)), ttl_seconds=0)
    rows = churn_frame(3, seed=11)[FEATURES]
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    server.predict("churn", json.dumps({"records": records}), "application/json", {}, info())
    explain = {"explain": "true"}
    server.predict("churn", json.dumps({"records": records}), "application/json", explain, info())
    numbers = [{"tenure_months": 12, "age": 40}]
    server.predict("charges", json.dumps({"records": numbers}), "application/json", {}, info())

    def broken(name: str, version: int) -> Any:
        raise RuntimeError("the model file is unreadable")

    server.scorer = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        server.predict("churn", json.dumps({"records": records}), "application/json", {}, info())
    lines = [parse_capture_line(line) for line in out.getvalue().splitlines()]
    return [line for line in lines if line is not None]


def info() -> RequestInfo:
    return RequestInfo(request_id="req-1", consumer="tests")


def fits(value: Any, kind: str) -> bool:
    """Whether the OpenX JSON SerDe reads `value` as a column of type `kind`."""
    if value is None:
        return True
    scalar = isinstance(value, str | int | float | bool)
    if kind == "string":
        return scalar  # numbers and booleans read as their text
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "map<string,string>":
        return isinstance(value, dict) and all(
            v is None or isinstance(v, str | int | float | bool) for v in value.values()
        )
    if kind == "map<string,double>":
        return isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values())
    if kind.startswith("struct<"):
        return isinstance(value, dict) and all(
            fits(v, _struct_fields(kind)[k]) for k, v in value.items()
        )
    if kind.startswith("map<string,struct<"):
        return isinstance(value, dict) and all(
            fits(v, kind[len("map<string,") : -1]) for v in value.values()
        )
    raise AssertionError(f"no check for {kind}")


def _struct_fields(kind: str) -> dict[str, str]:
    """The field types of a `struct<name:type,...>` column, nested types kept whole."""
    fields, depth, start = {}, 0, len("struct<")
    for i, char in enumerate(kind[start:-1] + ",", start):
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            name, _, kind_of = kind[start:i].partition(":")
            fields[name] = kind_of
            start = i + 1
    return fields


def test_the_columns_cover_every_field_the_server_captures(registry: Registry) -> None:
    captured = served_capture(registry)
    assert {r["model"] for r in captured} == {"churn", "charges"}
    assert {r["role"] for r in captured} == {"primary", "shadow"}
    assert any(r.get("probabilities") for r in captured)  # the classifier's
    assert any(r.get("error") for r in captured)  # the failed request's
    columns = {
        c["Name"]: c["Type"]
        for c in table_of(merge_template(StageConfig("prod")))["StorageDescriptor"]["Columns"]
    }
    assert columns == CAPTURE_FIELDS  # the one definition, as the table's columns
    fields = set().union(*captured) - {CAPTURE_MARKER}
    assert fields == set(columns), "a captured field has no column, or a column no field"
    for record in captured:
        for name, value in record.items():
            if name != CAPTURE_MARKER:
                assert fits(value, columns[name]), (name, value, columns[name])
    # Column names are lowercase: the SerDe matches JSON keys case-insensitively.
    assert all(name == name.lower() for name in columns)


def test_no_function_is_granted_glue_or_athena(packaged: dict[str, Any]) -> None:
    granted = [
        (role, action)
        for role, statement in policy_statements(packaged)
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if str(action).lower().startswith(("glue:", "athena:"))
    ]
    assert granted == []


@pytest.mark.parametrize("reports", ["reports/", "monitoring/reports/"])
def test_the_monitor_s_hourly_partials_expire_with_the_capture(reports: str) -> None:
    from chalicelib.monitoring._partials import PartialStore, hour_slice

    config = StageConfig("prod", reports_prefix=reports)
    bucket = merge_template(config)["Resources"]["DataBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    hour = hour_slice(datetime(2026, 5, 1, 7, tzinfo=UTC))
    partial_key = PartialStore(None, reports).key("churn", 3, hour)  # type: ignore[arg-type]

    assert partial_key.startswith(rules["ExpireCapturePartials"]["Prefix"])
    expiry = rules["ExpireCapturePartials"]["ExpirationInDays"]
    assert expiry == rules["ExpireCapture"]["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
