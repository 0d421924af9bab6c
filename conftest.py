"""Settings for the whole test run (unit tests and the notebooks that nbval and papermill run).

Under pytest-xdist (``-n 2`` in pyproject's addopts) two workers share the cores, each running one
file at a time: a unit-test module, or a lesson in its own kernel. Each worker, and every kernel it
starts (they inherit the environment), uses one torch thread, so the two do not fight over the
cores. Run with ``-n 0`` to go back to one process with all threads.
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)
