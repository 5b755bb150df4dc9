"""Batch scoring of files dropped in S3: keys, readers and writers per format, column-wise
validation, the whole-file scorer and the fan-out of large files over the queue.

    _keys        where files come in and where their results go
    _lookup      which scored files and rows hold the predictions ground truth names
    _events      what arrives on the queue: S3 event records, chunk jobs
    _invocation  the Lambda invocation a message runs in: request id, time left
    _failures    what a manifest says when scoring stops on an error
    _claims      one worker at a time per job (an S3 lease)
    _outputs     scored and errors uploads, the manifest and the metrics
    _scorer      a file scored in one go
    _split       byte ranges of a large file on record boundaries
    _fanout      a large file scored in parts and assembled
    _jobs        per message: which path, retries, the partial batch response
    formats      CSV, JSON Lines and Parquet readers and writers, and the record rule
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.batch._claims import JobInProgress
    from chalicelib.batch._events import ObjectEvent, object_events, queue_url_of
    from chalicelib.batch._invocation import Invocation, OutOfTime
    from chalicelib.batch._jobs import BatchScorer, handle_sqs_event
    from chalicelib.batch._keys import (
        BatchLayout,
        BatchTarget,
        decode_event_key,
        has_unsafe_segment,
        job_id,
    )
    from chalicelib.batch._lookup import BatchPrediction, could_hold, labelled_rows
    from chalicelib.batch._outputs import Manifest
    from chalicelib.batch._validation import (
        FrameCheck,
        check_columns,
        check_frame,
        number_columns,
    )
    from chalicelib.batch.formats import (
        FORMATS,
        ID_COLUMN,
        Chunk,
        ParquetWriter,
        format_of,
        read_chunks,
        write_chunk,
    )

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
