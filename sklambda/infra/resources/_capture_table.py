"""SQL over the capture: a Glue database and table Athena reads the capture objects through.

The table is only a schema over what Firehose already writes (see `_capture`): gzipped
objects of one JSON capture record per line under `<capture prefix>YYYY/MM/DD/HH/`, the UTC
hour of delivery. Its columns are the capture record's fields (`CAPTURE_FIELDS`, kept beside
the capture code); the OpenX JSON SerDe reads the .gz objects as they are and ignores the
`sklambda_capture` marker, which has no column.

Partitions are projected, not registered: Athena computes `dt` (yyyy/MM/dd) and `hour` (00-23)
from the query's predicates and reads only those hours' folders, so no crawler, no
`MSCK REPAIR TABLE` and nothing to keep up to date as hours arrive. The projected dates reach
back as far as the capture is kept (`CaptureRetentionDays`).

Nothing here is granted to a function: the table is for the people who query the capture,
with their own Athena, Glue and S3 (and, in KMS mode, the data key's) permissions.
"""

from __future__ import annotations

from typing import Any

from chalicelib.serving._capture import CAPTURE_FIELDS
from sklambda.infra.resources._chalice import StageConfig
from sklambda.infra.resources._intrinsics import ref, sub

CAPTURE_DATABASE = "CaptureDatabase"
CAPTURE_TABLE = "CaptureTable"
CAPTURE_TABLE_NAME = "capture"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
# Firehose's default time prefix is YYYY/MM/dd/HH (UTC); these two columns spell it.
DATE_PARTITION, DATE_FORMAT = "dt", "yyyy/MM/dd"
HOUR_PARTITION, HOUR_DIGITS = "hour", 2


def capture_columns() -> list[dict[str, str]]:
    """The table's columns: one a capture record field, with its SQL type."""
    return [{"Name": name, "Type": kind} for name, kind in CAPTURE_FIELDS.items()]


def capture_table(config: StageConfig) -> dict[str, Any]:
    """The Glue database (named after the stack) and the capture table in it."""
    prefix = config.capture_prefix
    # Glue and Athena want lowercase names with underscores; stack names are lowercase
    # letters, digits and hyphens (sklambda.infra.deploy.stack_name), so swap the hyphens.
    database_name = {"Fn::Join": ["_", {"Fn::Split": ["-", ref("AWS::StackName")]}]}
    projection = {
        "projection.enabled": "true",
        f"projection.{DATE_PARTITION}.type": "date",
        f"projection.{DATE_PARTITION}.format": DATE_FORMAT,
        # Older objects are expired by the data bucket's lifecycle rule: no need to look.
        f"projection.{DATE_PARTITION}.range": sub("NOW-${CaptureRetentionDays}DAYS,NOW"),
        f"projection.{DATE_PARTITION}.interval": "1",
        f"projection.{DATE_PARTITION}.interval.unit": "DAYS",
        f"projection.{HOUR_PARTITION}.type": "integer",
        f"projection.{HOUR_PARTITION}.range": "0,23",
        f"projection.{HOUR_PARTITION}.digits": str(HOUR_DIGITS),
        # ${!name} is Fn::Sub's escape: Athena, not CloudFormation, fills these in.
        "storage.location.template": sub(
            f"s3://${{DataBucket}}/{prefix}${{!{DATE_PARTITION}}}/${{!{HOUR_PARTITION}}}/"
        ),
    }
    table_input = {
        "Name": CAPTURE_TABLE_NAME,
        "Description": "Inference capture: one row a scored record (or failed request)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "json", "compressionType": "gzip", **projection},
        "PartitionKeys": [
            {"Name": DATE_PARTITION, "Type": "string", "Comment": "UTC day, yyyy/MM/dd"},
            {"Name": HOUR_PARTITION, "Type": "string", "Comment": "UTC hour, 00-23"},
        ],
        "StorageDescriptor": {
            "Columns": capture_columns(),
            "Location": sub(f"s3://${{DataBucket}}/{prefix}"),
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "Compressed": True,  # Firehose gzips; the SerDe reads .gz objects as they are
            "SerdeInfo": {
                "SerializationLibrary": JSON_SERDE,
                # A torn or foreign line reads as nulls instead of failing the whole query.
                "Parameters": {"ignore.malformed.json": "true"},
            },
        },
    }
    return {
        CAPTURE_DATABASE: {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": database_name,
                    "Description": sub("sklambda stack ${AWS::StackName}: inference capture"),
                },
            },
        },
        CAPTURE_TABLE: {
            "Type": "AWS::Glue::Table",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseName": ref(CAPTURE_DATABASE),
                "TableInput": table_input,
            },
        },
    }
