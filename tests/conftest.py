# Thread pools sized to the available cores, idle OpenMP threads asleep: set before numpy's BLAS
# and torch load, as the grokking command does (numerics/threads.py)
from grokking_workbench.numerics import threads

threads.configure()

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
