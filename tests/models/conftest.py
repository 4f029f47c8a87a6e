import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every model test starts from the same weights and data, so a failure reproduces."""
    torch.manual_seed(0)
