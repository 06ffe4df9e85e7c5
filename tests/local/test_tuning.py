"""Trial suggestion, hypertune file reading and the median stopping rule of the local service."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path

import pytest

from airflow_provider_trainjobs.local.tuning import (
    Measurement,
    TrialSuggester,
    read_hypertune_metrics,
    should_stop_early,
)


def _drain(suggester: TrialSuggester) -> list[dict[str, str]]:
    out = []
    while (values := suggester.suggest()) is not None:
        out.append(values)
    return out


GRID_PARAMS = [
    {"parameterName": "units", "type": "INTEGER", "minValue": 2, "maxValue": 4},
    {"parameterName": "l2", "type": "DISCRETE", "discreteValues": [0.001, 0.5, 10]},
    {"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["sgd", "adam"]},
]


def test_grid_enumerates_every_point_once_in_order() -> None:
    suggester = TrialSuggester({"algorithm": "GRID_SEARCH", "maxTrials": 100, "params": GRID_PARAMS})
    assert suggester.total_trials() == 18
    trials = _drain(suggester)
    expected = [
        {"units": u, "l2": l2, "opt": o}
        for u, l2, o in itertools.product(["2", "3", "4"], ["0.001", "0.5", "10"], ["sgd", "adam"])
    ]
    assert trials == expected
    assert suggester.suggest() is None


def test_grid_stops_at_max_trials() -> None:
    suggester = TrialSuggester({"algorithm": "GRID_SEARCH", "maxTrials": 5, "params": GRID_PARAMS})
    assert suggester.total_trials() == 5
    trials = _drain(suggester)
    assert len(trials) == 5
    assert trials[0] == {"units": "2", "l2": "0.001", "opt": "sgd"}


def test_grid_rejects_double_parameter() -> None:
    with pytest.raises(ValueError, match=r"params\[lr\].*GRID_SEARCH"):
        TrialSuggester(
            {
                "algorithm": "GRID_SEARCH",
                "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.1, "maxValue": 1}],
            }
        )


def test_grid_resume_skips_only_points_that_succeeded() -> None:
    previous = [
        {"trialId": "1", "state": "SUCCEEDED", "hyperparameters": {"units": "2", "l2": "0.001", "opt": "sgd"}},
        {"trialId": "2", "state": "FAILED", "hyperparameters": {"units": "2", "l2": "0.001", "opt": "adam"},
         "finalMetric": {"trainingStep": "1", "objectiveValue": 0.5}},
        {"trialId": "3", "state": "CANCELLED", "hyperparameters": {"units": "2", "l2": "0.5", "opt": "sgd"}},
        # Not on this grid (an older spec): it must not shrink the count of points left.
        {"trialId": "4", "state": "SUCCEEDED", "hyperparameters": {"units": "99", "l2": "0.001", "opt": "sgd"}},
    ]
    suggester = TrialSuggester(
        {"algorithm": "GRID_SEARCH", "maxTrials": 100, "params": GRID_PARAMS}, previous_trials=previous
    )
    assert suggester.total_trials() == 17
    trials = _drain(suggester)
    assert len(trials) == 17
    assert previous[0]["hyperparameters"] not in trials
    # The failed and the cancelled point are tried again, first, in grid order.
    assert trials[:2] == [previous[1]["hyperparameters"], previous[2]["hyperparameters"]]


def test_grid_resume_counts_the_points_left_against_max_trials() -> None:
    params = [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2, 3, 4]}]
    previous = [{"trialId": str(i), "state": "SUCCEEDED", "hyperparameters": {"x": str(i)}} for i in (1, 2, 3)]
    suggester = TrialSuggester({"algorithm": "GRID_SEARCH", "maxTrials": 3, "params": params},
                               previous_trials=previous)
    assert suggester.total_trials() == 1
    assert _drain(suggester) == [{"x": "4"}]


def test_huge_grid_is_walked_lazily() -> None:
    # 1e9 x 1e9 points: building the grid up front would never finish (or run out of memory).
    params = [
        {"parameterName": "a", "type": "INTEGER", "minValue": 0, "maxValue": 1_000_000_000},
        {"parameterName": "b", "type": "INTEGER", "minValue": -5, "maxValue": 1_000_000_000},
    ]
    previous = [{"trialId": "1", "state": "SUCCEEDED", "hyperparameters": {"a": "0", "b": "-4"}}]
    suggester = TrialSuggester({"algorithm": "GRID_SEARCH", "maxTrials": 3, "params": params},
                               previous_trials=previous)
    assert suggester.total_trials() == 3
    assert _drain(suggester) == [{"a": "0", "b": "-5"}, {"a": "0", "b": "-3"}, {"a": "0", "b": "-2"}]

    # Without maxTrials in the way the count is the whole grid minus the point already tried.
    wide = TrialSuggester({"algorithm": "GRID_SEARCH", "maxTrials": 10**30, "params": params},
                          previous_trials=previous)
    assert wide.total_trials() == 1_000_000_001 * 1_000_000_006 - 1


def test_log_scale_needs_positive_min() -> None:
    with pytest.raises(ValueError, match=r"params\[lr\].*minValue > 0"):
        TrialSuggester(
            {
                "algorithm": "RANDOM_SEARCH",
                "params": [
                    {"parameterName": "lr", "type": "DOUBLE", "minValue": 0, "maxValue": 1,
                     "scaleType": "UNIT_LOG_SCALE"}
                ],
            }
        )


def _random_values(param: dict, n: int = 2000, seed: int = 7) -> list[str]:
    suggester = TrialSuggester(
        {"algorithm": "RANDOM_SEARCH", "maxTrials": n, "params": [param]}, seed=seed
    )
    return [values[param["parameterName"]] for values in _drain(suggester)]


def test_random_respects_bounds_and_types() -> None:
    doubles = [float(v) for v in _random_values(
        {"parameterName": "x", "type": "DOUBLE", "minValue": -2.5, "maxValue": 3.5, "scaleType": "UNIT_LINEAR_SCALE"}
    )]
    assert all(-2.5 <= v <= 3.5 for v in doubles)
    # Linear: the mean of a uniform sample is near the middle of the range.
    assert statistics.fmean(doubles) == pytest.approx(0.5, abs=0.2)

    ints = _random_values({"parameterName": "n", "type": "INTEGER", "minValue": 3, "maxValue": 7})
    assert all("." not in v for v in ints)
    assert {int(v) for v in ints} == {3, 4, 5, 6, 7}

    discrete = _random_values({"parameterName": "d", "type": "DISCRETE", "discreteValues": [1, 2.5, 40]})
    assert set(discrete) == {"1", "2.5", "40"}

    cats = _random_values({"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": ["a", "b"]})
    assert set(cats) == {"a", "b"}


def test_random_is_deterministic_with_a_seed() -> None:
    param = {"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}
    assert _random_values(param, n=20, seed=3) == _random_values(param, n=20, seed=3)
    assert _random_values(param, n=20, seed=3) != _random_values(param, n=20, seed=4)


def test_random_log_scale_is_log_uniform() -> None:
    values = [float(v) for v in _random_values(
        {"parameterName": "lr", "type": "DOUBLE", "minValue": 1e-4, "maxValue": 1.0, "scaleType": "UNIT_LOG_SCALE"}
    )]
    assert all(1e-4 <= v <= 1.0 for v in values)
    # Log-uniform: the median sits near the geometric mean (1e-2); a linear sampler's would be ~0.5.
    median = statistics.median(values)
    assert 10**-2.3 < median < 10**-1.7
    # Each decade holds about a quarter of the samples.
    decade_counts = [sum(1 for v in values if 10**-k < v <= 10 ** (-k + 1)) for k in range(1, 5)]
    assert all(350 < c < 650 for c in decade_counts), decade_counts


def test_random_reverse_log_scale_is_dense_near_max() -> None:
    values = [float(v) for v in _random_values(
        {"parameterName": "m", "type": "DOUBLE", "minValue": 0.001, "maxValue": 1.0,
         "scaleType": "UNIT_REVERSE_LOG_SCALE"}
    )]
    assert all(0.001 <= v <= 1.0 for v in values)
    # Mirror of log-uniform: half of the samples are above 1 + 0.001 - sqrt(0.001) ~ 0.969.
    assert statistics.median(values) == pytest.approx(1.001 - math.sqrt(0.001), abs=0.01)


def test_random_integer_log_scale_favours_small_values() -> None:
    ints = [int(v) for v in _random_values(
        {"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 1000, "scaleType": "UNIT_LOG_SCALE"}
    )]
    assert all(1 <= v <= 1000 for v in ints)
    assert 15 < statistics.median(ints) < 60  # geometric mean of [1, 1001) is ~31.6


def _objective(values: dict[str, str]) -> float:
    """A known function with its maximum 1.0 at lr=0.01, units=12."""
    lr, units = float(values["lr"]), int(values["units"])
    return 1.0 - (math.log10(lr) + 2) ** 2 / 4 - ((units - 12) / 20) ** 2


TPE_SPEC = {
    "goal": "MAXIMIZE",
    "maxTrials": 40,
    "params": [
        {"parameterName": "lr", "type": "DOUBLE", "minValue": 1e-5, "maxValue": 1.0, "scaleType": "UNIT_LOG_SCALE"},
        {"parameterName": "units", "type": "INTEGER", "minValue": 1, "maxValue": 64},
    ],
}


def _run(spec: dict, seed: int, parallel: int = 1) -> list[float]:
    suggester = TrialSuggester(spec, seed=seed)
    scores: list[float] = []
    while True:
        batch = [v for v in (suggester.suggest() for _ in range(parallel)) if v is not None]
        if not batch:
            return scores
        for values in batch:
            score = _objective(values)
            scores.append(score)
            suggester.report(values, score)


def test_tpe_beats_random_on_a_known_function() -> None:
    tpe_best = [max(_run(TPE_SPEC, seed)) for seed in range(3)]
    random_best = [max(_run({**TPE_SPEC, "algorithm": "RANDOM_SEARCH"}, seed)) for seed in range(3)]
    assert all(best > 0.97 for best in tpe_best), tpe_best
    assert statistics.fmean(tpe_best) > statistics.fmean(random_best), (tpe_best, random_best)


def test_tpe_minimize_goes_the_other_way() -> None:
    spec = {**TPE_SPEC, "goal": "MINIMIZE"}
    scores = _run(spec, seed=0)
    # The function's minimum on this box is far below zero; TPE should find clearly negative values.
    assert min(scores) < -3.0
    # And its later suggestions are lower on average than its startup (random) ones.
    assert statistics.fmean(scores[-10:]) < statistics.fmean(scores[:10])


def test_tpe_parallel_suggestions_before_reports() -> None:
    suggester = TrialSuggester(TPE_SPEC, seed=1)
    batch = [suggester.suggest() for _ in range(4)]
    assert all(b is not None for b in batch)
    assert len({json.dumps(b, sort_keys=True) for b in batch}) == 4
    for values in batch:
        assert values is not None
        suggester.report(values, _objective(values))
    assert len(_drain(suggester)) == 36


def test_tpe_failed_and_unknown_reports_are_accepted() -> None:
    suggester = TrialSuggester(TPE_SPEC, seed=1)
    first = suggester.suggest()
    assert first is not None
    suggester.report(first, None, failed=True)
    suggester.report({"lr": "0.01", "units": "12"}, 1.0)  # not handed out by this suggester
    assert suggester._study is not None
    states = [t.state.name for t in suggester._study.trials]
    assert states == ["FAIL", "COMPLETE"]


def test_resume_seeds_tpe_with_previous_trials() -> None:
    # The previous job: 20 trials of a TPE search whose best is ~0.89.
    earlier = TrialSuggester({**TPE_SPEC, "maxTrials": 20}, seed=100)
    previous: list[dict] = []
    for i, values in enumerate(_drain(earlier)):
        previous.append({"trialId": str(i + 1), "hyperparameters": values, "state": "SUCCEEDED",
                         "finalMetric": {"trainingStep": "5", "objectiveValue": _objective(values)}})
    previous.append({"trialId": "21", "hyperparameters": {"lr": "0.2", "units": "3"}, "state": "FAILED"})
    # A failed trial that reported a (great) metric before failing must not count as a result.
    previous.append({"trialId": "22", "hyperparameters": {"lr": "0.5", "units": "60"}, "state": "FAILED",
                     "finalMetric": {"trainingStep": "5", "objectiveValue": 99.0}})
    previous.append({"trialId": "23", "hyperparameters": {"lr": "0.4", "units": "50"}, "state": "CANCELLED",
                     "finalMetric": {"trainingStep": "2", "objectiveValue": 98.0}})
    spec = {**TPE_SPEC, "maxTrials": 6}
    warm_means, cold_means = [], []
    for seed in range(3):
        warm = TrialSuggester(spec, seed=seed, previous_trials=previous)
        assert warm._study is not None
        assert len(warm._study.trials) == 20  # only the SUCCEEDED trials teach the sampler
        assert all(t.value < 2 for t in warm._study.trials)
        warm_scores = [_objective(v) for v in _drain(warm)]
        cold_scores = [_objective(v) for v in _drain(TrialSuggester(spec, seed=seed))]
        assert len(warm_scores) == 6
        # Seeded with the earlier trials, the new search starts where the old one left off.
        assert max(warm_scores) > 0.9, warm_scores
        warm_means.append(statistics.fmean(warm_scores))
        cold_means.append(statistics.fmean(cold_scores))
    assert statistics.fmean(warm_means) > statistics.fmean(cold_means) + 0.5, (warm_means, cold_means)


REVERSE = {"parameterName": "m", "type": "DOUBLE", "minValue": 0.001, "maxValue": 1.0,
           "scaleType": "UNIT_REVERSE_LOG_SCALE"}


def test_tpe_reverse_log_scale_is_dense_near_max() -> None:
    suggester = TrialSuggester({"maxTrials": 600, "params": [REVERSE]}, seed=5)
    values = [float(v["m"]) for v in _drain(suggester)]
    assert len(values) == 600 and all(0.001 <= v <= 1.0 for v in values)
    # Mirror of log-uniform: median ~ 1.001 - sqrt(0.001) ~ 0.969 and two thirds above 0.9
    # (a linear draw: median 0.5, a tenth above 0.9; a log draw: median 0.03).
    assert statistics.median(values) == pytest.approx(1.001 - math.sqrt(0.001), abs=0.02)
    assert 0.6 < sum(v > 0.9 for v in values) / len(values) < 0.74


def test_tpe_reverse_log_integer_and_resume_round_trip() -> None:
    param = {"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 1000,
             "scaleType": "UNIT_REVERSE_LOG_SCALE"}
    ints = [int(v["n"]) for v in _drain(TrialSuggester({"maxTrials": 600, "params": [param]}, seed=5))]
    assert all(1 <= v <= 1000 for v in ints)
    assert 940 < statistics.median(ints) < 990  # 1001 - geometric mean of [1, 1000] ~ 969

    previous = [{"trialId": "1", "state": "SUCCEEDED", "hyperparameters": {"m": "0.99"},
                 "finalMetric": {"trainingStep": "1", "objectiveValue": 0.5}}]
    resumed = TrialSuggester({"maxTrials": 2, "params": [REVERSE]}, previous_trials=previous)
    assert resumed._study is not None
    (seeded,) = resumed._study.trials
    assert seeded.params["m"] == pytest.approx(0.011)  # the sampler's view: min + max - 0.99
    assert 0.001 <= float(_drain(resumed)[0]["m"]) <= 1.0


def test_defaults_give_one_trial() -> None:
    suggester = TrialSuggester({"params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}]})
    assert suggester.total_trials() == 1
    assert len(_drain(suggester)) == 1


def test_values_render_like_the_service_reports_them() -> None:
    suggester = TrialSuggester(
        {"algorithm": "RANDOM_SEARCH", "maxTrials": 50, "params": [
            {"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 9},
            {"parameterName": "x", "type": "DOUBLE", "minValue": 0.1, "maxValue": 0.2},
        ]},
        seed=2,
    )
    for values in _drain(suggester):
        assert str(int(values["n"])) == values["n"]
        assert repr(float(values["x"])) == values["x"]


# -- hypertune files, written by the real cloudml-hypertune library ---------------------------------


def test_read_hypertune_metrics_from_the_real_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hypertune

    metric_file = tmp_path / "hp" / "output.metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(metric_file))
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "3")
    reporter = hypertune.HyperTune()
    for step, value in enumerate([0.5, 0.625, 0.75], start=1):
        reporter.report_hyperparameter_tuning_metric("accuracy", value, global_step=step * 10)
    reporter.report_hyperparameter_tuning_metric("loss", 0.25, global_step=30)

    found = read_hypertune_metrics(metric_file, "accuracy")
    assert [(m.step, m.value) for m in found] == [(10, 0.5), (20, 0.625), (30, 0.75)]
    assert all(isinstance(m, Measurement) and m.timestamp > 0 for m in found)
    assert [m.value for m in read_hypertune_metrics(str(metric_file), "loss")] == [0.25]
    assert read_hypertune_metrics(metric_file, "missing") == []


def test_read_hypertune_metrics_default_tag_and_bounded_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hypertune

    metric_file = tmp_path / "output.metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(metric_file))
    reporter = hypertune.HyperTune()
    for step in range(150):
        reporter.report_hyperparameter_tuning_metric(None, step / 100, global_step=step)
    found = read_hypertune_metrics(metric_file, "training/hptuning/metric")
    # The library keeps its last 100 reports; the last one is the final metric.
    assert len(found) == 100
    assert found[-1] == Measurement(step=149, value=1.49, timestamp=found[-1].timestamp)


def test_read_hypertune_metrics_missing_and_damaged_files(tmp_path: Path) -> None:
    assert read_hypertune_metrics(tmp_path / "nope", "accuracy") == []
    damaged = tmp_path / "damaged.metrics"
    damaged.write_text(
        '{"accuracy": "0.5", "global_step": "1", "timestamp": 1.0}\n'
        '{"accuracy": "nan", "global_step": "2", "timestamp": 2.0}\n'
        '{"accuracy": "0.7", "global_st'
    )
    assert read_hypertune_metrics(damaged, "accuracy") == [Measurement(1, 0.5, 1.0)]


# -- median stopping rule -----------------------------------------------------------------------------

COMPLETED = [[0.5, 0.6, 0.7, 0.8], [0.6, 0.7, 0.8, 0.9], [0.4, 0.5, 0.6, 0.7]]
# Running averages over the first 3 values: 0.6, 0.7, 0.5 -> median 0.6.


def test_stops_a_trailing_trial_when_maximizing() -> None:
    assert should_stop_early("MAXIMIZE", [0.3, 0.4, 0.55], COMPLETED) is True


def test_keeps_a_trial_at_or_above_the_median() -> None:
    assert should_stop_early("MAXIMIZE", [0.3, 0.6, 0.5], COMPLETED) is False
    assert should_stop_early("MAXIMIZE", [0.9, 0.2, 0.1], COMPLETED) is False  # best-so-far counts


def test_minimize_flips_the_comparison() -> None:
    losses = [[1.0, 0.8, 0.6], [2.0, 1.5, 1.0], [0.9, 0.7, 0.5]]  # averages 0.8, 1.5, 0.7 -> median 0.8
    assert should_stop_early("MINIMIZE", [1.2, 1.1, 0.9], losses) is True
    assert should_stop_early("MINIMIZE", [1.2, 1.1, 0.75], losses) is False


def test_needs_enough_evidence() -> None:
    assert should_stop_early("MAXIMIZE", [0.0, 0.0], COMPLETED) is False  # too few intermediate values
    assert should_stop_early("MAXIMIZE", [0.0, 0.0, 0.0], COMPLETED[:1]) is False  # one completed trial
    assert should_stop_early("MAXIMIZE", [0.0, 0.0, 0.0], [[], [], [0.9]]) is False
    assert should_stop_early("MAXIMIZE", [0.0, 0.0, 0.0], [[0.9], [0.8]]) is True


def test_compares_at_the_same_step() -> None:
    # Completed trials were poor early and strong late; at step 3 the median average is 0.2.
    completed = [[0.1, 0.2, 0.3, 0.95, 0.99], [0.1, 0.2, 0.3, 0.9, 0.99]]
    assert should_stop_early("MAXIMIZE", [0.2, 0.22, 0.25], completed) is False
    assert should_stop_early("MAXIMIZE", [0.1, 0.12, 0.15], completed) is True
