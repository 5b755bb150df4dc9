"""The CloudFormation resources beside the functions, as the template Chalice merges.

`merge_template(stage)` returns the document `chalice package --merge-template` deep-merges
into its SAM template: new resources (buckets, signing key, registrar policy, batch, retrain
and aggregate queues and their DLQs, capture stream and its SQL table, alarms, dashboard, API
key) plus additions to Chalice's own (function names, bucket, queue and signing key
environment, the SQS triggers' queues and partial-batch responses, the retraining function's
memory). One deploy creates all of it.

One module a resource family: `_buckets` (models and data buckets, their KMS key),
`_signing` (the registry's signing key and its alias), `_registrar` (the managed policy for
the people who register models), `_batch_queue` (queue and DLQ), `_retrain_queue` (the
queue the monitor asks the retraining function through, and its DLQ), `_aggregate_queue`
(the queue the data bucket tells the aggregating function of landed capture, feedback and
batch manifests through, and its DLQ), `_capture` (log
subscription, Firehose, their roles), `_capture_table` (the Glue database and table Athena
queries the capture through), `_alarms` (topic, alarms, dashboard), `_api` (usage
plan and key), `_functions` (log groups, additions to Chalice's functions and API),
`_gateway_responses` (API Gateway's own errors in the API's error shape); `_chalice` holds
what the template takes from Chalice, `_intrinsics` the small builders they all use, `_merge`
the whole document.
"""

from sklambda.infra.resources._aggregate_queue import AGGREGATE_MAX_RECEIVES, aggregate_queue
from sklambda.infra.resources._alarms import NAMESPACE, alarms, dashboard
from sklambda.infra.resources._api import api_auth
from sklambda.infra.resources._batch_queue import VISIBILITY_FACTOR, batch_queue
from sklambda.infra.resources._buckets import (
    BLOCK_PUBLIC_ACCESS,
    DATA_BUCKET_NAME,
    MODELS_BUCKET_NAME,
    buckets,
    data_bucket_sends,
    encryption_key,
)
from sklambda.infra.resources._capture import CAPTURE_FILTER, capture
from sklambda.infra.resources._capture_table import (
    CAPTURE_DATABASE,
    CAPTURE_TABLE,
    CAPTURE_TABLE_NAME,
    DATE_FORMAT,
    DATE_PARTITION,
    HOUR_DIGITS,
    HOUR_PARTITION,
    JSON_SERDE,
    capture_columns,
    capture_table,
)
from sklambda.infra.resources._chalice import (
    AGGREGATE_FUNCTION,
    AGGREGATE_TIMEOUT,
    API_FUNCTION,
    API_ROUTES,
    API_STAGE,
    BATCH_FUNCTION,
    DEFAULT_TIMEOUT,
    FUNCTION_QUEUES,
    FUNCTION_SUFFIXES,
    MONITOR_FUNCTION,
    REST_API,
    RETRAIN_FUNCTION,
    RETRAIN_TIMEOUT,
    StageConfig,
)
from sklambda.infra.resources._functions import function_additions, log_groups
from sklambda.infra.resources._gateway_responses import (
    GatewayError,
    gateway_errors,
    gateway_responses,
)
from sklambda.infra.resources._intrinsics import arn_of, ref, sub, tls_only_statement
from sklambda.infra.resources._merge import merge_template, outputs, parameters
from sklambda.infra.resources._registrar import REGISTRAR_POLICY, registrar_policy
from sklambda.infra.resources._retrain_queue import RETRAIN_MAX_RECEIVES, retrain_queue
from sklambda.infra.resources._signing import (
    SIGNING_KEY,
    SIGNING_KEY_ALIAS,
    SIGNING_KEY_SPEC,
    SIGNING_KEY_USAGE,
    signing_key,
)

__all__ = [
    "AGGREGATE_FUNCTION",
    "AGGREGATE_MAX_RECEIVES",
    "AGGREGATE_TIMEOUT",
    "API_FUNCTION",
    "API_ROUTES",
    "API_STAGE",
    "BATCH_FUNCTION",
    "BLOCK_PUBLIC_ACCESS",
    "CAPTURE_DATABASE",
    "CAPTURE_FILTER",
    "CAPTURE_TABLE",
    "CAPTURE_TABLE_NAME",
    "DATE_FORMAT",
    "DATE_PARTITION",
    "HOUR_DIGITS",
    "HOUR_PARTITION",
    "JSON_SERDE",
    "DATA_BUCKET_NAME",
    "DEFAULT_TIMEOUT",
    "FUNCTION_QUEUES",
    "FUNCTION_SUFFIXES",
    "GatewayError",
    "MODELS_BUCKET_NAME",
    "MONITOR_FUNCTION",
    "NAMESPACE",
    "REGISTRAR_POLICY",
    "REST_API",
    "RETRAIN_FUNCTION",
    "RETRAIN_MAX_RECEIVES",
    "RETRAIN_TIMEOUT",
    "SIGNING_KEY",
    "SIGNING_KEY_ALIAS",
    "SIGNING_KEY_SPEC",
    "SIGNING_KEY_USAGE",
    "VISIBILITY_FACTOR",
    "StageConfig",
    "aggregate_queue",
    "alarms",
    "api_auth",
    "arn_of",
    "batch_queue",
    "buckets",
    "data_bucket_sends",
    "capture",
    "capture_columns",
    "capture_table",
    "dashboard",
    "encryption_key",
    "function_additions",
    "gateway_errors",
    "gateway_responses",
    "log_groups",
    "merge_template",
    "outputs",
    "parameters",
    "ref",
    "registrar_policy",
    "retrain_queue",
    "signing_key",
    "sub",
    "tls_only_statement",
]
