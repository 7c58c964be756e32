"""Build the rules engine, durable-rules 2.0.28, for Python 3.13 from its pinned source.

Usage: ``PYTHON scripts/build_engine_wheel.py [--wheelhouse DIR] [--force]``, run with the
interpreter the wheel is for (a virtual environment's ``python`` is fine: pip comes from there).

The published durable-rules does not import on Python 3.13 (see the patch file's header and
docs/operations/install.md). This script fetches the source distribution through pip, checks
its sha256 against the pin below, applies ``durable-rules-py313.patch`` (five call sites, exact
match required), builds a wheel and puts it into the wheelhouse (default ``.wheelhouse/`` at the
repository root), where ``pip install --find-links .wheelhouse`` takes it instead of the source
distribution. A wheel already built for this interpreter from the same source and patch is
reused. It needs a C compiler and the interpreter's headers; run as root on Debian or Ubuntu it
installs whichever is missing with apt-get. The last line on stdout is the wheel's path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

NAME = "durable-rules"
VERSION = "2.0.28"
SDIST = f"durable_rules-{VERSION}.tar.gz"
SDIST_SHA256 = "053b26f5e48d312d4fa27995243f954671be6eece477f150c059c364eb4d7d61"
HERE = Path(__file__).resolve().parent
PATCH = HERE / "durable-rules-py313.patch"
REMOVED_CALL = "PyEval_CallObject("
PATCHED_FILE = "src/rulespy/rules.c"


class BuildError(Exception):
    """A step failed in a way the person running the build can act on."""


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the wheel's path."""
    print(f"build_engine_wheel: {message}", file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def interpreter_key() -> str:
    """Which interpreter a wheel was built for, e.g. ``cpython-313`` (``cpython-313t``)."""
    return f"{sys.implementation.cache_tag}{sys.abiflags}"


def inputs_key() -> str:
    """Changes whenever the pinned source or the patch changes, so the wheel is rebuilt."""
    return hashlib.sha256(SDIST_SHA256.encode() + PATCH.read_bytes()).hexdigest()


def run(command: list[str]) -> None:
    """Run a pip step; its output (the engine's own build warnings) is shown only if it fails."""
    log("$ " + shlex.join(command))
    result = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        raise BuildError(f"the command above failed with exit code {result.returncode}")


# --- prerequisites -------------------------------------------------------------------------


def missing_prerequisites() -> tuple[list[str], list[str]]:
    """What the compile step lacks: (descriptions, Debian packages that provide them)."""
    missing: list[str] = []
    packages: list[str] = []
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        missing.append(f"a C compiler ({compiler})")
        packages += ["gcc", "libc6-dev"]
    include = Path(sysconfig.get_path("include"))
    if not (include / "Python.h").is_file():
        missing.append(f"the headers of Python {sys.version.split()[0]} ({include}/Python.h)")
        # Only the distribution's own interpreter gets its headers from apt.
        if Path(sys.base_prefix) == Path("/usr"):
            packages.append(f"python{sys.version_info[0]}.{sys.version_info[1]}-dev")
    return missing, packages


def ensure_prerequisites() -> None:
    """Install a missing compiler or headers with apt-get as root, otherwise say what to do."""
    missing, packages = missing_prerequisites()
    if not missing:
        return
    can_apt = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
    if can_apt and packages:
        log(f"missing {', '.join(missing)}: installing {' '.join(packages)} with apt-get")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(install, env=env, stdout=sys.stderr, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr, check=False)
            subprocess.run(install, env=env, stdout=sys.stderr, check=False)
        missing, packages = missing_prerequisites()
        if not missing:
            return
    hint = (
        f" (on Debian or Ubuntu, as root: apt-get install {' '.join(packages)})" if packages else ""
    )
    raise BuildError(f"compiling the engine needs {' and '.join(missing)}{hint}")


# --- source, patch, build --------------------------------------------------------------------


def download(into: Path) -> Path:
    """The pinned source distribution, fetched through pip (its index, proxy and certificates)."""
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(into),
            f"{NAME}=={VERSION}",
        ]
    )
    sdist = into / SDIST
    if not sdist.is_file():
        raise BuildError(
            f"pip did not deliver {SDIST} (found: {sorted(p.name for p in into.iterdir())})"
        )
    actual = sha256(sdist)
    if actual != SDIST_SHA256:
        raise BuildError(
            f"{SDIST} has sha256 {actual}, expected {SDIST_SHA256}: refusing to build it"
        )
    log(f"{SDIST}: sha256 {actual} as pinned")
    return sdist


def unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    return into / f"durable_rules-{VERSION}"


_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply_patch(patch: Path, tree: Path) -> int:
    """Apply a one-file unified diff exactly (no offset, no fuzz); return the hunk count."""
    lines = patch.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("--- ")), None)
    if start is None or not lines[start + 1].startswith("+++ "):
        raise BuildError(f"{patch.name}: no unified diff found")
    target_name = lines[start + 1][4:].split("\t")[0].removeprefix("b/")
    if target_name != PATCHED_FILE:
        raise BuildError(f"{patch.name}: patches {target_name}, expected only {PATCHED_FILE}")
    target = tree / target_name
    source = target.read_text(encoding="utf-8").split("\n")
    result: list[str] = []
    cursor = 0  # index into source of the next line not yet copied
    hunks = 0
    i = start + 2
    while i < len(lines):
        match = _HUNK.match(lines[i])
        if match is None:
            raise BuildError(f"{patch.name}, line {i + 1}: expected a hunk header")
        old_start = int(match.group(1)) - 1
        old: list[str] = []
        new: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][:1], lines[i][1:]
            if tag in (" ", ""):
                old.append(text)
                new.append(text)
            elif tag == "-":
                old.append(text)
            elif tag == "+":
                new.append(text)
            else:
                raise BuildError(f"{patch.name}, line {i + 1}: unexpected line in a hunk")
            i += 1
        if old_start < cursor or source[old_start : old_start + len(old)] != old:
            raise BuildError(
                f"{patch.name}: hunk {hunks + 1} does not match {target_name} at line {old_start + 1}"
            )
        result += source[cursor:old_start] + new
        cursor = old_start + len(old)
        hunks += 1
    result += source[cursor:]
    patched = "\n".join(result)
    if REMOVED_CALL in patched:
        raise BuildError(f"{target_name} still calls {REMOVED_CALL[:-1]} after the patch")
    target.write_text(patched, encoding="utf-8")
    return hunks


def build(tree: Path, into: Path) -> Path:
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(into),
            str(tree),
        ]
    )
    wheels = sorted(into.glob("durable_rules-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel, pip wrote {[w.name for w in wheels]}")
    return wheels[0]


# --- the wheelhouse --------------------------------------------------------------------------


def marker(wheelhouse: Path) -> Path:
    return wheelhouse / f"durable_rules-{VERSION}.{interpreter_key()}.json"


def already_built(wheelhouse: Path) -> Path | None:
    """The wheel built earlier for this interpreter from the same inputs, if it is still there."""
    try:
        record = json.loads(marker(wheelhouse).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wheel = wheelhouse / str(record.get("wheel", ""))
    if record.get("inputs") == inputs_key() and wheel.is_file() and wheel.suffix == ".whl":
        return wheel
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheelhouse", type=Path, default=HERE.parent / ".wheelhouse", help="where the wheel goes"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if a wheel is there")
    args = parser.parse_args(argv)
    wheelhouse: Path = args.wheelhouse.resolve()
    try:
        if not args.force and (wheel := already_built(wheelhouse)) is not None:
            log(f"{wheel.name} is already built from the pinned source and patch")
            print(wheel)
            return 0
        ensure_prerequisites()
        with tempfile.TemporaryDirectory(prefix="durable-rules-build-") as scratch:
            work = Path(scratch)
            (work / "sdist").mkdir()
            (work / "wheel").mkdir()
            tree = unpack(download(work / "sdist"), work / "src")
            log(f"{PATCH.name}: {apply_patch(PATCH, tree)} hunks applied to {PATCHED_FILE}")
            built = build(tree, work / "wheel")
            wheelhouse.mkdir(parents=True, exist_ok=True)
            wheel = wheelhouse / built.name
            shutil.move(built, wheel)
        record = {"wheel": wheel.name, "inputs": inputs_key(), "sdist_sha256": SDIST_SHA256}
        marker(wheelhouse).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        log(f"built {wheel} (sha256 {sha256(wheel)})")
        print(wheel)
        return 0
    except BuildError as error:
        log(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
