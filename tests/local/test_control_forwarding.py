"""``up`` passes ``serve`` options on from the argparse definitions (local/control.py ``forwarded_options``).

The two commands share their option definitions, so these tests walk ``serve``'s parser: an option added there
reaches ``up`` and its forwarding without a list to keep in step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_trainjobs.local.cli import _parser
from airflow_provider_trainjobs.local.control import forwarded_options


def _commands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest != argparse.SUPPRESS}


def _sample() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--colour", action="store_false")
    parser.add_argument("--runtime", action="append", default=[])
    parser.add_argument("--container-runtime", default="auto")
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--keep", nargs="?", const=True, default=False, type=lambda t: t == "true")
    parser.add_argument("--seed", type=int, default=None)
    return parser


def test_flags_are_bare_repeatable_options_repeat_and_values_keep_their_dashes() -> None:
    parser = _sample()
    argv = ["--offline", "--runtime", "a=/x", "--runtime", "b=/y", "--container-runtime=podman --runtime runc",
            "--rate", "-0.5", "--keep", "--colour"]
    args = parser.parse_args(argv)

    forwarded = forwarded_options(parser._actions, args)

    assert forwarded == ["--offline", "--colour", "--runtime=a=/x", "--runtime=b=/y",
                         "--container-runtime=podman --runtime runc", "--rate=-0.5", "--keep"]
    assert parser.parse_args(forwarded) == args


def test_defaults_and_skipped_options_are_not_passed() -> None:
    parser = _sample()
    assert forwarded_options(parser._actions, parser.parse_args([])) == []
    args = parser.parse_args(["--seed", "7", "--rate", "2"])
    assert forwarded_options(parser._actions, args, skip={"seed"}) == ["--rate=2.0"]
    assert forwarded_options(parser._actions, parser.parse_args(["--keep=false"])) == []  # False is the default


@pytest.mark.parametrize("value", ["-x", "--offline", "--runtime=a=/x", "", "a b\tc", "=", "ü"])
def test_a_value_that_looks_like_an_option_stays_a_value(value: str) -> None:
    parser = _sample()
    args = argparse.Namespace(**{**vars(parser.parse_args([])), "container_runtime": value})
    assert parser.parse_args(forwarded_options(parser._actions, args)) == args


def test_an_action_that_cannot_be_written_back_is_refused() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--verbose", action="count", default=0)
    with pytest.raises(TypeError, match="--verbose"):
        forwarded_options(parser._actions, parser.parse_args(["--verbose", "--verbose"]))


def test_up_accepts_every_serve_option_with_the_same_definition() -> None:
    commands = _commands()
    serve, up = _options(commands["serve"]), _options(commands["up"])
    assert set(serve) == set(up)
    for dest, action in serve.items():
        other = up[dest]
        assert (other.option_strings, type(other), other.nargs, other.const, other.type, other.choices) == (
            action.option_strings, type(action), action.nargs, action.const, action.type, action.choices), dest
        if dest not in ("port", "storage_port"):  # up leaves those unset: a running service's ports win
            assert other.default == action.default, dest


# A value other than the default for every serve option; the test below fails when an option is missing here.
EVERY_OPTION = [
    "--port", "9000", "--storage-port", "9001", "--max-concurrent-jobs", "3", "--max-replicas", "2",
    "--deadline-scale", "0.001", "--fault-error-rate", "0.25", "--fault-codes", "500", "--fault-latency", "0.5",
    "--fault-drop-rate", "0.1", "--fault-seed", "-3", "--max-request-bytes", "1024", "--max-upload-bytes", "2048",
    "--read-timeout", "1.5", "--max-log-entries", "10", "--max-log-mb", "0.5", "--keep-work-dirs",
    "--airflow-url", "", "--runtime", f"2.11={sys.executable}", f"--runtime=-odd={sys.executable}",
    "--offline", "--container-runtime", "podman --runtime runc --cgroup-manager cgroupfs",
]


def test_every_serve_option_given_to_up_reaches_serve_unchanged() -> None:
    commands = _commands()
    up_args = commands["up"].parse_args(["--data-dir", "/d", *EVERY_OPTION])
    serve_defaults = vars(commands["serve"].parse_args([]))
    assert [d for d, v in vars(up_args).items() if v == serve_defaults[d] and d != "data_dir"] == [], \
        "give every serve option a value other than its default in EVERY_OPTION"

    forwarded = forwarded_options(commands["up"]._actions, up_args, skip={"data_dir"})
    assert "--container-runtime=podman --runtime runc --cgroup-manager cgroupfs" in forwarded
    assert [a for a in forwarded if a.startswith("--runtime")] == [f"--runtime=2.11={sys.executable}",
                                                                  f"--runtime=-odd={sys.executable}"]
    assert commands["serve"].parse_args(["--data-dir", "/d", *forwarded]) == up_args


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_provider_trainjobs.local", *args],
                          capture_output=True, text=True, timeout=120)


def _processes_naming(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("option", [["--runtime", "nonsense"], ["--runtime", "2.11=/nonexistent/python"],
                                    ["--container-runtime", " "], ["--container-runtime", "podman 'unclosed"],
                                    ["--airflow-url", "ftp://x"]])
def test_a_bad_serve_value_fails_up_with_the_line_serve_gives_and_starts_nothing(tmp_path: Path,
                                                                                 option: list[str]) -> None:
    serve = _cli("serve", "--data-dir", str(tmp_path / "serve"), *option)
    data_dir = tmp_path / "up"

    up = _cli("up", "--data-dir", str(data_dir), *option)

    assert serve.returncode == up.returncode == 1
    assert len(serve.stderr.strip().splitlines()) == 1 and serve.stderr.startswith("trainjobs-local: --")
    assert up.stderr == serve.stderr and up.stdout == ""
    assert not (data_dir / "service.json").exists() and not (data_dir / "service.log").exists()
    assert _processes_naming(str(data_dir)) == []
