"""Stage kinds, registered by name, one file per kind (``base`` holds the shared base and the registry).

Importing this package registers every kind, so ``STAGES.union("kind")`` (``hartune.spec``) sees them all.
"""

from hartune.tune.stages import blend, comparison, grid, independent, interleaved, search  # noqa: F401  (registers)
from hartune.tune.stages.base import STAGES, SamplingStage, StageConfig, register_stage
from hartune.tune.stages.blend import BlendStage
from hartune.tune.stages.comparison import ComparisonStage
from hartune.tune.stages.grid import GridStage
from hartune.tune.stages.independent import IndependentStage
from hartune.tune.stages.interleaved import InterleavedStage
from hartune.tune.stages.loss_space import FamilySpace, LossSpaces
from hartune.tune.stages.search import SearchStage

__all__ = [
    "STAGES", "BlendStage", "ComparisonStage", "FamilySpace", "GridStage", "IndependentStage", "InterleavedStage", "LossSpaces",
    "SamplingStage", "SearchStage", "StageConfig", "register_stage",
]
