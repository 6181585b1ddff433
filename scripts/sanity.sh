#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships: build the tarball (which
# honours galaxy.yml's build_ignore), unpack it into a temporary
# ansible_collections/ascend/mindie git work tree and run every sanity test.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}
work=$repo/build/sanity
tree=$work/ansible_collections/ascend/mindie

# ansible-test bootstraps pip in each test venv with a get-pip script it downloads
# from a host that may not be reachable; it first looks in its cache. Put a stand-in
# there that bootstraps pip with ensurepip and then installs what was asked for.
pip_version=$("$venv/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$cache")"
cat > "$cache" <<'PY'
# Stand-in for get-pip.py written by ascend.mindie's scripts/sanity.sh.
import os
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
env = dict(os.environ)
env.pop("PIP_CONFIG_FILE", None)  # ensurepip points it at /dev/null; keep the machine's pip.conf
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))
PY

rm -rf "$work"
mkdir -p "$tree"
"$venv/bin/ansible-galaxy" collection build "$repo" --output-path "$work" --force >/dev/null
tar -xzf "$work"/ascend-mindie-*.tar.gz -C "$tree"
cp "$repo/galaxy.yml" "$tree/"
cd "$tree"
git init -q . && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
PATH=$venv/bin:$PATH ansible-test sanity --python 3.11 --requirements --color no "$@"
