"""Hostile and careless input that crashed or hung the job spec (issue 10): each now ends in one InvalidJobSpec
naming the field or the config file, decided by input-size bounds rather than by how long Python takes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_trainjobs.spec import InvalidJobSpec, build_training_job, load_config, validate_job
from airflow_provider_trainjobs.spec.durations import MAX_DURATION_SECONDS, optional_duration, parse_duration
from airflow_provider_trainjobs.spec.limits import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_VALUES, check_shape, show
from airflow_provider_trainjobs.spec.schema import validate_resource

pytestmark = pytest.mark.timeout(60)

CODE: dict[str, Any] = {"package_uris": ["gs://b/trainer-0.1.tar.gz"], "module_name": "trainer.task",
                        "region": "us-central1"}
HP = "trainingInput.hyperparameters"


def ident(value: Any) -> str:
    """A short test id: pytest's own str() fails on ints past 4,300 digits."""
    return show(value, 30)


def training_config(**training_input: Any) -> dict[str, Any]:
    return {"trainingInput": {"region": "us-central1", "packageUris": ["gs://b/p.tar.gz"],
                              "pythonModule": "trainer.task", **training_input}}


def refused(**kwargs: Any) -> InvalidJobSpec:
    with pytest.raises(InvalidJobSpec) as info:
        build_training_job("job_1", **{**CODE, **kwargs})
    assert len(str(info.value)) < 20_000  # the message never carries the hostile value whole
    return info.value


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- acceleratorConfig.type of the wrong type on the vertex backend (was TypeError: unhashable type)


@pytest.mark.parametrize("value", [["NVIDIA_L4"], {"a": 1}, 5, True])
def test_a_non_string_accelerator_type_is_named_on_the_vertex_backend(value: Any) -> None:
    config = training_config(scaleTier="CUSTOM", masterType="g2-standard-8",
                             masterConfig={"acceleratorConfig": {"type": value, "count": 1}})
    err = refused(config=config, backend="vertex")
    assert err.field == "trainingInput.masterConfig.acceleratorConfig.type"
    assert "expected a string, one of" in err.rule


# --- numbers past the double / int64 range (were OverflowError and the 4,300-digit ValueError)


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ({"type": "DOUBLE", "minValue": 0, "maxValue": 10**309}, "maxValue"),
        ({"type": "INTEGER", "minValue": 0, "maxValue": 10**400}, "maxValue"),
        ({"type": "INTEGER", "minValue": -(10**100_000), "maxValue": 1}, "minValue"),
        ({"type": "DOUBLE", "minValue": 0, "maxValue": "9" * 100_000}, "maxValue"),
        ({"type": "DOUBLE", "minValue": 0, "maxValue": "1e400"}, "maxValue"),
        ({"type": "DOUBLE", "minValue": float("nan"), "maxValue": 1}, "minValue"),
        ({"type": "DOUBLE", "minValue": "-Infinity", "maxValue": 1}, "minValue"),
        ({"type": "DISCRETE", "discreteValues": [1, 10**400]}, "discreteValues"),
        ({"type": "DISCRETE", "discreteValues": [1, "NaN"]}, "discreteValues"),
    ],
    ids=ident,
)
def test_hyperparameter_numbers_out_of_the_double_range_are_named(param: dict[str, Any], field: str) -> None:
    spec = {"maxTrials": 2, "params": [{"parameterName": "lr", **param}]}
    err = refused(hyperparameters=spec)
    assert err.field.startswith(f"{HP}.params[lr].{field}")


@pytest.mark.parametrize("value", ["9" * 100_000, 10**100_000, 2**63, "9223372036854775808"], ids=ident)
def test_integers_past_int64_are_out_of_range_not_a_crash(value: Any) -> None:
    err = refused(config=training_config(workerCount=value, workerType="n1-standard-4", scaleTier="CUSTOM",
                                         masterType="n1-standard-4"))
    assert err.field == "trainingInput.workerCount"
    assert "out of the int64 range" in err.rule


def test_an_int32_field_is_bounded_as_int32() -> None:
    err = refused(config=training_config(scheduling={"priority": 2**31}))
    assert err.field == "trainingInput.scheduling.priority"


def test_a_huge_integer_in_user_args_is_named() -> None:
    err = refused(user_args=["--x", 10**5000])
    assert err.field == "trainingInput.args"
    assert "<an integer of 5001 digits>" in err.rule


# --- nesting (was RecursionError in json, yaml, deepcopy and the validators)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_a_100000_deep_json_config_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    err = refused(config=str(path))
    assert err.field == "config"
    assert str(path) in err.rule and f"nested more than {MAX_DEPTH} levels" in err.rule


@pytest.mark.parametrize(
    "text",
    [
        "trainingInput: " + "[" * 5_000 + "]" * 5_000,  # flow style
        "trainingInput:\n  args:\n  " + "- " * 5_000 + "x\n",  # block sequences, two bytes a level
        "".join("  " * i + f"k{i}:\n" for i in range(60)),  # block mappings
    ],
)
def test_a_deep_yaml_config_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    err = refused(config=str(write(tmp_path, "deep.yaml", text)))
    assert err.field == "config"
    assert "nested more than" in err.rule or "exceeded maximum nesting depth" in err.rule  # ours or libyaml's


def test_a_deep_yaml_config_is_refused_by_the_pure_python_loader_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(yaml, "CSafeLoader")
    path = write(tmp_path, "deep.yaml", "trainingInput:\n  args:\n  " + "- " * 5_000 + "x\n")
    err = refused(config=str(path))
    assert err.field == "config" and "nested more than" in err.rule


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_a_deep_config_dict_is_refused_naming_the_field(depth: int) -> None:
    err = refused(config=training_config(args=nested(depth)))
    assert err.field.startswith("trainingInput.args[0]")
    assert f"nested more than {MAX_DEPTH} levels deep" in err.rule


def test_a_deep_hyperparameters_argument_is_refused_before_it_is_copied() -> None:
    err = refused(hyperparameters={"params": nested(100_000)})
    assert err.field.startswith(f"{HP}.params")


def test_a_config_dict_inside_itself_is_refused() -> None:
    config = training_config()
    config["trainingInput"]["args"] = args = ["a"]
    args.append(args)
    with pytest.raises(InvalidJobSpec, match="contains itself") as info:
        validate_job(config)
    assert info.value.field == "trainingInput.args[1]"


def test_validate_resource_reports_deep_bodies_as_one_problem() -> None:
    problems = validate_resource("ml.v1", "Job", {"labels": nested(50_000)})
    assert problems == [f"labels{'[0]' * (MAX_DEPTH - 1)}: nested more than {MAX_DEPTH} levels deep"]


# --- YAML alias bombs (the message builder repr()'d the whole expanded subtree: 21 s for 389 bytes)

BOMB = "\n".join(  # 383 bytes, 9**9 values once expanded
    [f"a: &a [{','.join('x' * 9)}]"]
    + [f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
    + ["trainingInput: {region: *i, args: *i}", ""]
)


def test_a_yaml_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    assert len(BOMB) < 500
    err = refused(config=str(write(tmp_path, "bomb.yaml", BOMB)))
    assert err.field == "config"
    assert f"more than {MAX_VALUES} values once YAML aliases are expanded" in err.rule


def test_aliases_that_stay_small_are_accepted(tmp_path: Path) -> None:
    text = "trainingInput:\n  region: &r us-central1\n  packageUris: &p [gs://b/p.tar.gz]\n" \
           "  pythonModule: trainer.task\n  args: [--region, *r]\n"
    job = build_training_job("job_1", config=str(write(tmp_path, "ok.yaml", text)))
    assert job["trainingInput"]["args"] == ["--region", "us-central1"]


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    err = refused(config=str(write(tmp_path, "loop.yaml", "trainingInput: &t {region: x, args: [*t]}\n")))
    assert err.field == "config" and "inside its own anchor" in err.rule


def test_a_shared_python_structure_is_bounded_like_an_alias_bomb() -> None:
    value: Any = ["lol"] * 9
    for _ in range(9):
        value = [value] * 9  # 9**10 values once expanded, a few hundred objects in memory
    err = refused(config=training_config(args=value))
    assert err.field == "trainingInput.args"
    assert f"more than {MAX_VALUES} values" in err.rule


def test_merge_key_bombs_are_refused(tmp_path: Path) -> None:
    lines = ["m0: &m0 {k: v}"] + [
        f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}], k{i}: v}}" for i in range(1, 10)
    ]
    err = refused(config=str(write(tmp_path, "merge.yaml", "\n".join(lines) + "\n")))
    assert err.field == "config"


# --- size: the C loader is used and files past 1 MiB are refused unread


def test_a_config_file_past_one_mib_is_refused_naming_the_file_and_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", "trainingInput:\n  region: '" + "x" * (50 * 1024 * 1024) + "'\n")
    err = refused(config=str(path))
    assert err.field == "config"
    assert str(path) in err.rule and f"at most {MAX_CONFIG_BYTES} bytes (1 MiB)" in err.rule


def test_a_config_file_of_exactly_one_mib_is_read(tmp_path: Path) -> None:
    head = "trainingInput:\n  region: '"
    path = write(tmp_path, "full.yaml", head + "x" * (MAX_CONFIG_BYTES - len(head) - 2) + "'\n")
    assert path.stat().st_size == MAX_CONFIG_BYTES
    assert len(load_config(path)["trainingInput"]["region"]) > 1_000_000


def test_the_c_loader_reads_yaml_when_pyyaml_has_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert yaml.__with_libyaml__  # the C loader is installed here, so the fast path is what is tested
    used: list[type] = []
    original = yaml.load

    def spy(stream: Any, Loader: type) -> Any:  # noqa: N803 - yaml's own argument name
        used.append(Loader)
        return original(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "load", spy)
    load_config(write(tmp_path, "c.yaml", "trainingInput: {region: x}\n"))
    assert [issubclass(loader, yaml.CSafeLoader) for loader in used] == [True]


def test_200k_labels_are_refused_by_size(tmp_path: Path) -> None:
    labels = "".join(f"  k{i}: v\n" for i in range(200_000))
    assert refused(config=str(write(tmp_path, "labels.yaml", "labels:\n" + labels))).field == "config"
    under_a_mib = "labels:\n" + "".join(f"  k{i}: v\n" for i in range(60_000))
    err = refused(config=str(write(tmp_path, "labels.yaml", under_a_mib)))
    assert err.field == "config" and f"more than {MAX_VALUES} values" in err.rule


def test_a_non_regular_file_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    err = refused(config=str(fifo))
    assert err.field == "config" and "not a regular file" in err.rule


# --- encoding and unreadable values


def test_a_config_file_that_is_not_utf8_names_the_file_and_the_byte(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.yaml", "trainingInput:\n  region: café\n".encode("latin-1"))
    err = refused(config=str(path))
    assert err.field == "config"
    assert str(path) in err.rule and "not UTF-8 text: byte 0xe9 at line 2" in err.rule


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps({"trainingInput": {"region": "x"}}).encode())
    assert load_config(path) == {"trainingInput": {"region": "x"}}


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("digits.json", '{"trainingInput": {"workerCount": ' + "9" * 100_000 + "}}", "a number of 100000 digits"),
        ("digits.yaml", "trainingInput: {workerCount: " + "9" * 100_000 + "}\n", "number written with 100000"),
        ("base60.yaml", "trainingInput: {workerCount: 1" + ":59" * 100_000 + "}\n", "number written with"),
        ("date.yaml", "trainingInput: {region: 2001-02-30}\n", "day is out of range for month"),
        ("stamp.yaml", "trainingInput: {region: !!timestamp x}\n", "cannot read this value: AttributeError"),
        ("nul.yaml", "trainingInput: {region: \"a\x00\"}\n", "not valid YAML"),
        ("nul.json", '{"trainingInput": {"region": "a\x00"}}', "not valid JSON"),
        ("dupe.yaml", "? [a]\n: b\n", "not valid YAML"),
    ],
    ids=ident,
)
def test_unreadable_values_name_the_config_file(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    err = refused(config=str(write(tmp_path, name, text)))
    assert err.field == "config"
    assert fragment in err.rule


def test_a_path_with_a_nul_byte_is_refused() -> None:
    assert refused(config="conf\x00ig.yaml").field == "config"


# --- durations: one parser for arguments, config files and the schema


@pytest.mark.parametrize("value", ["9" * 400 + "s", " 3600s", "3600s ", "1e3s", "infs", "nans", "3600"])
def test_a_duration_is_refused_the_same_as_an_argument_and_in_a_config(value: str) -> None:
    as_argument = refused(max_running_time=value)
    in_config = refused(config=training_config(scheduling={"maxRunningTime": value}))
    assert as_argument.field == in_config.field == "trainingInput.scheduling.maxRunningTime"
    assert as_argument.rule == in_config.rule


@pytest.mark.parametrize(
    "value", [10**400, float("inf"), MAX_DURATION_SECONDS + 1, timedelta.max, f"{MAX_DURATION_SECONDS + 1}s"],
    ids=ident,
)
def test_durations_past_ten_thousand_years_are_refused(value: Any) -> None:
    err = refused(max_wait_time=value)
    assert err.field == "trainingInput.scheduling.maxWaitTime"


def test_the_longest_duration_is_accepted() -> None:
    job = build_training_job("job_1", **CODE, max_running_time=f"{MAX_DURATION_SECONDS}s")
    assert parse_duration(job["trainingInput"]["scheduling"]["maxRunningTime"]) == MAX_DURATION_SECONDS


def test_optional_duration_gives_the_default_for_an_unset_field() -> None:
    assert optional_duration(None) is None
    assert optional_duration("", 7.0) == 7.0
    assert optional_duration("1.5s", 7.0) == 1.5
    with pytest.raises(ValueError, match="is not a duration"):
        optional_duration("soon")


# --- messages and other entry points


def test_show_summarises_without_formatting_the_whole_value() -> None:
    bomb: Any = ["lol"]
    for _ in range(30):
        bomb = [bomb] * 10
    assert len(show(bomb)) <= 80
    assert show(10**100_000) == "<an integer of 100001 digits>"
    assert show("x" * 10**7).endswith("...") and len(show("x" * 10**7)) == 80
    assert show(object()) == "<object>"


def test_the_message_lists_at_most_twenty_more_problems() -> None:
    labels = {f"K{i}": "v" for i in range(60)}
    with pytest.raises(InvalidJobSpec) as info:
        build_training_job("job_1", **CODE, labels=labels)
    assert len(info.value.problems) == 60
    assert "(and 59 more: " in str(info.value) and "; ... 39 not shown)" in str(info.value)


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", print])
def test_values_that_are_not_json_are_named(value: Any) -> None:
    err = refused(config=training_config(args=["a", value]))
    assert err.field == "trainingInput.args[1]"


def test_a_long_service_account_made_of_dots_is_refused_at_once() -> None:
    err = refused(service_account="a@" + "." * 1_000_000 + " ")
    assert err.field == "trainingInput.serviceAccount"


def test_check_shape_accepts_a_real_job_and_yaml_scalars() -> None:
    from datetime import date

    check_shape({"trainingInput": {"args": ["a", 1, 2.5, None, True]}, "createTime": date(2024, 1, 31)})
