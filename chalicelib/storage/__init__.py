"""Storage: boto3 clients (created lazily, in one place), S3 objects and conditional writes,
multipart uploads and leases. AWS failures leave as sklambda errors that say what to fix.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.storage._clients import AwsClients, caller_identity, default_clients
    from chalicelib.storage._leases import Lease, LeaseHeld, take_lease
    from chalicelib.storage._multipart import MultipartWriter
    from chalicelib.storage._objects import (
        JSON,
        ObjectMissing,
        ObjectStore,
        PreconditionFailed,
        json_bytes,
        translate_aws_errors,
    )

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
