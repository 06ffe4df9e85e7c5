"""Small one-off trainer sdists for the package-install tests (a build that hangs, undeclared dependencies)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def make_sdist(work: Path, name: str, setup_call: str, *, prelude: str = "") -> Path:
    """A real setuptools sdist of package ``name`` (module ``<name>.task`` prints one line and exits 0).

    ``setup_call`` is the text of setup.py's ``setup(...)`` call; ``prelude`` runs before it (in every
    setup.py run, so guard build-only behaviour with ``"bdist_wheel" in sys.argv``)."""
    src = work / f"{name}-src"
    (src / name).mkdir(parents=True)
    (src / name / "__init__.py").write_text("")
    (src / name / "task.py").write_text(f"print('{name} trainer ran', flush=True)\n")
    (src / "setup.py").write_text(f"import os, sys, time\nfrom setuptools import setup\n{prelude}\n{setup_call}\n")
    out = work / f"{name}-dist"
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(out)], cwd=src, check=True,
                   capture_output=True)
    (sdist,) = out.glob("*.tar.gz")
    return sdist


def slow_build_prelude(pid_file: Path) -> str:
    """setup.py code that, when building the wheel, writes its pid to ``pid_file`` and then hangs."""
    return (
        "if 'bdist_wheel' in sys.argv:\n"
        f"    open({str(pid_file)!r} + '.tmp', 'w').write('[%d]' % os.getpid())\n"
        f"    os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n"
        "    time.sleep(120)\n"
    )


def setsid_build_prelude(pid_file: Path) -> str:
    """setup.py code that, when building the wheel, starts a child that leaves its session (setsid) holding
    the build's stdout/stderr, writes both pids to ``pid_file`` and then hangs."""
    return (
        "if 'bdist_wheel' in sys.argv:\n"
        "    import subprocess\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import os, time; os.setsid(); time.sleep(120)'])\n"
        "    while os.getsid(child.pid) == os.getsid(0):\n"
        "        time.sleep(0.01)\n"
        f"    open({str(pid_file)!r} + '.tmp', 'w').write('[%d, %d]' % (os.getpid(), child.pid))\n"
        f"    os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n"
        "    time.sleep(120)\n"
    )
