"""Seeded fuzzing of the job spec (issue 10): whatever the input — Job bodies shaped by the ml v1 discovery
document with hostile values at any field, build_training_job arguments, config files in YAML or JSON with
text mutations, alias programs — the answer is a valid body or one InvalidJobSpec naming a field.

Deterministic (``derandomize``, no example database) and without deadlines: the inputs are bounded by
construction (the largest hostile value is built once), so a slow machine only makes the run slower.
About 2,400 examples in all.
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.spec_strategies import HOSTILE, body_for, hostile_values, jobs, jsonable

from airflow_provider_trainjobs.spec import InvalidJobSpec, build_training_job, load_config, validate_job
from airflow_provider_trainjobs.spec.durations import MAX_DURATION_SECONDS, parse_duration
from airflow_provider_trainjobs.spec.limits import MAX_VALUES, show
from airflow_provider_trainjobs.spec.schema import discovery_document, validate_resource
from airflow_provider_trainjobs.spec.validation import BACKENDS

pytestmark = pytest.mark.timeout(600)

_SCHEMAS = discovery_document("ml.v1")["schemas"]
# A field named by an error starts with a Job field, a TrainingInput field (a misplaced one at the top of a
# config), the config file, or the body itself.
ROOTS = {*_SCHEMAS["GoogleCloudMlV1__Job"]["properties"], *_SCHEMAS["GoogleCloudMlV1__TrainingInput"]["properties"],
         "config", "(body)"}


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def assert_names_a_field(err: InvalidJobSpec, given: Any = None, text: str = "") -> None:
    """The error names a Job field, the config file, or a key the input itself has (an unknown field): a key of
    the ``given`` mapping, or one written in the config file's ``text``."""
    assert err.field, err
    assert str(err).startswith(f"invalid training job: {err.field}: ")
    root = re.split(r"[.\[]", err.field, maxsplit=1)[0]
    keys = {key if isinstance(key, str) and key else show(key, 40) for key in given} if isinstance(given, dict) \
        else set()
    written = text and any(part and part in text for part in re.split(r"[.\[\]]", err.field))
    assert root in ROOTS or root in keys or err.field in keys or written, err.field
    assert err.rule and len(str(err)) < 100_000
    event(f"refused: {err.rule[:25]}")


def assert_accepted_body_is_sendable(job: dict[str, Any], backend: str) -> None:
    """A body the spec accepts is valid when checked again and is strict JSON, as googleapiclient sends it."""
    event("accepted")
    validate_job(job, backend=backend)
    json.dumps(job, allow_nan=False)


@fuzz(500)
@given(job=jobs(), backend=st.sampled_from(BACKENDS))
def test_validate_job_accepts_or_names_the_field(job: dict[str, Any], backend: str) -> None:
    try:
        validate_job(job, backend=backend)
    except InvalidJobSpec as err:
        assert_names_a_field(err, job)
    else:
        assert_accepted_body_is_sendable(job, backend)


@st.composite
def _maybe_hostile(draw: st.DrawFn, plausible: st.SearchStrategy[Any]) -> Any:
    return draw(hostile_values) if draw(st.integers(0, 11)) == 0 else draw(st.one_of(st.none(), plausible))


def _argument(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An argument left unset, a plausible value, or (one time in twelve) a hostile one."""
    return _maybe_hostile(plausible)


_names = st.sampled_from(["job_1", "1bad", "a" * 129, "census_20240131"])
_durations = st.one_of(st.sampled_from(["3600s", "1800s", "0s", "9" * 400 + "s", " 60s"]),
                       st.integers(-10, 10**12), st.floats(), st.timedeltas(min_value=timedelta(0)))
ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "module_name": st.sampled_from(["trainer.task", "trainer..task", ""]),
    "package_uris": st.lists(st.sampled_from(["gs://b/p.tar.gz", "gs://b", "/tmp/p.tar.gz"]), max_size=3),
    "region": st.sampled_from(["us-central1", "europe-west4", ""]),
    "job_dir": st.sampled_from(["gs://b/out", "s3://b", ""]),
    "scale_tier": st.sampled_from(["basic", "basic-gpu", "CUSTOM", "PREMIUM_1", "huge"]),
    "master_type": st.sampled_from(["n1-standard-4", "g2-standard-8", "complex_model_m"]),
    "worker_type": st.sampled_from(["n1-standard-4", ""]),
    "worker_count": st.one_of(st.integers(-2, 10), st.sampled_from(["3", "nine"])),
    "runtime_version": st.sampled_from(["2.8", "2.11", 2.8]),
    "python_version": st.sampled_from(["3.7", "3.10"]),
    "max_wait_time": _durations,
    "max_running_time": _durations,
    "service_account": st.sampled_from(["sa@p.iam.gserviceaccount.com", "nobody"]),
    "master_image_uri": st.sampled_from(["us-docker.pkg.dev/p/r/i:1", ""]),
    "labels": st.dictionaries(st.sampled_from(["team", "Team", "a" * 64, "ok-1"]),
                              st.one_of(st.sampled_from(["ml", "ML", ""]), hostile_values), max_size=3),
    "user_args": st.lists(st.one_of(st.sampled_from(["--epochs=5", "--lr", "0.1"]), st.integers(), st.floats()),
                          max_size=4),
    "hyperparameters": body_for("ml.v1", "GoogleCloudMlV1__HyperparameterSpec"),
    "config": jobs(),
}


BASE_ARGUMENTS = {"package_uris": ["gs://b/trainer-0.1.tar.gz"], "module_name": "trainer.task", "region": "us-central1"}


@fuzz(500)
@given(job_id=st.one_of(st.just("job_1"), _argument(_names)), arguments=st.fixed_dictionaries(
    {}, optional={name: _argument(strategy) for name, strategy in ARGUMENTS.items()}),
    based=st.booleans(), backend=st.sampled_from(BACKENDS))
def test_build_training_job_accepts_or_names_the_field(job_id: Any, arguments: dict[str, Any], based: bool,
                                                        backend: str) -> None:
    if based:  # valid code and region under the generated arguments, so later rules are reached too
        arguments = {**BASE_ARGUMENTS, **{k: v for k, v in arguments.items() if v is not None}}
    try:
        job = build_training_job(job_id, backend=backend, **arguments)
    except InvalidJobSpec as err:
        assert_names_a_field(err, arguments.get("config"))
    else:
        assert_accepted_body_is_sendable(job, backend)


def _serialise(body: Any, as_json: bool) -> str:
    """``body`` as JSON or YAML text (libyaml's emitter), as far as it can be written."""
    data = jsonable(body)
    try:
        text = json.dumps(data)
    except (ValueError, RecursionError):  # nesting past json's recursion
        return "{}"
    if as_json:
        return text
    try:
        return str(yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True))
    except (RecursionError, UnicodeEncodeError, yaml.YAMLError):  # e.g. a lone surrogate
        return text  # JSON is (nearly) YAML


SNIPPETS = ["&a ", "*a", "*zz", "<<: *a\n", "!!python/object/apply:os.system ['true']", "!!binary ", "\x00", "\t",
            "[" * 40, "{" * 40, "]", "9" * 500, "1:" * 250 + "1", ": : :", "? ", "\ufeff", "%YAML 1.1\n---\n",
            "--- \n---\n", "\udcff", "é", "'", '"', "\\u0000", "2001-02-30", "!!set {a}", "!!timestamp x", "\n  - ",
            ".inf", ".nan", "0x" + "f" * 500, "NaN", "-Infinity"]


@fuzz(400)
@given(body=jobs(), as_json=st.booleans(),
       mutations=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(SNIPPETS)), max_size=3),
       encoding=st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
def test_config_files_accept_or_name_the_config(body: Any, as_json: bool, mutations: list[tuple[float, str]],
                                                encoding: str) -> None:
    text = _serialise(body, as_json)
    for where, snippet in mutations:
        cut = int(where * len(text))
        text = text[:cut] + snippet + text[cut:]
    data = text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf-8") else "replace")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("config.json" if as_json else "config.yaml")
        path.write_bytes(data)
        try:
            job = build_training_job("job_1", config=path)
        except InvalidJobSpec as err:
            assert_names_a_field(err, body, text)
        else:
            assert_accepted_body_is_sendable(job, "ai-platform")


YAML_ALPHABET = "[]{}:,-&*!|>'\"#%@`? \n\t\\abkxyz019.eE+_\x00é"


@fuzz(300)
@given(text=st.text(alphabet=YAML_ALPHABET, max_size=300))
def test_arbitrary_yaml_text_is_read_or_refused_naming_the_config(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(text.encode("utf-8"))
        try:
            load_config(path)
        except InvalidJobSpec as err:
            assert_names_a_field(err)


@fuzz(150)
@given(levels=st.integers(1, 12), width=st.integers(1, 12), where=st.sampled_from(["args", "region", "labels"]))
def test_alias_programs_are_refused_once_they_expand_past_the_bound(levels: int, width: int, where: str) -> None:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    lines.append(f"trainingInput: {{{where}: *a{levels - 1}}}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        expanded = sum(width**level for level in range(1, levels + 1)) * 2  # the a* entries, then the field
        if expanded > 2 * MAX_VALUES:
            with pytest.raises(InvalidJobSpec, match="once YAML aliases are expanded") as info:
                load_config(path)
            assert info.value.field == "config"
        else:
            try:
                load_config(path)
            except InvalidJobSpec as err:
                assert_names_a_field(err)


@fuzz(250)
@given(body=st.one_of(body_for("aiplatform.v1", "GoogleCloudAiplatformV1CustomJob"),
                      body_for("aiplatform.v1", "GoogleCloudAiplatformV1HyperparameterTuningJob"), hostile_values),
       reject_read_only=st.booleans())
def test_validate_resource_lists_problems_for_any_vertex_body(body: Any, reject_read_only: bool) -> None:
    for schema in ("CustomJob", "HyperparameterTuningJob"):
        problems = validate_resource("aiplatform.v1", schema, body, reject_read_only=reject_read_only)
        assert all(isinstance(p, str) and ": " in p and len(p) < 10_000 for p in problems)


@fuzz(300)
@given(value=st.one_of(st.text(alphabet="0123456789.-+s eE", max_size=30), st.integers(-(10**15), 10**15),
                       st.floats(), st.timedeltas(), hostile_values))
def test_one_duration_parser_bounds_every_duration(value: Any) -> None:
    try:
        seconds = parse_duration(value)
    except ValueError as err:
        assert len(str(err)) < 300
        accepted = False
    else:
        assert abs(seconds) <= MAX_DURATION_SECONDS
        accepted = True
    if isinstance(value, str):  # the schema check says the same of a string as the parser
        body = {"trainingInput": {"scheduling": {"maxRunningTime": value}}}
        schema_ok = not any(p.startswith("trainingInput.scheduling") for p in validate_resource("ml.v1", "Job", body))
        assert schema_ok == accepted


def test_every_hostile_value_is_shown_briefly() -> None:
    assert all(len(show(value)) <= 80 for value in HOSTILE)


def test_an_empty_key_is_still_named_in_the_error() -> None:
    """Found by the fuzz above: a Job whose only key is "" was refused naming ``k15001``, a key it does not have."""
    with pytest.raises(InvalidJobSpec) as err:
        validate_job({"": {f"k{i}": "v" for i in range(MAX_VALUES + 5)}})
    assert err.value.field.startswith("''.")
    assert str(err.value).startswith(f"invalid training job: {err.value.field}: the Job holds more than")
