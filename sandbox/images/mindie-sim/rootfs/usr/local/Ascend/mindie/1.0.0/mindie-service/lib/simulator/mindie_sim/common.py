"""Shared helpers of the MindIE simulator: environment, simulated hardware, devices, logging.

Everything here is standard library only: the simulator runs on the image's python3.
"""
import datetime
import json
import os
import sys
import threading
import time

HARDWARE_DEFAULT = "/usr/local/Ascend/driver/sim/hardware.json"

# One variable from each of the four set_env.sh scripts; the real binaries cannot find
# their shared libraries unless all four were sourced.
SET_ENV_MARKERS = (
    ("ASCEND_TOOLKIT_HOME", "libascendcl.so"),      # ascend-toolkit/set_env.sh
    ("ATB_HOME_PATH", "libatb.so"),                # nnal/atb/set_env.sh
    ("ATB_SPEED_HOME_PATH", "libatb_speed.so"),    # atb-models/set_env.sh
    ("MIES_INSTALL_PATH", "libmies_infer.so"),     # mindie/set_env.sh
)


def time_scale():
    """MINDIE_SIM_TIME_SCALE multiplies every modelled sleep (tests use small values)."""
    try:
        value = float(os.environ.get("MINDIE_SIM_TIME_SCALE", "1.0"))
    except ValueError:
        value = 1.0
    return max(value, 0.0)


def sim_sleep(seconds):
    """Sleep for a modelled duration, scaled by MINDIE_SIM_TIME_SCALE."""
    seconds = seconds * time_scale()
    if seconds > 0:
        time.sleep(seconds)


def env_float(name, default):
    try:
        return float(os.environ.get(name, default))
    except (TypeError, ValueError):
        return float(default)


def missing_library(env=None, markers=SET_ENV_MARKERS):
    """Return the name of the shared library a real binary would miss, or None."""
    env = os.environ if env is None else env
    for var, lib in markers:
        if not env.get(var):
            return lib
    return None


class HardwareError(Exception):
    """Raised when the simulated driver is missing or faulty."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def load_hardware():
    """Load the simulated hardware description (driver dir or ASCEND_SIM_HARDWARE)."""
    path = os.environ.get("ASCEND_SIM_HARDWARE") or HARDWARE_DEFAULT
    if not os.path.isfile(path):
        raise HardwareError("missing", "libascend_hal.so")
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise HardwareError("corrupt", "hardware description %s unreadable: %s" % (path, exc))
    fault = data.get("fault")
    if fault:
        raise HardwareError("fault", str(fault))
    return data


def dev_dir():
    return os.environ.get("ASCEND_SIM_DEV_DIR") or "/dev"


def manager_devices_missing():
    base = dev_dir()
    return [name for name in ("davinci_manager", "devmm_svm", "hisi_hdc")
            if not os.path.exists(os.path.join(base, name))]


def chip_for_logical_id(hardware, logical_id):
    """Return the chip dict for a logical id when it is visible, else None."""
    if not os.path.exists(os.path.join(dev_dir(), "davinci%d" % logical_id)):
        return None
    for chip in hardware.get("chips", []):
        if int(chip.get("logical_id", -1)) == int(logical_id):
            return chip
    return None


def visible_logical_ids(hardware):
    return sorted(int(c.get("logical_id")) for c in hardware.get("chips", [])
                  if chip_for_logical_id(hardware, int(c.get("logical_id"))) is not None)


class Logger:
    """MindIE-like line logger: file always, stdout on request (MINDIE_LOG_TO_STDOUT=1)."""

    def __init__(self, path=None, component="mindie-server", to_stdout=None):
        self.path = path
        self.component = component
        if to_stdout is None:
            to_stdout = os.environ.get("MINDIE_LOG_TO_STDOUT", "0").lower() in ("1", "true", "on")
        self.to_stdout = to_stdout
        self._lock = threading.Lock()
        self._handle = None
        if path:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                self._handle = open(path, "a", encoding="utf-8")
            except OSError:
                self._handle = None

    def set_path(self, path):
        with self._lock:
            if self._handle:
                self._handle.close()
                self._handle = None
            self.path = path
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                self._handle = open(path, "a", encoding="utf-8")
            except OSError:
                self._handle = None

    def _line(self, level, message):
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return "[%s] [%d] [%d] [%s] [%s] %s" % (stamp, os.getpid(), threading.get_ident() % 100000,
                                                self.component, level, message)

    def log(self, level, message, console=False):
        line = self._line(level, message)
        with self._lock:
            if self._handle:
                self._handle.write(line + "\n")
                self._handle.flush()
            if self.to_stdout or console:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()

    def info(self, message, console=False):
        self.log("INFO", message, console)

    def warning(self, message, console=False):
        self.log("WARN", message, console)

    def error(self, message, console=True):
        self.log("ERROR", message, console)

    def close(self):
        with self._lock:
            if self._handle:
                self._handle.close()
                self._handle = None
