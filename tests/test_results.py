"""The results module: known answers for convergence, gap shares, the block bootstrap and the words."""
import numpy as np
import pandas as pd
import pytest

from tempmodels import results as R


def _hist(vals):
    return pd.DataFrame({"epoch": range(1, len(vals) + 1), "val_loss": vals})


@pytest.mark.parametrize("vals, epochs, expected", [
    ([3, 2, 1], 3, True),          # best at the last epoch of the budget: still improving
    ([3, 1, 2], 3, False),         # best earlier
    ([3, 2, 1], 5, False),         # stopped early (patience) before the budget: converged by that rule
    ([1], 1, True)])
def test_still_improving_has_one_definition(vals, epochs, expected):
    assert R.still_improving(_hist(vals), epochs) is expected


def test_convergence_table_and_unconverged_names():
    h = pd.concat([_hist([3, 2, 1]).assign(encoder="a", seed=0), _hist([3, 1, 2]).assign(encoder="a", seed=1),
                   _hist([2, 1, 3]).assign(encoder="b", seed=0)])
    c = R.convergence(h, epochs=3)
    assert c.best_epoch.tolist() == [3, 2, 2] and c.still_improving.tolist() == [True, False, False]
    assert R.unconverged(h, 3) == ["a"]


def test_gap_share_known_answer():
    ref = pd.DataFrame([{"encoder": R.FLOOR, "metric": "test_mse", "value": 1.0},
                        {"encoder": R.PCA, "metric": "test_mse", "value": 0.5}])
    res = pd.DataFrame([{"encoder": "e", "seed": s, "metric": "test_mse", "value": v} for s, v in ((0, 0.75), (1, 0.5))])
    s = R.gap_share(res, ref)
    assert s.loc["e", "mean"] == pytest.approx(0.75) and s.loc["e", "n"] == 2
    assert R.gap_table(res, ref).iloc[0, 0] == "0.75 ± 0.35"


def test_gap_table_with_no_shared_metric_says_so():
    """It failed with an unbound variable."""
    ref = pd.DataFrame([{"encoder": R.FLOOR, "metric": "wer", "value": 1.0}])
    res = pd.DataFrame([{"encoder": "e", "seed": 0, "metric": "test_mse", "value": 0.5}])
    with pytest.raises(KeyError, match="no metric of"):
        R.gap_table(res, ref)


def test_constant_difference_has_a_zero_width_ci():
    a = np.full((3, 50), 2.0)
    p = R.paired(a, a - 0.5, "temporal_detail_r", block=5)
    assert p.difference == pytest.approx(0.5) and p.ci_low == pytest.approx(0.5) and p.ci_high == pytest.approx(0.5)
    assert p.verdict == R.BETTER and p.same_sign_every_seed


def test_identical_encoders_show_no_difference_and_words_follow_the_ci():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 200))
    assert R.paired(a, a, "test_mse").verdict == R.NO_DIFFERENCE
    b = a + rng.normal(scale=0.1, size=a.shape)
    p = R.paired(a, b, "test_mse", block=10)
    assert p.ci_low < 0 < p.ci_high and p.verdict == R.NO_DIFFERENCE
    lower = R.paired(a - 1.0, a, "test_mse", block=10)  # a lower MSE is better
    assert lower.verdict == R.BETTER and R.paired(a + 1.0, a, "test_mse").verdict == R.WORSE


def test_blocks_widen_the_ci_under_autocorrelation():
    """Differences that drift slowly over neighbouring TRs: resampling single TRs understates the
    uncertainty; blocks of the correlation length do not."""
    rng = np.random.default_rng(1)
    n = 600
    drift = np.convolve(rng.normal(size=n + 49), np.ones(50) / np.sqrt(50), mode="valid")
    d = (0.05 + drift)[None]
    iid = R.paired(d, np.zeros_like(d), "r", block=1)
    blocked = R.paired(d, np.zeros_like(d), "r", block=50)
    assert (blocked.ci_high - blocked.ci_low) > 2 * (iid.ci_high - iid.ci_low)


def test_same_sign_in_every_seed_is_a_column_not_the_verdict():
    a = np.array([[1.0, 1.1, 0.9, 1.0], [1.2, 0.8, 1.1, 1.0]])
    b = a - np.array([[0.01, -0.02, 0.03, 0.0], [0.05, -0.04, 0.0, 0.01]])
    p = R.paired(a, b, "r", block=1)
    assert p.same_sign_every_seed and p.verdict == R.NO_DIFFERENCE


@pytest.mark.parametrize("a, b, block, match", [
    (np.ones((2, 5)), np.ones((2, 4)), 1, "same \\(seeds, units\\) shape"),
    (np.array([[np.inf, 1.0]]), np.ones((1, 2)), 1, "hold inf"),
    (np.array([[np.nan, np.nan]]), np.ones((1, 2)), 1, "NaN in every unit"),
    (np.ones((1, 5)), np.ones((1, 5)), 9, "block must be between 1 and 1 for 5 units"),
    (np.ones((1, 12)), np.ones((1, 12)), 12, "at least 4 blocks"),  # one block: a zero-width CI, a false verdict
    (np.ones((1, 1)), np.ones((1, 1)), 1, "at least 2 units")])
def test_bad_paired_input_is_named(a, b, block, match):
    with pytest.raises(ValueError, match=match):
        R.paired(a, b, "r", block=block)


def test_bootstrap_is_deterministic_and_per_tr_error():
    x = np.arange(40.0)[None]
    assert np.array_equal(R.block_bootstrap_means(x, 4, 100, seed=3), R.block_bootstrap_means(x, 4, 100, seed=3))
    assert abs(R.block_bootstrap_means(x, 4, 4000).mean() - x.mean()) < 0.3  # circular blocks: unbiased
    assert R.per_tr_squared_error(np.ones((2, 3, 4)), np.zeros((2, 3, 4))).tolist() == [1.0, 1.0]
    assert "better" in R.paired(np.ones((1, 4)) * 2, np.ones((1, 4)), "r").text()


def test_a_unit_nan_on_either_side_is_left_out_of_both():
    g = np.random.default_rng(0)
    a, b = g.normal(size=(2, 40)), g.normal(size=(2, 40))
    a_nan = a.copy()
    a_nan[1, 7] = np.nan  # one seed's unit 7 has no score: unit 7 leaves both sides, in every seed
    keep = np.arange(40) != 7
    assert R.paired(a_nan, b, "r", block=2) == R.paired(a[:, keep], b[:, keep], "r", block=2)


def test_seeds_are_resampled_so_seed_spread_widens_the_ci():
    """Two seeds that disagree (one +1 everywhere, one -1) must not give a narrow CI: the seed is a sample."""
    units = np.zeros((2, 40))
    units[0], units[1] = 1.0, -1.0
    wide = R.paired(units + 0.1, np.zeros((2, 40)), "r", block=2)
    assert wide.ci_low < 0 < wide.ci_high and wide.verdict == R.NO_DIFFERENCE
    one = R.paired(units[:1], np.zeros((1, 40)), "r", block=2)  # one seed: units alone, as before
    assert one.ci_low == one.ci_high == 1.0


def _units():
    g = np.random.default_rng(1)
    parts = [R.units_frame({"test_mse": 1 + 0.1 * g.normal(size=32), "stoi": 0.5 + 0.01 * g.normal(size=12)},
                           "PCA-d", -1)]
    for seed in (0, 1, 2):
        parts.append(R.units_frame({"test_mse": 0.8 + 0.1 * g.normal(size=32),
                                    "stoi": 0.5 + 0.01 * g.normal(size=12)}, "enc", seed))
    return pd.concat(parts, ignore_index=True)


def test_compare_pairs_every_seed_against_a_reference_row():
    u = _units()
    p = R.compare(u, "enc", "PCA-d", "test_mse")
    assert p.seeds == 3 and p.units == 32 and p.block == R.BLOCK["TR"]
    assert p.verdict == R.BETTER  # lower MSE by 0.2, noise 0.1 per unit
    a = R.unit_matrix(u, "enc", "test_mse").to_numpy()
    b = np.repeat(R.unit_matrix(u, "PCA-d", "test_mse").to_numpy(), 3, 0)
    assert p.difference == pytest.approx((a - b).mean())
    assert R.compare(u, "enc", "PCA-d", "stoi").block == R.BLOCK["sentence"]


def test_comparison_table_cells_carry_the_ci_and_the_word():
    t = R.comparison_table(_units(), "PCA-d", metrics=("test_mse", "stoi", "wer"))
    assert list(t.columns) == ["test_mse", "stoi", "seeds"] and list(t.index) == ["enc"]
    assert t.loc["enc", "test_mse"].endswith(": better") and "[" in t.loc["enc", "test_mse"]
    with pytest.raises(KeyError, match="no per-unit scores for any metric"):
        R.comparison_table(_units(), "PCA-d", metrics=("wer",))
    with pytest.raises(KeyError, match="no per-unit 'test_mse' scores for 'nope'"):
        R.compare(_units(), "nope", "PCA-d", "test_mse")


def test_convergence_summary_counts_the_seeds_still_improving():
    h = pd.concat([pd.DataFrame({"encoder": "a", "seed": s, "epoch": [1, 2, 3], "val_loss": v})
                   for s, v in ((0, [3, 2, 1]), (1, [3, 1, 2]))] +
                  [pd.DataFrame({"encoder": "b", "seed": 0, "epoch": [1, 2], "val_loss": [1, 2]})])
    t = R.convergence_summary(h, epochs=3)
    assert t.loc["a", "still improving"] == "1 of 2 seeds" and t.loc["a", "best epoch"] == "2.5 (2–3)"
    assert t.loc["b", "still improving"] == "0 of 1 seeds" and t.loc["b", "epochs trained"] == "2"


def test_voxel_metrics_are_bootstrapped_voxel_by_voxel():
    assert R.unit_kind("fmri_r") == R.unit_kind("r: motion") == "voxel" and R.unit_kind("sign_acc") == "TR"
    u = pd.concat([R.units_frame({"r: motion": np.linspace(0.5, 0.6, 20)}, "a", 0),
                   R.units_frame({"r: motion": np.linspace(0.4, 0.5, 20)}, "b", 0)], ignore_index=True)
    p = R.compare(u, "a", "b", "r: motion")
    assert p.block == 1 and p.verdict == R.BETTER and p.difference == pytest.approx(0.1)


def test_position_describes_a_mean_and_leaves_worse_to_the_paired_ci():
    """A mean share below 0 is "below the floor on average", not "worse than the floor": that word
    needs a CI, and comes only from the comparison passed in."""
    assert R.position(0.654) == "closes 65 % of the floor→PCA-d gap"
    below = R.position(-0.3)
    assert below == "below the TR-mean floor on average (share -0.30)" and "worse" not in below
    assert R.position(1.2) == "past PCA-d on average (share 1.20)"
    rng = np.random.default_rng(0)
    floor = rng.normal(1.0, 0.1, (1, 40))
    code = floor + 0.2 + rng.normal(0, 0.01, (2, 40))  # higher MSE than the floor on every TR
    p = R.paired(code, np.repeat(floor, 2, 0), "test_mse", block=4)
    assert p.verdict == R.WORSE
    assert R.position(-0.3, versus_floor=p).endswith(f"against the floor, Δ test_mse {p.text()}")
    assert "worse" in R.position(-0.3, versus_floor=p)


def test_within_seed_spread_known_answers():
    """Δ against the encoder's own seed sd, and the paired CI where per-unit scores exist."""
    res = pd.DataFrame([{"encoder": e, "seed": s, "metric": "m", "value": v}
                        for e, vals in {"a": [1.0, 1.2, 1.4], "a'": [1.1, 1.3, 1.5], "b": [0.0, 0.0, 0.0],
                                        "b'": [1.0, 1.0, 1.0]}.items() for s, v in enumerate(vals)])
    t = R.within_seed_spread(res, {"a": "a'", "b": "b'"}, ["m"]).set_index("encoder")
    assert t.loc["a", "Δ"] == pytest.approx(0.1) and t.loc["a", "seed sd"] == pytest.approx(0.2)
    assert t.loc["a", "|Δ| / sd"] == pytest.approx(0.5) and t.loc["a", "within seed spread"]
    assert np.isnan(t.loc["b", "|Δ| / sd"]) and t.loc["b", "within seed spread"] is None  # sd 0: no spread to compare with
    units = pd.concat([R.units_frame({"test_mse": np.full(20, 1.0) + 0.01 * s}, "a", s) for s in range(3)]
                      + [R.units_frame({"test_mse": np.full(20, 1.5) + 0.01 * s}, "a'", s) for s in range(3)])
    res2 = units.groupby(["encoder", "seed", "metric"]).value.mean().reset_index()
    t2 = R.within_seed_spread(res2, {"a": "a'"}, ["test_mse"], units=units).iloc[0]
    assert t2["verdict"] == R.WORSE and not t2["within seed spread"]
    with pytest.raises(KeyError, match="missing"):
        R.within_seed_spread(res, {"a": "nope"}, ["m"])


def test_interval_digits_keep_the_side_of_zero_and_two_digits_of_the_width():
    # a bound of -0.00003 must not print as -0.000 (appendix A1's STOI interval did)
    assert R.format_interval(0.0012, -0.00003, 0.0025) == "+0.00120 [-0.00003, +0.00250]"
    assert R.interval_digits(0.017, -0.006, 0.040) == 3          # a wide interval keeps three decimals
    assert R.interval_digits(0.0006, 0.0001, 0.0013) == 4        # width 0.0012: two significant digits
    assert R.interval_digits(0.0004, 0.0001, 0.0009) == 5        # width 0.0008 -> 0.00080
    assert R.interval_digits(0.0, 0.0, 0.0) == 3                 # exact zeros are not "hidden"
    assert R.interval_digits(1e-9, 1e-9, 2e-9) == 6              # never more than six
    assert R.format_interval(0.5, 0.4, 0.6, digits=1) == "+0.5 [+0.4, +0.6]"
    p = R.Paired("stoi", 0.0012, -0.00003, 0.0025, R.NO_DIFFERENCE, False, 3, 26, 1)
    assert p.text() == f"+0.00120 [95 % CI -0.00003, +0.00250]: {R.NO_DIFFERENCE}"
