"""Simulated MindIE (service daemon, atb-models runner) for the ascend.mindie sandbox.

One tree builds every simulated version: the image's Dockerfile (build arguments MINDIE_VERSION and
MINDIE_SIM_DEFECT) moves it to /usr/local/Ascend/mindie/<version>, writes that version into version.info and,
for a deliberately broken build, names its defect in lib/simulator/defect. Both are read here, once.
"""
import os

_HERE = os.path.dirname(os.path.realpath(__file__))
_VERSION_INFO = os.path.join(_HERE, "..", "..", "..", "..", "version.info")   # mindie/<version>/version.info
_DEFECT_FILE = os.path.join(_HERE, "..", "defect")                           # mindie-service/lib/simulator/defect


def _read_version(path=_VERSION_INFO, default="1.0.0"):
    """The mindie-service: X line of the install's version.info (what the image ships), else default."""
    try:
        with open(path) as handle:
            for line in handle:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "mindie-service" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return default


def _read_defect(path=_DEFECT_FILE):
    """The deliberate defect of a broken simulator build (warmup: the daemon fails its warm-up), or None."""
    try:
        with open(path) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


VERSION = _read_version()
DEFECT = _read_defect()
