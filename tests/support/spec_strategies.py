"""Hypothesis strategies for the job spec fuzz tests: bodies shaped by a discovery document, and hostile values.

``body_for(doc, schema)`` walks the discovery document's schema, so generated Jobs are near what Google takes
(enums, int64 strings, durations, nested replica configs); at any field a value may instead be hostile: the
wrong type, a number past every range, deep or self-referencing nesting, a huge or NUL-bearing string.
The hostile values are built once, so drawing one costs nothing however large it is.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import strategies as st

from airflow_provider_trainjobs.spec.schema import discovery_document


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _shared_bomb() -> Any:
    value: Any = ["lol"] * 9
    for _ in range(8):
        value = [value] * 9
    return value


def _cycle() -> Any:
    loop: list[Any] = ["a"]
    loop.append(loop)
    return loop


HOSTILE: list[Any] = [
    10**400, -(10**5000), 2**63, -(2**63) - 1, 2**31, 10**309, 1e308, -1e308, float("inf"), float("-inf"),
    float("nan"), "9" * 5000, "-" + "9" * 400, "9" * 400 + "s", "1e400", "NaN", "Infinity", "x" * 100_000,
    "", " ", "\x00", "a\x00b", "\ud800", "ﬀİß", "ＡＢＣ", "٣", "\u202e", "gs://" + "/" * 1000, "a@" + "." * 5000 + " ",
    True, False, None, 0, -1, [], {}, [None], [[]], {"": ""}, {"a": {"b": {"c": [1]}}}, _nested(40),
    _nested(10_000), _shared_bomb(), _cycle(), ["x"] * 25_000, {f"k{i}": "v" for i in range(25_000)},
    {1: "int key"}, {None: "null key"}, {(1, 2): "tuple key"}, {10**5000: "huge key"}, ("a", "tuple"),
    {"a", "set"}, b"bytes", bytearray(b"x"), object(), date(2024, 1, 31), print, 1j,
]

hostile_values = st.sampled_from(HOSTILE)

# Plausible strings, so that bodies get past the first rule often enough to reach the later ones.
_WORDS = ["us-central1", "gs://b/p.tar.gz", "gs://b/dir", "trainer.task", "CUSTOM", "BASIC", "n1-standard-4",
          "g2-standard-8", "NVIDIA_L4", "NVIDIA_TESLA_T4", "3600s", "1800s", "2.8", "3.7", "sa@p.iam.gserviceaccount.com",
          "lr", "accuracy", "job_1"]
_text = st.one_of(st.sampled_from(_WORDS), st.text(max_size=12),
                  st.text(alphabet=st.characters(codec="utf-8"), max_size=8))
_durations = st.one_of(
    st.integers(-(10**13), 10**13).map(lambda n: f"{n}s"),
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**9)).map(lambda p: f"{p[0]}.{p[1]}s"),
    st.sampled_from(["3600s", "0s", "-1s", "1.5s", "315576000000s", "315576000001s", "1.0000000001s"]),
)
_int64 = st.one_of(st.integers(-(2**64), 2**64), st.integers(-(2**64), 2**64).map(str), st.integers(-3, 100))
_numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**1030), 2**1030),
                     st.floats(-1e6, 1e6).map(repr), st.integers(0, 100))
_MAX_DEPTH = 6


def _scalar(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind, fmt = schema.get("type"), schema.get("format")
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), _text)
    if fmt in ("int64", "uint64") or (kind == "integer" and fmt != "int32"):
        return _int64
    if kind == "integer":
        return st.one_of(st.integers(-(2**33), 2**33), st.integers(-5, 1001))
    if kind == "number" or fmt in ("double", "float"):
        return _numbers
    if kind == "boolean":
        return st.booleans()
    if fmt == "google-duration":
        return _durations
    if fmt == "google-datetime":
        return st.sampled_from(["2024-01-31T12:00:00Z", "2024-01-31T12:00:00.123456789+01:00", "yesterday"])
    return _text


@st.composite
def _maybe_hostile(draw: st.DrawFn, normal: st.SearchStrategy[Any]) -> Any:
    return draw(hostile_values) if draw(st.integers(0, 14)) == 0 else draw(normal)


class _Bodies:
    """Strategies per schema of one discovery document, built once and cached (the schemas are not recursive)."""

    def __init__(self, doc: str) -> None:
        self.schemas: dict[str, Any] = discovery_document(doc)["schemas"]
        self.cache: dict[tuple[str, int], st.SearchStrategy[Any]] = {}

    def value(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
        ref = schema.get("$ref")
        if ref is not None:
            key = (ref, depth)
            if key not in self.cache:
                self.cache[key] = self.value(self.schemas[ref], depth)
            return self.cache[key]
        if depth >= _MAX_DEPTH:
            return st.none()
        kind = schema.get("type")
        if kind == "array":
            normal: st.SearchStrategy[Any] = st.lists(self.value(schema.get("items", {}), depth + 1), max_size=4)
        elif kind == "object" or "properties" in schema or "additionalProperties" in schema:
            normal = self.mapping(schema, depth)
        elif kind is None or kind == "any":
            normal = st.one_of(_text, st.dictionaries(_text, _text, max_size=2))
        else:
            normal = _scalar(schema)
        return _maybe_hostile(normal)

    def mapping(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        fields = {name: self.value(prop, depth + 1) for name, prop in properties.items()}
        values = self.value(extra, depth + 1) if extra is not None else None

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            chosen = draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True)) if fields else []
            body = {name: draw(fields[name]) for name in chosen}
            if values is not None:
                body.update(draw(st.dictionaries(_text, values, max_size=3)))
            if draw(st.integers(0, 19)) == 0:  # a field the schema does not have
                body[draw(_text)] = draw(hostile_values)
            return body

        return build()


_BODIES: dict[str, _Bodies] = {}


def body_for(doc: str, schema: str) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies of ``schema`` (a full schema id) from discovery document ``doc``, with hostile values mixed in."""
    if doc not in _BODIES:
        _BODIES[doc] = _Bodies(doc)
    return _BODIES[doc].mapping(_BODIES[doc].schemas[schema], 0)


VALID_TRAINING_INPUT = {"region": "us-central1", "packageUris": ["gs://b/trainer-0.1.tar.gz"],
                        "pythonModule": "trainer.task"}


@st.composite
def jobs(draw: st.DrawFn) -> dict[str, Any]:
    """An ml v1 Job, mostly a valid one with generated fields laid over it, so that both outcomes occur."""
    job: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        job["jobId"] = draw(st.sampled_from(["job_1", "census_20240131"]))
    training_input = draw(body_for("ml.v1", "GoogleCloudMlV1__TrainingInput"))
    if draw(st.integers(0, 9)):
        training_input = {**VALID_TRAINING_INPUT, **training_input}
    if draw(st.integers(0, 9)):
        job["trainingInput"] = training_input
    if not draw(st.integers(0, 3)):  # the other Job fields: labels, output fields, predictionInput, ...
        job.update(draw(body_for("ml.v1", "GoogleCloudMlV1__Job")))
    return job


def jsonable(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """``value`` made writable as JSON and YAML, bounded: what JSON cannot hold becomes its short repr, and past
    200 levels or 30,000 values the rest is cut (a shared-reference bomb would otherwise expand to 387M values)."""
    budget = [30_000] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0 or depth > 200:
        return None
    if isinstance(value, dict):
        return {key: jsonable(item, depth + 1, budget) for key, item in value.items() if isinstance(key, str)}
    if isinstance(value, list | tuple):
        return [jsonable(item, depth + 1, budget) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 10_000:
        return "<huge int>"
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return repr(value)[:50]
