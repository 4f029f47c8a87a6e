"""Reports of a ``hartune run``: the paper's Table 2 layout, search reports, per-model figures.

``table``, ``stats``, ``cv``, ``writers``, ``search``, ``figures`` and ``features`` are pure; ``build``
reads the run tree (``hartune.tracking.runs.RunTree``), writes the report folder and logs it to the stage
runs.
"""

from hartune.report.stats import PairedTest, paired_test
from hartune.report.table import TABLE2_METRICS, AblationTable, Observation, ablation_table
from hartune.report.writers import ABLATION_WRITERS, FORMATS

__all__ = [
    "ABLATION_WRITERS", "FORMATS", "TABLE2_METRICS", "AblationTable", "Observation", "PairedTest",
    "ablation_table", "paired_test",
]
