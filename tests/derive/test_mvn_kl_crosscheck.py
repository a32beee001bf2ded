"""mvn-kl is exported (vector and matrix parameters) and cross-checked like every other
result: against an oracle that integrates the definition ∫ p log(p/q) over R^k."""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest

import derive
from derive import _oracle_mvn, _twins
from derive.export import export, export_source, exportable
from derive.oracle import ORACLES, OracleError, reference
from derive.verify import verify_one

M1, S1 = np.array([0.1, -0.3]), np.array([[1.0, 0.3], [0.3, 2.0]])
M2, S2 = np.array([0.5, 0.2]), np.array([[1.5, -0.2], [-0.2, 0.8]])


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path))


class TestOracle:
    def test_one_dimension_is_the_gaussian_kl_quadrature(self):
        # mpmath.quad of the 1-D definition (another integration rule entirely); the
        # variances are exact squares, so both oracles see the same distributions
        got = reference("mvn-kl", [0.3], [[2.25]], [0.1], [[0.25]], dps=60)
        want = reference("gaussian-kl", 0.3, 1.5, 0.1, 0.5, dps=60)
        with mpmath.workdps(60):
            assert abs(got - want) <= mpmath.mpf(10) ** -28 * abs(want)  # quad: dps/2

    def test_independent_coordinates_add(self):
        # diagonal covariances: D is the sum of the 1-D divergences (each by mpmath.quad)
        got = reference("mvn-kl", [0.2, -1.0], [[0.5625, 0.0], [0.0, 2.25]], [1.0, 0.5],
                        [[1.0, 0.0], [0.0, 0.25]], dps=60)
        want = [reference("gaussian-kl", 0.2, 0.75, 1.0, 1.0, dps=60),
                reference("gaussian-kl", -1.0, 1.5, 0.5, 0.5, dps=60)]
        with mpmath.workdps(60):
            assert abs(got - sum(want)) <= mpmath.mpf(10) ** -28 * abs(got)

    def test_three_nodes_per_axis_are_already_exact(self, monkeypatch):
        # the integrand is quadratic in the whitened coordinates: a 4-node rule agrees
        three = reference("mvn-kl", M1, S1, M2, S2, dps=60)
        real_product = itertools.product
        with mpmath.workdps(60):
            r = mpmath.sqrt(3 - mpmath.sqrt(6)), mpmath.sqrt(3 + mpmath.sqrt(6))
            w = (3 + mpmath.sqrt(6)) / 12, (3 - mpmath.sqrt(6)) / 12  # probabilists' Hermite

            def four_nodes(rule, repeat):
                four = ((r[0], w[0]), (-r[0], w[0]), (r[1], w[1]), (-r[1], w[1]))
                return real_product(four, repeat=repeat)

            monkeypatch.setattr(_oracle_mvn.itertools, "product", four_nodes)
            four = ORACLES["mvn-kl"].fn(*[_as_mp(a) for a in (M1, S1, M2, S2)])
            assert abs(three - four) <= mpmath.mpf(10) ** -55 * abs(three)

    def test_a_one_node_rule_is_wrong(self, monkeypatch):
        # the mean alone misses the covariance terms: the test above can fail
        monkeypatch.setattr(_oracle_mvn.itertools, "product",
                            lambda rule, repeat: iter([((mpmath.mpf(0), mpmath.mpf(1)),)
                                                       * repeat]))
        one = reference("mvn-kl", M1, S1, M2, S2)
        monkeypatch.undo()
        assert abs(one - reference("mvn-kl", M1, S1, M2, S2)) > 1e-3

    def test_the_ball_version_is_attached_and_agrees_to_1e_40(self):
        assert ORACLES["mvn-kl"].arb is _oracle_mvn._mvn_kl_arb
        from derive.oracle_arb import reference as ball

        (got,) = ball("mvn-kl", [M1, S1, M2, S2])
        want = reference("mvn-kl", M1, S1, M2, S2, dps=60)
        with mpmath.workdps(60):
            assert abs(got - want) <= mpmath.mpf(10) ** -40 * abs(want)

    def test_the_ball_version_refuses_a_covariance_that_is_not_positive_definite(self):
        from derive.oracle_arb import reference as ball

        with pytest.raises(OracleError, match="Sigma2"):
            ball("mvn-kl", [M1, S1, M2, np.array([[1.0, 2.0], [2.0, 1.0]])])

    def test_not_positive_definite_is_refused(self):
        from derive.oracle import OracleError

        with pytest.raises(OracleError, match="Sigma1 is not positive definite"):
            reference("mvn-kl", M1, [[1.0, 2.0], [2.0, 1.0]], M2, S2)


def _as_mp(a):
    return [[mpmath.mpf(float(x)) for x in row] for row in a] if np.ndim(a) == 2 else \
        [mpmath.mpf(float(x)) for x in a]


class TestExport:
    def test_mvn_kl_is_exportable(self):
        assert exportable("mvn-kl")

    @pytest.mark.parametrize("target", ["numpy", "jax", "torch", "mpmath"])
    def test_every_python_target_agrees_with_the_oracle(self, target):
        if target == "jax":
            import jax

            with jax.enable_x64(True):
                got = float(export("mvn-kl", target)(M1, S1, M2, S2))
        else:
            with mpmath.workdps(30):
                got = float(export("mvn-kl", target)(M1, S1, M2, S2))
        want = reference("mvn-kl", M1, S1, M2, S2)
        assert abs(got - float(want)) <= 8 * 2.0**-52 * float(want)

    def test_identical_distributions_give_exactly_0(self):
        assert export("mvn-kl")(M1, S1, M1, S1) == 0.0

    def test_nearly_equal_covariances_do_not_cancel(self):
        # Σ2 = Σ1 (1 + 2^-30): D = k (δ - log(1 + δ))/2 ≈ k δ²/4 = 8.7e-19 (k = 2)
        s2 = S1 * (1 + 2.0**-30)
        want = reference("mvn-kl", M1, S1, M1, s2)
        stable = float(export("mvn-kl")(M1, S1, M1, s2))
        naive = float(export("mvn-kl", naive=True)(M1, S1, M1, s2))
        assert abs(stable - float(want)) <= 1e-6 * float(want)
        assert abs(naive - float(want)) > 1e-3 * float(want)  # tr − k + log det cancels

    def test_leading_axes_broadcast(self):
        got = export("mvn-kl")(np.stack([M1, M2]), np.stack([S1, S2]), M2, S2)
        assert got.shape == (2,)
        assert got[1] == 0.0

    def test_there_is_no_c_export(self):
        with pytest.raises(NotImplementedError, match="no C export"):
            export_source("mvn-kl", "c")

    def test_python_source_is_self_contained(self):
        src = export_source("mvn-kl", "python")
        namespace: dict = {}
        exec(compile(src, "<mvn-kl>", "exec"), namespace)
        assert namespace["mvn_kl"](M1, S1, M2, S2) == pytest.approx(
            float(reference("mvn-kl", M1, S1, M2, S2)), rel=1e-14)


class TestVerify:
    def test_mvn_kl_is_cross_checked_and_passes(self):
        res = verify_one("mvn-kl", steps=False)
        assert res.exportable and res.passed, res.error
        assert res.points > res.adversarial_points > 0
        assert res.numeric_name == "numeric.mvn_kl"
        assert res.naive.over_budget > 0  # the textbook form cancels at the edges

    def test_the_adversarial_points_reach_k_3_and_extreme_scales(self):
        pts = _twins.mvn_edges()
        assert {len(p[0]) for p in pts} == {1, 2, 3}
        scales = [float(np.max(np.abs(p[1]))) for p in pts]
        assert min(scales) < 1e-100 and max(scales) > 1e100

    def test_a_planted_export_bug_turns_it_red(self, monkeypatch):
        import derive.export as ex
        from derive import verify

        real = verify._exporter

        def broken(name, naive):
            fn = real(name, naive)
            return fn if naive else (lambda *a: fn(*a) * (1 + 1e-13))

        monkeypatch.setattr(verify, "_exporter", broken)
        ex._cached_export.cache_clear()
        res = verify_one("mvn-kl", steps=False)
        assert not res.passed and not res.export.passed


def test_mvn_kl_is_registered():
    assert "mvn-kl" in derive.names()
