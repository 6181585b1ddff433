#!/usr/bin/env python3
"""The offline bundle: everything an air-gapped site needs to run ascend.mindie, in one directory.

    python3 scripts/bundle.py build --out DIR [--image-tar FILE | --image REF] [--weights DIR]
                                    [--requirements FILE] [--model-platform aarch64] [--tar]
    python3 DIR/install.py install --prefix PREFIX [--bundle DIR]    (on the offline side)
    python3 DIR/install.py verify [--bundle DIR]

build, on a connected machine (PyPI reachable, this repository, its venv):
  collections/   the ascend.mindie tarball (ansible-galaxy collection build) and those of its dependencies
                 (community.docker, community.crypto and theirs, from the ansible package this venv installed:
                 Galaxy is not needed)
  controller/    wheels of the controller's Python side (pip, ansible-core, docker, requests, jmespath and
                 what they need) for this machine's platform and Python
  image/         the MindIE image tarball and its .sha256 (docker load format), for mindie_image_tarball
  wheelhouse/    the model's requirements (read from the image: requirements_qwen2_vl.txt) as wheels for the
                 nodes' platform and Python 3.11, for mindie_dependencies_controller_wheelhouse
  weights.sha256 a sha256sum manifest of the weights (--weights), for mindie_precheck_model_manifest
  install.py     this script
  MANIFEST.sha256  the SHA-256 of every other file, written last
install, on the offline side, first checks every file against MANIFEST.sha256: a missing, changed or unlisted
file is refused, naming it, before anything is installed. Then it makes a venv at PREFIX from the controller
wheels (pip runs from its own wheel: no ensurepip, no network) and installs the collections into
PREFIX/collections with ansible-galaxy --offline.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

MANIFEST = "MANIFEST.sha256"
CONTROLLER_PACKAGES = ["pip", "ansible-core", "docker", "requests", "jmespath"]
IMAGE_REQUIREMENTS = "/usr/local/Ascend/atb-models/requirements/models/requirements_qwen2_vl.txt"
CHUNK = 1 << 20


class BundleError(Exception):
    pass


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def files_under(root):
    """Every regular file under root, as sorted POSIX paths relative to it."""
    out = []
    for base, dirs, names in os.walk(str(root)):
        dirs.sort()
        for name in names:
            path = Path(base) / name
            if path.is_symlink() or not path.is_file():
                raise BundleError("%s is not a regular file; a bundle holds regular files only" % path)
            out.append(path.relative_to(root).as_posix())
    return sorted(out)


# ---------------------------------------------------------------------- verify / install (offline side)

def verify(bundle):
    """Check every file of the bundle against MANIFEST.sha256; raise BundleError naming what is wrong."""
    manifest = bundle / MANIFEST
    if not manifest.is_file():
        raise BundleError("%s has no %s: not a bundle, or an incomplete copy" % (bundle, MANIFEST))
    listed = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name or name.startswith("/") or ".." in name.split("/"):
            raise BundleError("%s line %d is not '<sha256>  <relative path>': %r" % (MANIFEST, number, line))
        listed[name] = digest
    present = set(files_under(bundle)) - {MANIFEST}
    missing = sorted(set(listed) - present)
    if missing:
        raise BundleError("missing from the bundle: %s" % ", ".join(missing))
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError("not in %s (added after the bundle was built?): %s" % (MANIFEST, ", ".join(extra)))
    for name in sorted(listed):
        actual = sha256(bundle / name)
        if actual != listed[name]:
            raise BundleError("%s is corrupted or changed: its SHA-256 is %s, %s says %s; copy the bundle again"
                              % (name, actual, MANIFEST, listed[name]))
    return len(listed)


def install(bundle, prefix):
    count = verify(bundle)
    print("bundle: %d files match %s" % (count, MANIFEST))
    wheels = bundle / "controller"
    pip_wheels = sorted(wheels.glob("pip-*.whl"))
    if not pip_wheels:
        raise BundleError("controller/ has no pip wheel")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    python = prefix / "bin" / "python"
    # pip from its own wheel installs pip and the rest, from the bundle only
    subprocess.run([str(python), str(pip_wheels[-1] / "pip"), "install", "--no-index", "--find-links", str(wheels),
                    "--quiet"] + CONTROLLER_PACKAGES, check=True)
    collections = prefix / "collections"
    tarballs = sorted(str(p) for p in (bundle / "collections").glob("*.tar.gz"))
    subprocess.run([str(prefix / "bin" / "ansible-galaxy"), "collection", "install", "--offline", "--force",
                    "-p", str(collections)] + tarballs, check=True)
    print("installed: %s (ansible-core and the Python side) and %s (%s)"
          % (prefix, collections, ", ".join(Path(t).name for t in tarballs)))
    print("use: export PATH=%s/bin:$PATH ANSIBLE_COLLECTIONS_PATH=%s" % (prefix, collections))
    print("image: %s; wheelhouse: %s" % (", ".join(str(p) for p in sorted((bundle / "image").glob("*.tar"))),
                                         bundle / "wheelhouse"))


# ---------------------------------------------------------------------- build (connected side)

def run(args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def build_collections(repo, out, venv_python):
    target = out / "collections"
    target.mkdir(parents=True)
    galaxy = Path(venv_python).parent / "ansible-galaxy"
    run([str(galaxy), "collection", "build", "--force", "--output-path", str(target), str(repo)],
        stdout=subprocess.DEVNULL)
    # The collection's dependencies (community.docker, community.crypto and theirs) as the ansible package installed
    # them (Galaxy is not needed), built again into Galaxy tarballs: a galaxy.yml written from each MANIFEST.json
    # (the package left out some of the files their FILES.json lists)
    code = ("import json, sys, yaml; deps = yaml.safe_load(open(sys.argv[1]))['dependencies']; "
            "print(json.dumps(sorted(deps)))")
    todo = json.loads(subprocess.run([venv_python, "-c", code, str(repo / "galaxy.yml")], check=True,
                                     stdout=subprocess.PIPE, universal_newlines=True).stdout)
    done = set()
    while todo:
        fqcn = todo.pop(0)
        if fqcn in done:
            continue
        done.add(fqcn)
        info = build_installed_collection(fqcn, target, venv_python, galaxy)
        todo.extend(sorted(info.get("dependencies") or {}))
    return sorted(done)


def build_installed_collection(fqcn, target, venv_python, galaxy):
    code = "import ansible_collections.%s as m; print(list(m.__path__)[0])" % fqcn
    source = Path(subprocess.run([venv_python, "-c", code], check=True, stdout=subprocess.PIPE,
                                 universal_newlines=True).stdout.strip())
    info = json.loads((source / "MANIFEST.json").read_text())["collection_info"]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / info["name"]
        shutil.copytree(str(source), str(copy), ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "MANIFEST.json",
                                                                                "FILES.json"))
        galaxy_yml = dict((k, v) for k, v in info.items() if v not in (None, [], {}, "")
                          and k in ("namespace", "name", "version", "readme", "authors", "description", "license",
                                    "license_file", "tags", "dependencies", "repository", "documentation",
                                    "homepage", "issues"))
        if galaxy_yml.get("license"):
            galaxy_yml.pop("license_file", None)
        # JSON is YAML: no YAML library needed here
        (copy / "galaxy.yml").write_text(json.dumps(galaxy_yml, indent=2))
        run([str(galaxy), "collection", "build", "--force", "--output-path", str(target), str(copy)],
            stdout=subprocess.DEVNULL)
    return info


def pip_download(venv_python, dest, packages=(), requirements=None, platforms=(), python=None):
    args = [venv_python, "-m", "pip", "download", "--quiet", "--dest", str(dest), "--only-binary=:all:"]
    for platform in platforms:
        args += ["--platform", platform]
    if python:
        args += ["--python-version", python, "--implementation", "cp"]
    if requirements:
        args += ["-r", str(requirements)]
    run(args + list(packages))


def image_requirements(image, tmp):
    """The model requirements file inside the image (docker create + cp: nothing of the image runs)."""
    container = subprocess.run(["docker", "create", image], check=True, stdout=subprocess.PIPE,
                               universal_newlines=True).stdout.strip()
    try:
        path = Path(tmp) / "requirements_qwen2_vl.txt"
        run(["docker", "cp", "%s:%s" % (container, IMAGE_REQUIREMENTS), str(path)])
        return path
    finally:
        subprocess.run(["docker", "rm", container], check=False, stdout=subprocess.DEVNULL)


def build(args):
    repo = Path(__file__).resolve().parent.parent
    out = Path(args.out).resolve()
    if out.exists():
        if not args.force:
            raise BundleError("%s exists; remove it or pass --force" % out)
        # --force replaces an earlier bundle (or an empty directory), never any other directory
        if not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file()):
            raise BundleError("%s is not an earlier bundle (no %s): not replacing it; give another --out"
                              % (out, MANIFEST))
        shutil.rmtree(str(out))
    out.mkdir(parents=True)
    venv_python = args.python or sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        print("bundle: collections ascend.mindie, %s" % ", ".join(build_collections(repo, out, venv_python)))
        controller = out / "controller"
        controller.mkdir()
        pins = []
        requirements = repo / "requirements-dev.txt"
        for line in requirements.read_text().splitlines():
            name = line.split("==")[0].strip().lower()
            if name in [p.lower() for p in CONTROLLER_PACKAGES]:
                pins.append(line.strip())
        pip_download(venv_python, controller, packages=["pip"] + pins)
        print("bundle: controller wheels (%s)" % ", ".join(["pip"] + pins))
        image_dir = out / "image"
        image_dir.mkdir()
        if args.image_tar:
            source = Path(args.image_tar)
            tarball = image_dir / source.name
            shutil.copyfile(str(source), str(tarball))
            image_ref = args.image
        elif args.image:
            tarball = image_dir / ("%s.tar" % args.image.replace("/", "_").replace(":", "_"))
            run(["docker", "save", "-o", str(tarball), args.image])
            image_ref = args.image
        else:
            raise BundleError("give the MindIE image: --image-tar FILE (docker save format) or --image REF")
        (image_dir / (tarball.name + ".sha256")).write_text("%s  %s\n" % (sha256(tarball), tarball.name))
        print("bundle: image %s (%.0f MB)" % (tarball.name, tarball.stat().st_size / 1e6))
        wheelhouse = out / "wheelhouse"
        wheelhouse.mkdir()
        reqs = Path(args.requirements) if args.requirements else image_requirements(image_ref, tmp)
        shutil.copyfile(str(reqs), str(wheelhouse / "requirements_qwen2_vl.txt"))
        platforms = {"aarch64": ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
                     "x86_64": ["manylinux2014_x86_64", "manylinux_2_28_x86_64"]}[args.model_platform]
        pip_download(venv_python, wheelhouse, requirements=reqs, platforms=platforms + ["any"], python="3.11")
        print("bundle: wheelhouse for %s / Python 3.11 (%d files)" % (args.model_platform, len(list(wheelhouse.iterdir()))))
        if args.weights:
            weights = Path(args.weights)
            lines = ["%s  %s" % (sha256(weights / name), name) for name in files_under(weights)]
            (out / "weights.sha256").write_text("\n".join(lines) + "\n")
            print("bundle: weights.sha256 (%d files of %s)" % (len(lines), weights))
        shutil.copyfile(__file__, str(out / "install.py"))
        os.chmod(str(out / "install.py"), 0o755)
    names = files_under(out)
    (out / MANIFEST).write_text("".join("%s  %s\n" % (sha256(out / n), n) for n in names))
    size = sum((out / n).stat().st_size for n in names)
    print("bundle: %s, %d files, %.0f MB, %s written" % (out, len(names), size / 1e6, MANIFEST))
    if args.tar:
        archive = out.parent / (out.name + ".tar")
        with tarfile.open(str(archive), "w") as tar:
            tar.add(str(out), arcname=out.name)
        print("bundle: %s" % archive)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    b = sub.add_parser("build", help="build the bundle (connected side)")
    b.add_argument("--out", required=True)
    b.add_argument("--image", help="the MindIE image reference (docker save it, read its requirements)")
    b.add_argument("--image-tar", help="the MindIE image tarball to carry (docker save format)")
    b.add_argument("--requirements", help="the model requirements file (default: the image's)")
    b.add_argument("--weights", help="the weights directory to write weights.sha256 of")
    b.add_argument("--model-platform", choices=["aarch64", "x86_64"], default="aarch64",
                   help="the nodes' platform for the wheelhouse (800I A2: aarch64)")
    b.add_argument("--python", help="the venv Python that pip downloads with (default: this one)")
    b.add_argument("--force", action="store_true", help="replace an existing --out")
    b.add_argument("--tar", action="store_true", help="also write <out>.tar")
    i = sub.add_parser("install", help="verify the bundle, then install it (offline side)")
    i.add_argument("--bundle", default=str(Path(__file__).resolve().parent))
    i.add_argument("--prefix", required=True, help="the venv to create (ansible-core, the collections)")
    v = sub.add_parser("verify", help="verify the bundle against MANIFEST.sha256 only")
    v.add_argument("--bundle", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args()
    try:
        if args.command == "build":
            build(args)
        elif args.command == "install":
            install(Path(args.bundle).resolve(), Path(args.prefix).resolve())
        elif args.command == "verify":
            print("bundle: %d files match %s" % (verify(Path(args.bundle).resolve()), MANIFEST))
        else:
            parser.print_help()
            return 2
    except BundleError as exc:
        print("bundle: refused: %s" % exc, file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print("bundle: %s failed (rc=%s)" % (" ".join(str(a) for a in exc.cmd[:4]), exc.returncode), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
