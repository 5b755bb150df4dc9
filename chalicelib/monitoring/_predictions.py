"""One past prediction, read back from the capture (`GET /models/{name}/predictions/{id}`,
`sklambda prediction`).

A UUIDv7 prediction id says when the prediction was made, so its capture record is in the
objects Firehose delivered in the hours around it (`capture_hours`, as the label join reads
them). Firehose names each object after the arrival of its oldest record
(`<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`) and fills it for at most its buffer
interval (15 minutes), so an object named more than that before the prediction was made
cannot hold it and is not read. A key whose time cannot be read is read.

Only the model's primary records count: a shadow's record shares the id of the prediction
the caller received, but is not what the caller received.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import InvalidInputError, NotFoundError, iso, predicted_at, utc_now
from chalicelib.monitoring._hours import CAPTURE_SPAN, capture_hours, delivery_hour
from chalicelib.monitoring._sources import MonitorSources

if TYPE_CHECKING:
    from chalicelib.serving import ModelServer

_NAMED_TIME = re.compile(r"-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-")
ID_FORM = (
    "a prediction id is the UUIDv7 that predict returned in prediction_ids "
    "(32 hex digits, e.g. 0190f5a2c3d47e8f9a0b1c2d3e4f5a6b)"
)


def delivered_at(capture_prefix: str, key: str) -> datetime | None:
    """The time a Firehose object's name carries, or None when its key does not read as
    Firehose's (`capture/YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`) or the
    time disagrees with the hour folder it is in."""
    hour = delivery_hour(capture_prefix, key)
    if hour is None:
        return None
    name = key.rsplit("/", 1)[-1]
    for match in _NAMED_TIME.finditer(name):
        try:
            year, month, day, hour_of_day, minute, second = (int(p) for p in match.groups())
            at = datetime(year, month, day, hour_of_day, minute, second, tzinfo=UTC)
        except ValueError:
            continue
        if at.replace(minute=0, second=0) == hour:
            return at
    return None


def prediction_time(prediction_id: str) -> datetime:
    """When the prediction was made; InvalidInputError (400) saying what an id looks like."""
    made = predicted_at(prediction_id)
    if made is None:
        raise InvalidInputError(f"{prediction_id!r} is not a prediction id: {ID_FORM}")
    return made


class PredictionLookup:
    """Finds a prediction's capture record and shows it, with its explanation."""

    def __init__(self, sources: MonitorSources, clock: Callable[[], datetime] = utc_now) -> None:
        self.sources = sources
        self.clock = clock

    def objects(self, made: datetime) -> Iterator[str]:
        """Keys of the capture objects that can hold a record made at `made`."""
        for hour in capture_hours(made):
            if hour > self.clock():
                return  # an hour still to come holds nothing yet
            for key, _ in self.sources.capture_objects(hour):
                at = delivered_at(self.sources.capture_prefix, key)
                if at is None or at >= made - CAPTURE_SPAN:
                    yield key

    def find(self, model: str, prediction_id: str) -> dict[str, Any] | None:
        """The primary capture record of `model` for the id, None when the capture has none."""
        made = prediction_time(prediction_id)
        wanted = prediction_id.replace("-", "").lower()
        for key in self.objects(made):
            for record in self.sources.object_records(key):
                if (
                    record.get("prediction_id") == wanted
                    and record.get("model") == model
                    and record.get("role") == "primary"
                    and "error" not in record
                ):
                    return record
        return None

    def show(
        self, server: ModelServer, model: str, prediction_id: str, *, explain: bool = False
    ) -> dict[str, Any]:
        """What the prediction was: its version and alias, when it was made and captured, the
        inputs, the prediction and probabilities, and its explanation: the one captured with
        it, else, with `explain`, one recomputed from the captured inputs by the same version.

        400 for an id that is not a UUIDv7 or for an explanation the version cannot give,
        404 for an unknown model or a prediction the capture does not hold, 410 for a retired
        model (and for recomputing with a retired version).
        """
        made = prediction_time(prediction_id)
        state = server.state(model)
        state.refuse_retired(model, None)
        record = self.find(model, prediction_id)
        if record is None:
            raise NotFoundError(
                not_captured(model, prediction_id, state.config.capture_sample_rate)
            )
        version = int(record["version"])
        explanation, source = record.get("explanation"), "captured"
        if explanation is None and explain:
            state.refuse_retired(model, version)
            explained = server.scorer(model, version).explain([record["inputs"]])
            from chalicelib.scoring import explanation_records

            explanation, source = explanation_records(explained)[0], "recomputed"
        shown: dict[str, Any] = {
            "model": model,
            "prediction_id": record["prediction_id"],
            "version": version,
            "alias": record.get("alias"),
            "made_at": iso(made),
            "captured_at": record.get("captured_at"),
            "inputs": record.get("inputs"),
            "prediction": record.get("prediction"),
        }
        if record.get("probabilities") is not None:
            shown["probabilities"] = record["probabilities"]
        shown["explanation"] = explanation
        shown["explanation_source"] = source if explanation is not None else None
        return shown


def not_captured(model: str, prediction_id: str, sample_rate: float) -> str:
    """Why a prediction may be missing from the capture, and where else it may be."""
    share = f"{sample_rate * 100:g}%"
    return (
        f"prediction {prediction_id} of {model!r} was not found in the capture: predictions "
        f"are captured at the model's sample rate ({share} of requests for {model!r}) and land "
        "in the capture within about 15 minutes of being made (Firehose buffers them); batch "
        "predictions are not captured, they are in their scored files"
    )
