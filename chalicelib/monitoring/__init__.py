"""The scheduled monitor: per model, drift, accuracy and traffic of the recent window, read
from capture, batch files and feedback; its report, metrics and run claims; and the status of
a model for operators, the catalog of every model, and one past prediction read back from
the capture.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.monitoring._arrivals import Arrivals, handle_arrivals_event
    from chalicelib.monitoring._catalog import Catalog, CatalogEntry
    from chalicelib.monitoring._catalog_sources import CatalogSources
    from chalicelib.monitoring._document import MonitorReport
    from chalicelib.monitoring._labels import LabelJoiner
    from chalicelib.monitoring._metrics import put_metrics
    from chalicelib.monitoring._monitor import Monitor
    from chalicelib.monitoring._partials import PartialStore
    from chalicelib.monitoring._predictions import PredictionLookup, prediction_time
    from chalicelib.monitoring._run import MonitorRun
    from chalicelib.monitoring._sources import MonitorSources
    from chalicelib.monitoring._status import model_status
    from chalicelib.monitoring._usage import UsageMetrics

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
