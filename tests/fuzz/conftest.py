"""The fuzz suite's hypothesis profile: bounded, no deadline (2 shared cores), derandomized on CI (`CI=true`)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

FUZZ = settings.get_profile("fuzz")
"""Each fuzz test is `@settings(FUZZ, max_examples=N)`: the profile applies to these tests only."""
