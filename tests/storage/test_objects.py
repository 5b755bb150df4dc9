"""Reading one exact object: a version, an ETag that must still match, a byte range."""

from __future__ import annotations

import pytest

from chalicelib.storage import AwsClients, ObjectMissing, ObjectStore, PreconditionFailed
from tests.conftest import DATA_BUCKET

KEY = "batch/incoming/churn/file.csv"


@pytest.fixture
def store(aws: AwsClients) -> ObjectStore:
    aws.s3.put_bucket_versioning(Bucket=DATA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return ObjectStore(aws.s3, DATA_BUCKET)


def test_a_byte_range_of_the_version_that_was_uploaded(store: ObjectStore, aws: AwsClients) -> None:
    first = aws.s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=b"a,b\n1,2\n3,4\n")
    aws.s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=b"x,y\n9,9\n")
    body = store.open_stream(KEY, first["VersionId"], byte_range=(4, 8))
    assert body.read() == b"1,2\n"
    assert store.open_stream(KEY).read() == b"x,y\n9,9\n"


def test_an_etag_that_no_longer_matches_is_refused(store: ObjectStore, aws: AwsClients) -> None:
    old = aws.s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=b"old\n")["ETag"]
    new = aws.s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=b"new\n")["ETag"]
    assert store.open_stream(KEY, etag=new).read() == b"new\n"
    assert store.open_stream(KEY, etag=new.strip('"')).read() == b"new\n"
    with pytest.raises(PreconditionFailed):
        store.open_stream(KEY, etag=old)


def test_a_missing_object_or_version_is_missing(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        store.open_stream(KEY)
