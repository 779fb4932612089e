"""Hypothesis for every unit test: no timing in a property test's verdict.

Its defaults fail a test whose examples take over 200 ms (deadline) or whose inputs
are slow to generate (health check too_slow): wall-clock verdicts, which a loaded
2-core machine (CI running lab clusters beside the unit tests) turns red at random.
Correctness is what the properties check; speed is measured by the benchmarks.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("k8sboot", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("k8sboot")
