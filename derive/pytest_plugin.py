"""pytest plugin (entry point ``lossproof``): the ``lossproof_reference`` fixture.

Installed with lossproof; inert unless a test asks for the fixture.  It adds one option,
``--lossproof-points N`` (random points per check, on top of the adversarial ones;
default :data:`derive.testing.DEFAULT_POINTS`), and nothing else: no hooks run on
collection or on test outcomes, and ``derive.testing`` (mpmath, NumPy) is imported only
when the fixture is used.

Example::

    def test_my_bce(lossproof_reference):
        lossproof_reference(my_bce, "bce-gradient", grad=my_bce_grad)

The fixture is :func:`derive.testing.assert_matches_reference` with ``points`` taken from
``--lossproof-points`` unless the call passes it.  Disable the plugin with
``-p no:lossproof``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["lossproof_reference", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lossproof", "lossproof reference checks")
    group.addoption(
        "--lossproof-points", type=int, default=None, metavar="N",
        help="random points per lossproof_reference check, on top of the adversarial ones "
        "(default 100)")


@pytest.fixture
def lossproof_reference(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``check(fn, name, **options)``: :func:`derive.testing.assert_matches_reference`."""
    from derive import testing

    points = request.config.getoption("lossproof_points")
    if points is not None and points < 0:
        raise pytest.UsageError(f"--lossproof-points: must be >= 0, got {points}")

    def check(fn: Callable | None, name: str, **options: Any) -> testing.CheckReport:
        if points is not None:
            options.setdefault("points", points)
        return testing.assert_matches_reference(fn, name, **options)

    return check
