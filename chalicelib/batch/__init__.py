"""Batch scoring of files dropped in S3: keys, readers and writers per format, column-wise
validation, the whole-file scorer and the fan-out of large files over the queue.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.batch._keys import BatchLayout, BatchTarget, decode_event_key, job_id
    from chalicelib.batch._scorer import BatchScorer, JobInProgress, ObjectEvent, handle_messages
    from chalicelib.batch._validation import FrameCheck, check_columns, check_frame
    from chalicelib.batch.formats import (
        FORMATS,
        Chunk,
        ParquetWriter,
        format_of,
        read_chunks,
        write_chunk,
    )

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
