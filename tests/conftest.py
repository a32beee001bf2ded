from hypothesis import HealthCheck, settings

# A bounded, deterministic profile keeps CI well inside its time budget.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")
