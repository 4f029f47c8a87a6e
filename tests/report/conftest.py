"""A real local Ray for the report tests (2 CPUs, no dashboard), as in tests/tune; reuses one that the
tune tests' session fixture already started."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if ray.is_initialized():
        yield ray
        return
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()
