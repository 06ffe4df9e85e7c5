"""HyperparameterSpec validation through build_training_job: every rule, errors name the parameter."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_trainjobs.spec import InvalidJobSpec, build_training_job

HP = "trainingInput.hyperparameters"
LR: dict[str, Any] = {
    "parameterName": "learning_rate",
    "type": "DOUBLE",
    "minValue": 0.0001,
    "maxValue": 0.1,
    "scaleType": "UNIT_LOG_SCALE",
}
VALID: dict[str, Any] = {
    "goal": "MAXIMIZE",
    "hyperparameterMetricTag": "accuracy",
    "maxTrials": 6,
    "maxParallelTrials": 2,
    "maxFailedTrials": 1,
    "enableTrialEarlyStopping": True,
    "params": [
        LR,
        {"parameterName": "hidden-units", "type": "INTEGER", "minValue": 8, "maxValue": 64},
        {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["adam", "sgd"]},
        {"parameterName": "batch_size", "type": "DISCRETE", "discreteValues": [16, 32, 64]},
    ],
}


def build(spec: dict[str, Any]) -> dict[str, Any]:
    return build_training_job(
        "tune_1",
        package_uris=["gs://b/trainer-0.1.tar.gz"],
        module_name="trainer.task",
        region="us-central1",
        hyperparameters=spec,
    )


def spec_with(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(VALID)
    spec.update(changes)
    return spec


def param_spec(*params: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return spec_with(params=list(params), **changes)


def error_for(spec: dict[str, Any]) -> InvalidJobSpec:
    with pytest.raises(InvalidJobSpec) as info:
        build(spec)
    return info.value


def test_valid_spec_is_sent_as_given() -> None:
    assert build(VALID)["trainingInput"]["hyperparameters"] == VALID


def test_defaults_may_be_left_out() -> None:
    build({"params": [LR]})


@pytest.mark.parametrize("goal", ["MAXIMIZE", "MINIMIZE", "GOAL_TYPE_UNSPECIFIED"])
def test_goals(goal: str) -> None:
    build(spec_with(goal=goal))


def test_bad_goal() -> None:
    err = error_for(spec_with(goal="BEST"))
    assert err.field == f"{HP}.goal"
    assert "is not one of GOAL_TYPE_UNSPECIFIED, MAXIMIZE, MINIMIZE" in err.rule


def test_empty_metric_tag() -> None:
    assert error_for(spec_with(hyperparameterMetricTag=" ")).field == f"{HP}.hyperparameterMetricTag"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"maxTrials": 0}, "maxTrials", "must be 1 or more"),
        ({"maxParallelTrials": 0}, "maxParallelTrials", "must be 1 or more"),
        ({"maxTrials": 2, "maxParallelTrials": 3}, "maxParallelTrials", "3 is more than maxTrials (2)"),
        ({"maxTrials": None, "maxParallelTrials": 2}, "maxParallelTrials", "more than maxTrials (1)"),
        ({"maxFailedTrials": -1}, "maxFailedTrials", "must be 0 or more"),
        ({"maxTrials": "six"}, "maxTrials", "expected an integer (int32)"),
        (
            {"algorithm": "HILL_CLIMB"},
            "algorithm",
            "is not one of ALGORITHM_UNSPECIFIED, GRID_SEARCH, RANDOM_SEARCH",
        ),
        ({"enableTrialEarlyStopping": "yes"}, "enableTrialEarlyStopping", "expected a boolean"),
        ({"resumePreviousJobId": "previous-job"}, "resumePreviousJobId", "is not a valid job id"),
        ({"params": []}, "params", "at least one parameter"),
        ({"searchSpace": {}}, "searchSpace", "unknown field"),
    ],
)
def test_spec_level_rules(changes: dict[str, Any], field: str, fragment: str) -> None:
    spec = spec_with(**changes)
    if changes.get("maxTrials", 0) is None:
        del spec["maxTrials"]
    err = error_for(spec)
    assert err.field == f"{HP}.{field}"
    assert fragment in err.rule


def test_parallel_equal_to_max_trials_and_resume_are_valid() -> None:
    build(spec_with(maxTrials=2, maxParallelTrials=2, resumePreviousJobId="tune_0"))


@pytest.mark.parametrize("name", ["lr", "learning_rate", "hidden-units", "L2", "a" * 128])
def test_valid_parameter_names(name: str) -> None:
    build(param_spec({"parameterName": name, "type": "INTEGER", "minValue": 1, "maxValue": 2}))


@pytest.mark.parametrize("name", ["1lr", "_lr", "-lr", "learning rate", "lr=1", "lr.x", "a" * 129])
def test_parameter_names_must_be_valid_flags(name: str) -> None:
    err = error_for(param_spec({"parameterName": name, "type": "INTEGER", "minValue": 1, "maxValue": 2}))
    assert err.field == f"{HP}.params[{name}].parameterName"
    assert "not valid as a command-line flag" in err.rule


def test_parameter_name_required() -> None:
    err = error_for(param_spec({"type": "INTEGER", "minValue": 1, "maxValue": 2}))
    assert err.field == f"{HP}.params[0].parameterName"


def test_parameter_names_unique() -> None:
    err = error_for(param_spec(LR, {**LR, "minValue": 0.5, "maxValue": 0.9}))
    assert err.field == f"{HP}.params[learning_rate].parameterName"
    assert "duplicate" in err.rule


@pytest.mark.parametrize("kind", [None, "PARAMETER_TYPE_UNSPECIFIED"])
def test_type_required(kind: str | None) -> None:
    param: dict[str, Any] = {"parameterName": "lr", "minValue": 0.1, "maxValue": 0.2}
    if kind:
        param["type"] = kind
    err = error_for(param_spec(param))
    assert err.field == f"{HP}.params[lr].type"
    assert "required: one of DOUBLE, INTEGER, CATEGORICAL, DISCRETE" in err.rule


def test_unknown_type() -> None:
    err = error_for(param_spec({"parameterName": "lr", "type": "FLOAT", "minValue": 0.1, "maxValue": 0.2}))
    assert err.field == f"{HP}.params[lr].type"
    assert "is not one of" in err.rule


@pytest.mark.parametrize("kind", ["DOUBLE", "INTEGER"])
@pytest.mark.parametrize("missing", ["minValue", "maxValue"])
def test_range_bounds_required(kind: str, missing: str) -> None:
    param = {"parameterName": "p", "type": kind, "minValue": 1, "maxValue": 5}
    del param[missing]
    err = error_for(param_spec(param))
    assert (err.field, err.rule) == (f"{HP}.params[p].{missing}", f"required for a {kind} parameter")


@pytest.mark.parametrize("kind", ["DOUBLE", "INTEGER"])
@pytest.mark.parametrize(("low", "high"), [(5, 5), (6, 5)])
def test_min_less_than_max(kind: str, low: int, high: int) -> None:
    err = error_for(param_spec({"parameterName": "p", "type": kind, "minValue": low, "maxValue": high}))
    assert err.field == f"{HP}.params[p].minValue"
    assert "must be less than maxValue" in err.rule


def test_integer_bounds_must_be_integral() -> None:
    err = error_for(param_spec({"parameterName": "units", "type": "INTEGER", "minValue": 1.5, "maxValue": 8}))
    assert err.field == f"{HP}.params[units].minValue"
    assert "not an integer" in err.rule
    build(param_spec({"parameterName": "units", "type": "INTEGER", "minValue": 1.0, "maxValue": "8"}))


@pytest.mark.parametrize("scale", ["UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"])
@pytest.mark.parametrize("low", [0, -1])
def test_log_scales_need_positive_min(scale: str, low: float) -> None:
    err = error_for(
        param_spec(
            {"parameterName": "lr", "type": "DOUBLE", "minValue": low, "maxValue": 1, "scaleType": scale}
        )
    )
    assert err.field == f"{HP}.params[lr].minValue"
    assert f"must be greater than 0 for {scale}" in err.rule


def test_linear_scale_allows_negative_min() -> None:
    build(
        param_spec(
            {
                "parameterName": "x",
                "type": "DOUBLE",
                "minValue": -1,
                "maxValue": 1,
                "scaleType": "UNIT_LINEAR_SCALE",
            }
        )
    )


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ([], "non-empty list of strings"),
        (["adam", ""], "non-empty strings"),
        (["adam", "adam"], "duplicate value 'adam'"),
    ],
)
def test_categorical_values(values: list[str], fragment: str) -> None:
    err = error_for(param_spec({"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": values}))
    assert err.field == f"{HP}.params[opt].categoricalValues"
    assert fragment in err.rule


def test_categorical_values_must_be_strings() -> None:
    err = error_for(
        param_spec({"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["a", 1]})
    )
    assert err.field == f"{HP}.params[opt].categoricalValues[1]"


def test_categorical_rejects_scale_and_bounds() -> None:
    param = {
        "parameterName": "opt",
        "type": "CATEGORICAL",
        "categoricalValues": ["a"],
        "scaleType": "UNIT_LINEAR_SCALE",
    }
    err = error_for(param_spec(param))
    assert (err.field, err.rule) == (f"{HP}.params[opt].scaleType", "not allowed for a CATEGORICAL parameter")
    build(param_spec({**param, "scaleType": "NONE"}))
    err = error_for(param_spec({**param, "scaleType": "NONE", "minValue": 1}))
    assert (err.field, err.rule) == (f"{HP}.params[opt].minValue", "not allowed for a CATEGORICAL parameter")


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ([], "non-empty list of numbers"),
        ([1, 1], "strictly increasing"),
        ([4, 2, 8], "strictly increasing"),
        (list(range(1001)), "1001 values given; at most 1000"),
    ],
)
def test_discrete_values(values: list[float], fragment: str) -> None:
    err = error_for(param_spec({"parameterName": "bs", "type": "DISCRETE", "discreteValues": values}))
    assert err.field == f"{HP}.params[bs].discreteValues"
    assert fragment in err.rule


def test_discrete_values_at_the_limit_and_with_log_scale() -> None:
    build(param_spec({"parameterName": "bs", "type": "DISCRETE", "discreteValues": list(range(1, 1001))}))
    err = error_for(
        param_spec(
            {
                "parameterName": "bs",
                "type": "DISCRETE",
                "discreteValues": [0, 1],
                "scaleType": "UNIT_LOG_SCALE",
            }
        )
    )
    assert err.field == f"{HP}.params[bs].discreteValues"
    assert "greater than 0" in err.rule


def test_discrete_rejects_bounds() -> None:
    err = error_for(
        param_spec({"parameterName": "bs", "type": "DISCRETE", "discreteValues": [1, 2], "maxValue": 3})
    )
    assert err.field == f"{HP}.params[bs].maxValue"


def test_range_types_reject_value_lists() -> None:
    err = error_for(param_spec({**LR, "categoricalValues": ["a"]}))
    assert err.field == f"{HP}.params[learning_rate].categoricalValues"


def test_grid_search_allows_only_integer_categorical_discrete() -> None:
    build(spec_with(algorithm="GRID_SEARCH", params=VALID["params"][1:]))
    err = error_for(spec_with(algorithm="GRID_SEARCH"))
    assert err.field == f"{HP}.params[learning_rate].type"
    assert err.rule == "GRID_SEARCH supports only INTEGER, CATEGORICAL, DISCRETE parameters, not DOUBLE"


def test_random_search_allows_double() -> None:
    build(spec_with(algorithm="RANDOM_SEARCH"))


def test_all_problems_listed_first_one_named() -> None:
    spec = param_spec(
        {"parameterName": "a", "type": "DOUBLE", "minValue": 2, "maxValue": 1},
        {"parameterName": "b", "type": "DISCRETE", "discreteValues": [3, 2]},
        maxTrials=1,
        maxParallelTrials=2,
    )
    err = error_for(spec)
    assert err.field == f"{HP}.maxParallelTrials"
    assert [f for f, _ in err.problems] == [
        f"{HP}.maxParallelTrials",
        f"{HP}.params[a].minValue",
        f"{HP}.params[b].discreteValues",
    ]
