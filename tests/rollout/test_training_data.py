"""Retraining reads labelled files as batch scoring reads files: the champion's dtypes."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from chalicelib.core import InvalidInputError
from chalicelib.rollout._training_data import read_training_file
from chalicelib.stats import describe_column


def champion_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": pd.Series(["NA", "EU", "NA", None], dtype="str"),
            "size": pd.Series(pd.Categorical([1, 3, 3, None], ordered=True)),
            "visits": pd.Series([1, 2, None, 4], dtype="Int64"),
            "churned": [0, 1, 0, 1],
        }
    )


FEATURES = [describe_column(n, champion_frame()[n]) for n in ("region", "size", "visits")]


def read(body: bytes, key: str = "training/m/week.csv") -> pd.DataFrame:
    return read_training_file(
        key, body, FEATURES, "churned", task="classification", classes=[0, 1]
    ).frame


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_files_come_back_with_the_champions_dtypes_and_values(fmt: str) -> None:
    frame = champion_frame()
    if fmt == "csv":
        body = frame.to_csv(index=False).encode()
    elif fmt == "jsonl":
        body = (
            frame.astype(object)
            .where(frame.notna(), None)
            .to_json(orient="records", lines=True)
            .encode()
        )
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        body = buffer.getvalue()
    got = read(body, f"training/m/week.{fmt}")
    pd.testing.assert_frame_equal(got, frame, check_dtype=True)


def test_rows_the_model_could_not_read_are_left_out_and_counted() -> None:
    body = b"region,size,visits,churned\nEU,3,2,1\nEU,three,2,0\nNA,1,2.5,1\n"
    read_file = read_training_file(
        "training/m/week.csv", body, FEATURES, "churned", task="classification", classes=[0, 1]
    )
    assert read_file.rejected == 2
    assert read_file.frame["region"].tolist() == ["EU"]


def test_a_file_without_the_target_says_which_columns_it_lacks() -> None:
    with pytest.raises(InvalidInputError, match=r"lacks column\(s\) visits, churned"):
        read(b"region,size\nEU,3\n")
