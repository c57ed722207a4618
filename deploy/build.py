#!/usr/bin/env python3
"""Build the Greengrass component: the artifact zip and the recipe that points at it.

The artifact installs offline on the gateway: it holds the edge-agent wheel and a wheel of every
dependency, the ``greengrass`` and ``smb`` extras' included (GATEWAY_EXTRAS), for each target
platform, so the recipe's Install step needs no index. Greengrass unpacks ``edge-agent.zip`` into
a folder named after it, ``{artifacts:decompressedPath}/edge-agent/``, so the zip holds
``wheels/*.whl`` at its root and the Install step reads:

    python3 -m venv {work:path}/venv && {work:path}/venv/bin/pip install --no-index \\
        --find-links {artifacts:decompressedPath}/edge-agent/wheels 'edge-agent[greengrass,smb]'

Output (``--out``, default deploy/out), the layout greengrass-cli and S3 uploads expect:

    artifacts/io.edgeagent.EdgeAgent/<version>/edge-agent.zip    wheels/*.whl inside
    recipes/io.edgeagent.EdgeAgent-<version>.yaml                artifact URI s3://<bucket>/...
    build-report.json                                            wheels, and what is missing where

Usage:
    python3 deploy/build.py --bucket my-bucket               release: x86_64, aarch64, armv7l
    python3 deploy/build.py --platform host --local          this machine, local-deploy.sh only
    python3 build.py --gdk                                   from deploy/, as `gdk component build`
    python3 deploy/build.py --sync-recipe                    rewrite deploy/recipe.yaml (see below)

``--bucket`` is required for a release: the recipe's artifact URI names it. ``--local`` is for a
deployment on this device with greengrass-cli, which takes the artifact from the build folder:
the URI then names a bucket that cannot exist (upper case), so the recipe cannot be deployed
from the cloud by mistake, and its header says so.

The recipe's source is ``recipes/io.edgeagent.EdgeAgent.yaml``. ``deploy/recipe.yaml`` is a
generated copy, there only because GDK wants a recipe.yaml beside gdk-config.json (a copy, not
a symlink: a Windows checkout turns a symlink into a text file holding its target, which GDK
cannot read). ``--sync-recipe`` writes it, ``--gdk`` refuses to build while it differs, and
tests/greengrass/test_deploy.py fails when it drifts.

A foreign platform's wheels come from PyPI (``pip download --only-binary=:all:``); a package with
no wheel for it is reported, and that platform's manifest is left out of the recipe (a gateway of
that kind would fail at Install). Wheels built elsewhere (e.g. on an armv7l device with
``pip wheel``) are added with ``--find-links DIR``. The version is the package version in
pyproject.toml.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the build machine
    sys.exit("deploy/build.py needs PyYAML: pip install pyyaml (the GDK CLI brings it too)")

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
RECIPE = ROOT / "recipes" / "io.edgeagent.EdgeAgent.yaml"
GDK_RECIPE = DEPLOY / "recipe.yaml"
COMPONENT = "io.edgeagent.EdgeAgent"
# The artifact bucket of a --local build: not a valid bucket name (upper case), so neither S3
# nor Greengrass can ever fetch it, and loud enough to be noticed in a recipe.
LOCAL_ONLY_BUCKET = "LOCAL-DEPLOYMENT-ONLY-NOT-A-BUCKET"
# S3 bucket naming rules (3-63 characters: lower-case letters, digits, dots, hyphens).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
ARTIFACT = "edge-agent.zip"
WHEELS_IN_ZIP = "wheels"  # unpacked to {artifacts:decompressedPath}/edge-agent/wheels
# What a gateway runs: Greengrass IPC and SMB sources (pyproject extras); not the demo's broker.
# The recipe's Install step asks for the same extras.
GATEWAY_EXTRAS = "greengrass,smb"

# pip's machine name -> the recipe's Platform.architecture (Greengrass' names).
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "aarch64", "armv7l": "arm"}
DEFAULT_PLATFORMS = ("x86_64", "aarch64", "armv7l")
DEFAULT_PYTHON = "3.11"
# Newest glibc a chosen wheel may need: 2.28 = Debian 10, Ubuntu 20.04, RHEL 8 and later.
DEFAULT_MAX_GLIBC = 28
# Top-level entries of the project that the wheel build does not need.
_NOT_SOURCES = {
    ".git", ".venv", "venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    "build", "dist", "tests", "bench", "deploy",
}  # fmt: skip


def _skip(folder: str, names: list[str]) -> set[str]:
    """shutil.copytree's ignore: caches anywhere, non-sources at the top."""
    ignored = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if Path(folder) == ROOT:
        ignored |= _NOT_SOURCES.intersection(names)
    return ignored


class BuildError(Exception):
    """The build cannot go on; the message says why."""


def log(message: str) -> None:
    """Progress, on stderr."""
    print(f"build: {message}", file=sys.stderr, flush=True)


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter's pip quietly; never raises for a failed command."""
    command = [sys.executable, "-m", "pip", *args, "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def project_version() -> str:
    """The package version in pyproject.toml (the component version too)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def platform_tags(arch: str, max_glibc: int) -> list[str]:
    """pip --platform values for ``arch``: the most portable first (pip prefers earlier tags);
    ``linux_<arch>`` admits wheels built on such a device and passed with --find-links."""
    tags = [f"manylinux2014_{arch}"]
    tags += [f"manylinux_2_{minor}_{arch}" for minor in range(17, max_glibc + 1)]
    return [*tags, f"linux_{arch}"]


def host_arch() -> str:
    """This machine as a target platform."""
    machine = platform.machine()
    if sys.platform != "linux" or machine not in ARCHITECTURES:
        raise BuildError(
            f"--platform host builds for this machine, which is {sys.platform}/{machine}; "
            f"Greengrass targets here are linux {', '.join(ARCHITECTURES)}"
        )
    return machine


# --------------------------------------------------------------------------- wheels


def build_project_wheel(wheels: Path, scratch: Path) -> Path:
    """The edge-agent wheel, built from a copy of the sources (the tree stays clean)."""
    source = scratch / "source"
    shutil.copytree(ROOT, source, ignore=_skip)
    result = pip("wheel", "--no-deps", "--wheel-dir", str(wheels), str(source))
    if result.returncode != 0:
        raise BuildError(f"building the edge-agent wheel failed:\n{result.stdout}{result.stderr}")
    [wheel] = wheels.glob("edge_agent-*.whl")
    log(f"built {wheel.name}")
    return wheel


def with_extras(project_wheel: Path) -> str:
    """The requirement for the edge-agent wheel with the extras a gateway needs."""
    return f"{project_wheel}[{GATEWAY_EXTRAS}]"


def host_wheels(project_wheel: Path, wheels: Path, find_links: list[str]) -> list[str]:
    """Every dependency for this machine: PyPI's wheels, or built here from source where PyPI
    has none (so a build on an armv7l device fills what PyPI lacks)."""
    links = [arg for path in find_links for arg in ("--find-links", path)]
    wanted = with_extras(project_wheel)
    result = pip("wheel", "--prefer-binary", "--wheel-dir", str(wheels), *links, wanted)
    if result.returncode != 0:
        raise BuildError(f"collecting wheels for this machine failed:\n{result.stderr[-3000:]}")
    return []


def foreign_wheels(
    project_wheel: Path,
    wheels: Path,
    *,
    arch: str,
    python_version: str,
    max_glibc: int,
    find_links: list[str],
    pins: list[str],
) -> list[str]:
    """Wheels for another platform from PyPI; return the requirements that have none."""
    target = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    target += [arg for tag in platform_tags(arch, max_glibc) for arg in ("--platform", tag)]
    target += [arg for path in find_links for arg in ("--find-links", path)]
    result = pip("download", "--dest", str(wheels), *target, with_extras(project_wheel))
    if result.returncode == 0:
        return []
    # pip stops at the first package it cannot find: go one by one to name them all.
    log(f"{arch}/py{python_version}: not every package has a wheel; checking one by one")
    missing = []
    for pin in pins:
        if pip("download", "--no-deps", "--dest", str(wheels), *target, pin).returncode != 0:
            missing.append(pin)
    return missing


def resolved_requirements(project_wheel: Path) -> list[str]:
    """``name==version`` of every dependency, as resolved for this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        result = pip(
            "install", "--dry-run", "--ignore-installed", "--report", str(report),
            with_extras(project_wheel),
        )  # fmt: skip
        if result.returncode != 0:
            raise BuildError(f"resolving the dependencies failed:\n{result.stderr[-3000:]}")
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    pins = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs]
    return sorted(p for p in pins if not p.lower().startswith(("edge-agent==", "edge_agent==")))


# --------------------------------------------------------------------------- outputs


def write_zip(wheels: Path, zip_path: Path) -> None:
    """wheels/*.whl, in name order with fixed timestamps (same input, same zip)."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w") as archive:
        for wheel in sorted(wheels.glob("*.whl")):
            info = zipfile.ZipInfo(f"{WHEELS_IN_ZIP}/{wheel.name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED  # wheels are zips already
            archive.writestr(info, wheel.read_bytes())


def render_recipe(version: str, bucket: str, architectures: set[str]) -> str:
    """The recipe with this version, the artifact URI in ``bucket``, and a manifest for each
    platform the artifact can install on."""
    recipe: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    if recipe.get("ComponentName") != COMPONENT:
        raise BuildError(f"{RECIPE} names {recipe.get('ComponentName')!r}, not {COMPONENT}")
    recipe["ComponentVersion"] = version
    uri = f"s3://{bucket}/{COMPONENT}/{version}/{ARTIFACT}"
    manifests = []
    for manifest in recipe["Manifests"]:
        if manifest["Platform"]["architecture"] not in architectures:
            continue
        for artifact in manifest.get("Artifacts", []):
            if str(artifact["URI"]).endswith(f"/{ARTIFACT}"):
                artifact["URI"] = uri
        manifests.append(manifest)
    recipe["Manifests"] = manifests
    header = (
        f"# Built by deploy/build.py from {RECIPE.relative_to(ROOT)} (read that one: it has the\n"
        "# comments). Do not edit: rebuild.\n"
    )
    if bucket == LOCAL_ONLY_BUCKET:
        header += (
            "# LOCAL DEPLOYMENT ONLY (build.py --local): the artifact URI names no real bucket.\n"
            "# For a cloud deployment rebuild with --bucket YOUR-BUCKET.\n"
        )
    return header + yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, width=100)


def gdk_recipe_text() -> str:
    """What deploy/recipe.yaml must hold: the source recipe, under a header naming it."""
    header = (
        f"# GENERATED from {RECIPE.relative_to(ROOT)}, the source: do not edit here.\n"
        "# GDK (cd deploy && gdk component build) wants a recipe.yaml beside gdk-config.json;\n"
        "# build.py --gdk renders the deployable recipe from the source. After changing the\n"
        "# source: python3 deploy/build.py --sync-recipe (a test fails while they differ).\n"
    )
    return header + RECIPE.read_text(encoding="utf-8")


def check_gdk_recipe() -> None:
    """Refuse a GDK build while deploy/recipe.yaml is not the source's copy."""
    try:
        current = GDK_RECIPE.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != gdk_recipe_text():
        raise BuildError(
            f"{GDK_RECIPE} is not a copy of {RECIPE} (edited there, or the source "
            "changed): edit the source, then run python3 deploy/build.py --sync-recipe"
        )


def gdk_settings() -> tuple[str, Path]:
    """(version, output folder) for `gdk component build`, from gdk-config.json."""
    config = json.loads((DEPLOY / "gdk-config.json").read_text(encoding="utf-8"))
    version = str(config["component"][COMPONENT]["version"])
    if version != project_version():
        raise BuildError(
            f"gdk-config.json has version {version} but pyproject.toml {project_version()}: "
            "the component version is the package version; change both"
        )
    return version, DEPLOY / "greengrass-build"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--platform",
        action="append",
        choices=["host", *ARCHITECTURES],
        help="target platform, repeatable (default: x86_64, aarch64, armv7l); "
        "host = this machine, wheels built here where PyPI has none",
    )
    parser.add_argument(
        "--python-version",
        action="append",
        help=f"gateway Python (X.Y), repeatable (default {DEFAULT_PYTHON}); not for host",
    )
    parser.add_argument(
        "--bucket", help="S3 bucket the artifact is uploaded to (named in the recipe); required"
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="no bucket: for greengrass-cli on this device (deploy/local-deploy.sh) only",
    )
    parser.add_argument(
        "--sync-recipe",
        action="store_true",
        help=f"write {GDK_RECIPE.relative_to(ROOT)} from {RECIPE.relative_to(ROOT)} and exit",
    )
    parser.add_argument("--out", type=Path, default=DEPLOY / "out", help="output folder")
    parser.add_argument("--find-links", action="append", default=[], metavar="DIR")
    parser.add_argument("--max-glibc", type=int, default=DEFAULT_MAX_GLIBC, metavar="MINOR")
    parser.add_argument("--strict", action="store_true", help="fail if a platform lacks wheels")
    parser.add_argument(
        "--gdk", action="store_true", help="as GDK's custom build: into deploy/greengrass-build"
    )
    args = parser.parse_args(argv)
    if args.sync_recipe:
        return args
    if args.bucket is not None and (args.local or args.gdk):
        parser.error("--bucket goes without --local and --gdk (GDK puts its own bucket in)")
    if args.bucket is None and not (args.local or args.gdk):
        parser.error(
            "give --bucket BUCKET, the S3 bucket the artifact will be uploaded to (the recipe "
            "names it), or --local for a deployment on this device with greengrass-cli"
        )
    if args.bucket is not None and not _BUCKET_NAME.fullmatch(args.bucket):
        parser.error(
            f"--bucket {args.bucket!r} is not an S3 bucket name: 3-63 lower-case letters, "
            "digits, dots and hyphens, without s3:// or a folder"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    """Build; exit 0, or 1 naming what failed."""
    args = parse_args(argv)
    if args.sync_recipe:
        GDK_RECIPE.write_text(gdk_recipe_text(), encoding="utf-8")
        log(f"wrote {GDK_RECIPE} from {RECIPE}")
        return 0
    try:
        return build(args)
    except BuildError as e:
        log(f"FAILED: {e}")
        return 1


def build(args: argparse.Namespace) -> int:
    """The whole build (see the module docstring)."""
    version = project_version()
    out: Path = args.out
    bucket: str = LOCAL_ONLY_BUCKET if args.local else args.bucket
    recipe_path = out / "recipes" / f"{COMPONENT}-{version}.yaml"
    if args.gdk:
        check_gdk_recipe()
        version, out = gdk_settings()
        bucket = "BUCKET_NAME"  # gdk component publish puts the real bucket in
        recipe_path = out / "recipes" / "recipe.yaml"
    platforms: list[str] = list(dict.fromkeys(args.platform or DEFAULT_PLATFORMS))
    pythons: list[str] = args.python_version or [DEFAULT_PYTHON]
    find_links = [str(Path(p).resolve()) for p in args.find_links]
    missing: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="edge-agent-build-") as tmp:
        scratch = Path(tmp)
        wheels = scratch / "wheels"  # what goes into the zip
        project_wheel = build_project_wheel(scratch / "project", scratch)
        pins: list[str] | None = None
        for target in platforms:
            # One folder per platform: only a complete platform's wheels go into the zip.
            arch = host_arch() if target == "host" else target
            found = scratch / f"wheels-{target}"
            if target == "host":
                log(f"collecting wheels for this machine ({arch})")
                missing[arch] = host_wheels(project_wheel, found, find_links)
            for python_version in pythons if target != "host" else []:
                log(f"downloading wheels for {arch}, Python {python_version}")
                pins = pins if pins is not None else resolved_requirements(project_wheel)
                lacking = foreign_wheels(
                    project_wheel,
                    found,
                    arch=arch,
                    python_version=python_version,
                    max_glibc=args.max_glibc,
                    find_links=find_links,
                    pins=pins,
                )
                missing.setdefault(arch, []).extend(lacking)
            if not missing[arch]:
                shutil.copytree(found, wheels, dirs_exist_ok=True)
        complete = {arch for arch, lacking in missing.items() if not lacking}
        if not complete:
            raise BuildError(f"no platform has every wheel: {json.dumps(missing)}")
        zip_path = out / "artifacts" / COMPONENT / version / ARTIFACT
        if zip_path.parent.exists():
            shutil.rmtree(zip_path.parent)
        write_zip(wheels, zip_path)
        names = sorted(w.name for w in wheels.glob("*.whl"))
    recipe_path.parent.mkdir(parents=True, exist_ok=True)
    recipe_path.write_text(
        render_recipe(version, bucket, {ARCHITECTURES[a] for a in complete}), encoding="utf-8"
    )
    report = {
        "component": COMPONENT,
        "version": version,
        "artifact": str(zip_path),
        "recipe": str(recipe_path),
        "platforms": {a: {"complete": not m, "missing": m} for a, m in missing.items()},
        "wheels": names,
    }
    (out / "build-report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(f"{zip_path} ({len(names)} wheels, {zip_path.stat().st_size // 1024} KiB)")
    log(f"{recipe_path}")
    if bucket == LOCAL_ONLY_BUCKET:
        log("LOCAL DEPLOYMENT ONLY: the recipe names no bucket; deploy it with local-deploy.sh")
    for arch, lacking in missing.items():
        if lacking:
            log(f"{arch}: NOT in the recipe, no wheel on PyPI for: {', '.join(lacking)}")
    if args.strict and any(missing.values()):
        log("--strict: failing because a platform lacks wheels")
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
