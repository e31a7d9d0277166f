"""The Ray engine's tests: one local Ray (2 CPUs) shared by the in-process tests; CLI
tests start their own (as ``comicdesk index --engine ray`` does). Ray is installed by setup.sh
(the ``ray`` extra): a missing Ray fails these tests, it never skips them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))  # fakes, fake_cli


@pytest.fixture(scope="session")
def local_ray():
    import logging

    import ray  # a missing Ray is a failure: pip install -e '.[test,ray]' (setup.sh)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield ray
    finally:
        ray.shutdown()
