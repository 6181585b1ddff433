"""Which requirements does this Python already satisfy, and which wheels would install the rest.

Runs inside the MindIE container with its own interpreter (standard library only, no
packaging). Reads JSON on stdin: {"requirements": <file>, "extras": [...], "wheels": [...] | null}
and prints JSON: every requirement, the unsatisfied ones (with the reason), and, when a
wheelhouse listing is given, the unsatisfied ones no wheel or sdist in it can install.
"""
import json
import os
import re
import sys
from importlib import metadata

OPS = ("===", "~=", "==", "!=", "<=", ">=", "<", ">")
REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def norm(name):
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version):
    """Numeric release tuple without trailing zeros, or None for anything else."""
    version = version.strip().lower()
    if version.startswith("v"):
        version = version[1:]
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def satisfies(installed, op, wanted):
    """True/False when decidable without packaging, None otherwise."""
    if op == "===":
        return installed == wanted
    if op in ("==", "!=") and wanted.endswith(".*"):
        have, want = release(installed), release(wanted[:-2])
        if have is None or want is None:
            return None
        ok = have[:len(want)] + (0,) * max(0, len(want) - len(have)) == want
        return ok if op == "==" else not ok
    have, want = release(installed), release(wanted)
    if have is None or want is None:
        return installed == wanted if op == "==" else None
    width = max(len(have), len(want))
    have, want = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
    if op == "~=":
        raw = [int(p) for p in wanted.split(".")]
        if len(raw) < 2:
            return None
        prefix = tuple(raw[:-1])
        return have >= want and (have + (0,) * len(prefix))[:len(prefix)] == prefix
    return {"==": have == want, "!=": have != want, "<=": have <= want,
            ">=": have >= want, "<": have < want, ">": have > want}[op]


def read_lines(path, seen):
    """Requirement lines of a pip requirements file, following -r includes."""
    path = os.path.abspath(path)
    if path in seen:
        return []
    seen.add(path)
    out = []
    with open(path, encoding="utf-8") as handle:
        text = handle.read().replace("\\\n", "")
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        include = re.match(r"^(-r|--requirement)[=\s]\s*(\S+)$", line)
        if include:
            out.extend(read_lines(os.path.join(os.path.dirname(path), include.group(2)), seen))
            continue
        out.append(line)
    return out


def check(line):
    """(name, pins, reason) - reason is None when satisfied."""
    if line.startswith("-"):
        return None, [], "pip option, left to pip"
    spec, _sep, marker = line.partition(";")
    match = REQ.match(spec.strip())
    if not match or "@" in spec or "://" in spec:
        return None, [], "not a name and version specifier, left to pip"
    name, extras, rest = match.group(1), match.group(2), match.group(3).strip()
    clauses = []
    for clause in filter(None, (c.strip() for c in rest.split(","))):
        op = next((o for o in OPS if clause.startswith(o)), None)
        if op is None:
            return name, [], "unparsed specifier %r, left to pip" % clause
        clauses.append((op, clause[len(op):].strip()))
    pins = [v for o, v in clauses if o in ("==", "===") and not v.endswith(".*")]
    if marker.strip():
        return name, pins, "environment marker, left to pip"
    if extras:
        return name, pins, "extras, left to pip"
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        return name, pins, "not installed"
    for op, wanted in clauses:
        verdict = satisfies(installed, op, wanted)
        if verdict is None:
            return name, pins, "installed %s, %s%s not decidable here, left to pip" % (installed, op, wanted)
        if not verdict:
            return name, pins, "installed %s" % installed
    return name, pins, None


def archive(filename):
    """(normalised name, version) of a wheel or sdist filename, or None."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) in (5, 6):
            return norm(parts[0]), parts[1]
        return None
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if filename.endswith(ext):
            name, sep, version = filename[:-len(ext)].rpartition("-")
            return (norm(name), version) if sep else None
    return None


def main():
    args = json.load(sys.stdin)
    lines = read_lines(args["requirements"], set()) + [str(e).strip() for e in args.get("extras") or []]
    result = {"requirements": lines, "missing": [], "reasons": {}, "unavailable": []}
    have = [a for a in (archive(os.path.basename(w)) for w in args.get("wheels") or []) if a]
    for line in lines:
        name, pins, reason = check(line)
        if reason is None:
            continue
        result["missing"].append(line)
        result["reasons"][line] = reason
        if args.get("wheels") is None or name is None:
            continue
        versions = [v for n, v in have if n == norm(name)]
        if not versions or (pins and not any(release(v) == release(p) or v == p for v in versions for p in pins)):
            result["unavailable"].append(line)
    json.dump(result, sys.stdout)


main()
