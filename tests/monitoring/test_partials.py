"""Monitor runs through hourly partials: each capture object is read once, whoever runs, and
what the merged partials measure equals a full read of the same capture."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sklambda.sample_data import churn_frame
from tests.monitoring.test_monitor import drifted_frame, version_entry
from tests.monitoring.world import MODEL, MonitorWorld


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """What a run measured of version 1: drift per feature and of the predictions, traffic,
    serving guardrails, the estimate."""
    entry = version_entry(report)
    return {
        "features": {
            f["name"]: (f["samples"], f["psi"], f["js"], f.get("wasserstein"))
            for f in entry["features"]
        },
        "prediction": (entry["prediction"]["psi"], entry["prediction"]["samples"]),
        "traffic": entry["traffic"],
        "serving": entry["serving"],
        "estimated": entry["estimated"],
    }


def forget_partials(world: MonitorWorld) -> None:
    for key in list(world.data.list_keys(f"reports/_partials/{MODEL}/")):
        world.data.delete(key)


def test_a_run_reads_only_capture_no_partial_has_added(
    world: MonitorWorld, reads: list[str]
) -> None:
    world.traffic(churn_frame(300, seed=1))
    world.traffic(drifted_frame(200))
    world.run()
    assert len(reads) == 2  # both objects, once

    delivered = set(world.data.list_keys("capture/"))
    world.traffic(churn_frame(100, seed=2))  # a third object lands
    reads.clear()
    world.run()

    assert reads == sorted(set(world.data.list_keys("capture/")) - delivered)  # only it
    assert version_entry(world.report())["traffic"]["http"] == 600


def test_merged_partials_measure_what_a_full_read_measures(world: MonitorWorld) -> None:
    world.traffic(churn_frame(300, seed=3))
    world.run()  # partials of the first object
    world.traffic(drifted_frame(300))
    world.run()  # reads the second object, merges the stored partial
    through_partials = figures(world.report())

    forget_partials(world)
    world.run()  # reads everything again
    full_read = figures(world.report())

    assert (
        through_partials["traffic"]
        == full_read["traffic"]
        == {
            "http": 600,
            "batch": 0,
            "total": 600,
        }
    )
    assert through_partials["serving"] == full_read["serving"]
    by_consumer = full_read["serving"]["by_consumer"]
    assert by_consumer == {"tests": {"records": 600, "requests": 6, "errors": 0}}
    assert through_partials["prediction"] == full_read["prediction"]
    for name, (samples, psi, js, wasserstein) in full_read["features"].items():
        merged = through_partials["features"][name]
        assert merged[:3] == (samples, psi, js), name
        assert merged[3] == (pytest.approx(wasserstein, rel=1e-9) if wasserstein else None), name
    assert through_partials["estimated"]["accuracy"] == pytest.approx(
        full_read["estimated"]["accuracy"], rel=1e-12
    )


def test_an_object_delivered_again_or_late_counts_once(
    world: MonitorWorld, reads: list[str]
) -> None:
    world.traffic(churn_frame(200, seed=4))
    world.run()
    first = next(iter(world.data.list_keys("capture/")))
    body, _ = world.data.get_bytes(first)

    world.data.put_bytes(first, body)  # delivered again: same object, same bytes
    reads.clear()
    world.run()
    assert reads == []
    assert version_entry(world.report())["traffic"]["http"] == 200

    late = first.rsplit("/", 1)[0] + "/late-object"  # lands in an hour already aggregated
    world.data.put_bytes(late, body)
    world.run()
    assert reads == [late]
    assert version_entry(world.report())["traffic"]["http"] == 400
    world.run()
    assert reads == [late]  # nothing read twice
    assert version_entry(world.report())["traffic"]["http"] == 400


def test_every_row_of_a_batch_file_is_aggregated_once(
    world: MonitorWorld, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.monitoring import _sources
    from sklambda.sample_data import FEATURES
    from tests.monitoring.world import score_batch_file

    frame = churn_frame(60_000, seed=12)[FEATURES]  # more than one chunk of 50,000 rows
    score_batch_file(aws, "batch/incoming/churn/big.csv", frame)
    files: list[str] = []
    original = _sources.MonitorSources.row_chunks

    def counting(self: Any, key: str, **kwargs: Any) -> Iterator[Any]:
        files.append(key)
        return original(self, key, **kwargs)

    monkeypatch.setattr(_sources.MonitorSources, "row_chunks", counting)

    world.run()
    first = version_entry(world.report())
    world.run()
    second = version_entry(world.report())

    assert first["traffic"]["batch"] == second["traffic"]["batch"] == 60_000
    assert first["prediction"]["samples"] == 60_000
    assert len(files) == 2  # the input and the scored file, by the first run only
    for mine, again in zip(first["features"], second["features"], strict=True):
        assert (mine["samples"], mine["psi"]) == (again["samples"], again["psi"])


def test_a_partial_that_does_not_fit_is_read_again_not_trusted(
    world: MonitorWorld, reads: list[str]
) -> None:
    world.traffic(churn_frame(300, seed=5))
    world.run()
    counted = figures(world.report())
    (key,) = [k for k in world.data.list_keys(f"reports/_partials/{MODEL}/") if "/batch/" not in k]
    document, _ = world.data.get_json(key)
    document["state"]["features"]["tenure_months"]["counts"].append(7)  # other bins
    world.data.put_json(key, document)
    reads.clear()

    world.run()

    assert len(reads) == 1  # the hour's object, read again
    assert figures(world.report()) == counted
    repaired, _ = world.data.get_json(key)
    assert (
        len(repaired["state"]["features"]["tenure_months"]["counts"])
        == len(document["state"]["features"]["tenure_months"]["counts"]) - 1
    )
