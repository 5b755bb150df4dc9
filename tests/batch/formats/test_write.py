from __future__ import annotations

import csv
import gzip
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import write_chunk
from tests.batch.formats.helpers import TRICKY, churn_csv, fake_results, joined, read_all, score

# -- writing ------------------------------------------------------------------------------


def test_csv_round_trip_keeps_inputs_and_appends_results() -> None:
    data = churn_csv(300)
    output = score(read_all(data, chunk_rows=7), "csv", reject_every=5)
    back = pd.read_csv(io.BytesIO(output), dtype=object, keep_default_na=False)
    original = pd.read_csv(io.BytesIO(data), dtype=object, keep_default_na=False)
    kept = original[(np.arange(1, 301) % 5) != 0].reset_index(drop=True)
    assert list(back.columns) == [*original.columns, *fake_results(1).columns]
    assert back[list(original.columns)].equals(kept)  # same values, same order
    assert back["model_version"].unique().tolist() == ["3"]
    assert set(back["prediction"]) == {"0", "1"}
    assert output.count(b"customer_id") == 1  # one header


def test_csv_output_echoes_rows_byte_for_byte() -> None:
    output = score(read_all(TRICKY, chunk_rows=3), "csv")
    lines = list(csv.reader(io.StringIO(output.decode(), newline="")))
    expected = list(csv.reader(io.StringIO(TRICKY.decode(), newline="")))
    assert [row[:3] for row in lines] == expected
    assert b'2,"two\r\nlines, and ""quotes""",2,' in output


def test_csv_floats_are_shortest_round_trip() -> None:
    (chunk,) = read_all(b"a\n1\n2\n3\n")
    results = pd.DataFrame({"p": [0.1, 1 / 3, np.nan], "label": ["a,b", 'say "hi"', None]})
    out = io.BytesIO()
    write_chunk(out, chunk, results, "csv", header=True, keep_columns=None)
    assert out.getvalue() == (b'a,p,label\n1,0.1,"a,b"\n2,0.3333333333333333,"say ""hi"""\n3,,\n')


def test_csv_keep_columns_writes_only_those() -> None:
    chunks = read_all(TRICKY, chunk_rows=4)
    output = score(chunks, "csv", keep_columns=["n", "text"])
    back = list(csv.reader(io.StringIO(output.decode(), newline="")))
    assert back[0] == ["n", "text", "prediction", "proba_0", "proba_1", "model_version"]
    assert [row[:2] for row in back[1:]] == [
        ["1.5", "a, b"],
        ["2", 'two\r\nlines, and "quotes"'],
        ["", "plain"],
        ["4", ""],
        ["5", '6" tall'],
        ["6", '"quoted"'],
        ["7", "x\n\ny"],
        ["8", 'ends with a quote"'],
        ["9", ""],
    ]


def test_csv_without_header_and_with_every_row_rejected() -> None:
    (chunk,) = read_all(b"a,b\n1,2\n")
    out = io.BytesIO()
    rejected = np.zeros(1, bool)
    write_chunk(out, chunk, fake_results(0), "csv", header=True, scored=rejected)
    assert out.getvalue() == b"a,b,prediction,proba_0,proba_1,model_version\n"
    out = io.BytesIO()
    write_chunk(out, chunk, fake_results(0), "csv", header=False, scored=rejected)
    write_chunk(out, chunk, fake_results(1), "csv", header=False)
    assert out.getvalue().count(b"\n") == 1 and out.getvalue().startswith(b"1,2,")


def test_results_must_match_the_scored_rows() -> None:
    (chunk,) = read_all(b"a\n1\n2\n")
    with pytest.raises(ValueError, match="results has 2 rows for 1 scored rows"):
        write_chunk(io.BytesIO(), chunk, fake_results(2), "csv", header=True, scored=[True, False])
    with pytest.raises(ValueError, match="scored has 3 values"):
        write_chunk(io.BytesIO(), chunk, fake_results(2), "csv", header=True, scored=[1, 1, 0])
    with pytest.raises(ValueError, match="ParquetWriter"):
        write_chunk(io.BytesIO(), chunk, fake_results(2), "parquet", header=True)


def test_csv_gz_round_trip() -> None:
    data = churn_csv(200)
    sink = io.BytesIO()
    with gzip.GzipFile(fileobj=sink, mode="wb") as zipped:
        for i, chunk in enumerate(read_all(gzip.compress(data), "csv.gz", chunk_rows=64)):
            results = fake_results(len(chunk.frame), seed=i)
            write_chunk(zipped, chunk, results, "csv.gz", header=i == 0)  # type: ignore[arg-type]
    back = joined(read_all(sink.getvalue(), "csv.gz"))
    original = pd.read_csv(io.BytesIO(data), dtype=object, keep_default_na=False)
    assert back[list(original.columns)].reset_index(drop=True).equals(original)
    assert float(back["proba_1"].iloc[0]) == fake_results(64, seed=0)["proba_1"].iloc[0]


def test_jsonl_round_trip_keeps_original_values() -> None:
    objects: list[dict[str, Any]] = [
        {"id": 7, "age": 41, "plan": "basic", "tags": ["a", "b"], "extra": {"k": None}},
        {"id": 8, "age": 52.5, "plan": None},
        {"id": 9, "plan": "premium", "big": 12345678901234567890},
        {"id": 10},
    ]
    data = "\n".join(json.dumps(o) for o in objects).encode()
    output = score(read_all(data, "jsonl", chunk_rows=3), "jsonl", reject_every=2)
    back = [json.loads(line) for line in output.splitlines()]
    results = ["prediction", "proba_0", "proba_1", "model_version"]
    assert [{k: v for k, v in b.items() if k not in results} for b in back] == [
        objects[0],
        objects[2],
    ]
    assert list(back[0]) == [*objects[0], *results]
    assert isinstance(back[0]["proba_1"], float) and back[0]["model_version"] == 3


def test_jsonl_keep_columns_and_empty_objects() -> None:
    data = b'{"id": 1, "age": 41.0, "x": "y"}\n{}\n'
    output = score(read_all(data, "jsonl"), "jsonl", keep_columns=["id", "age"])
    back = [json.loads(line) for line in output.splitlines()]
    assert [(b["id"], b["age"]) for b in back] == [(1, 41.0), (None, None)]
    output = score(read_all(b"{}\n{ }\n", "jsonl"), "jsonl")
    assert [sorted(json.loads(line)) for line in output.splitlines()] == [
        ["model_version", "prediction", "proba_0", "proba_1"]
    ] * 2


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_prediction_ids_are_written_before_the_results_of_scored_rows_only(fmt: str) -> None:
    from chalicelib.core import new_prediction_ids

    data = churn_csv(40)
    if fmt == "jsonl":
        frame = pd.read_csv(io.BytesIO(data))
        data = frame.to_json(orient="records", lines=True).encode()
    (chunk,) = read_all(data, fmt)
    scored = np.arange(40) % 4 != 0
    results = fake_results(int(scored.sum()))
    ids = new_prediction_ids(len(results))
    out = io.BytesIO()
    write_chunk(out, chunk, results, fmt, header=True, scored=scored, ids=ids)
    if fmt == "csv":
        back = pd.read_csv(io.BytesIO(out.getvalue()), dtype=object)
    else:
        back = pd.DataFrame([json.loads(line) for line in out.getvalue().splitlines()])
    columns = list(back.columns)
    assert columns[columns.index("prediction") - 1] == "prediction_id"
    assert back["prediction_id"].tolist() == [i.decode() for i in ids.tolist()]
