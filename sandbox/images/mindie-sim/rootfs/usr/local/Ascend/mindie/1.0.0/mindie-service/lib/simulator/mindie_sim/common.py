"""Shared helpers of the MindIE simulator: environment, simulated hardware, devices, logging.

Everything here is standard library only: the simulator runs on the image's python3.
"""
import datetime
import json
import os
import re
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


def physical_id(chip):
    """The node's id of a chip: its ``logical_id`` in hardware.json, the N of /dev/davinciN, npu-smi's id."""
    return int(chip.get("logical_id", chip.get("npu_id", -1)))


def visible_chips(hardware):
    """The chips this process sees (/dev/davinci<physical id> present), sorted by physical id."""
    chips = [c for c in hardware.get("chips", [])
             if os.path.exists(os.path.join(dev_dir(), "davinci%d" % physical_id(c)))]
    return sorted(chips, key=physical_id)


def chip_for_logical_id(hardware, logical_id):
    """The chip MindIE's logical id ``logical_id`` names, or None when there is no such device.

    As the ACL runtime does in a container that sees only some NPUs, logical ids are 0..n-1 over the
    visible devices in the order of their physical ids: with /dev/davinci4..7 only, logical 0 is physical 4.
    With every NPU visible, logical = physical. [I] (GPUStack writes npuDeviceIds = range(n).)
    """
    chips = visible_chips(hardware)
    try:
        logical_id = int(logical_id)
    except (TypeError, ValueError):
        return None
    if 0 <= logical_id < len(chips):
        return chips[logical_id]
    return None


def visible_logical_ids(hardware):
    return list(range(len(visible_chips(hardware))))


def visible_physical_ids(hardware):
    return [physical_id(c) for c in visible_chips(hardware)]


# ------------------------------------------------------------------ HBM held by simulated processes
#
# Every process holding simulated HBM (npu_worker.py, the node's npu-hold) carries, in its command line,
#   mindie_sim_npu_worker --device <physical id> --hbm-mb <MB> [--device .. --hbm-mb ..] --token <token>
# (found in /proc by every process of the same pid namespace, as npu-smi does), and binds one abstract unix
# socket per device named "\0ascend_sim_hbm:<physical id>:<MB>:<token>" (listed in /proc/net/unix by every
# process of the same network namespace: every host-networked container of the node). Readers merge both and
# count a (token, device) once. Bridge-networked containers in other pid namespaces do not see each other.
# A token starts with the node key (a hash of the hardware description's path, the same in every container
# of a node, which mounts the driver at the same path) and "-": holders of other simulated nodes sharing the
# machine (unit tests) are left out. Holders without a token count only on the default hardware path.

HOLDER_TOKEN = "mindie_sim_npu_worker"
HBM_SOCKET_PREFIX = "ascend_sim_hbm"


def node_key():
    import hashlib
    path = os.environ.get("ASCEND_SIM_HARDWARE") or HARDWARE_DEFAULT
    return hashlib.sha1(path.encode("utf-8", "replace")).hexdigest()[:8]


# Prefix of the tokens of this process's workers (a daemon does not count its own workers as others').
INSTANCE_TOKEN = "%s-%x%s" % (node_key(), os.getpid(), os.urandom(4).hex())


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def parse_holder_argv(argv):
    """(token or None, [(physical id, MB), ...]) of a holder's command line; (None, []) when it holds nothing."""
    start = None
    for index, arg in enumerate(argv):
        if arg == HOLDER_TOKEN or os.path.basename(arg) == HOLDER_TOKEN:
            start = index + 1
            break
    if start is None:
        return None, []
    held, device, token = [], None, None
    rest = argv[start:]
    index = 0
    while index < len(rest):
        arg = rest[index]
        if arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            index += 1
        elif arg in ("--device", "--hbm-mb", "--token") and index + 1 < len(rest):
            key, value = arg, rest[index + 1]
            index += 2
        else:
            index += 1
            continue
        if key == "--device" and value.isdigit():
            device = int(value)
        elif key == "--hbm-mb" and device is not None:
            try:
                held.append((device, int(float(value))))
            except ValueError:
                pass
            device = None
        elif key == "--token":
            token = value
    return token, held


def hbm_holders():
    """Every simulated HBM holder visible from here: list of dicts (token, pid or None, device, mb, via).

    ASCEND_SIM_PROC (default /proc) and ASCEND_SIM_NET_UNIX (default /proc/net/unix) move the sources (tests).
    """
    proc = os.environ.get("ASCEND_SIM_PROC") or "/proc"
    found = {}
    try:
        entries = os.listdir(proc)
    except OSError:
        entries = []
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        raw = _read_bytes(os.path.join(proc, entry, "cmdline"))
        if not raw or HOLDER_TOKEN.encode() not in raw:
            continue
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        token, held = parse_holder_argv(argv)
        for device, mb in held:
            key = (token or "pid:%s" % entry, device)
            found[key] = {"token": token, "pid": int(entry), "device": device, "mb": mb, "via": "proc"}
    raw = _read_bytes(os.environ.get("ASCEND_SIM_NET_UNIX") or "/proc/net/unix") or b""
    for line in raw.decode("utf-8", "replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or not fields[-1].startswith("@" + HBM_SOCKET_PREFIX + ":"):
            continue
        parts = fields[-1][1:].split(":")
        if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[3]:
            continue
        key = (parts[3], int(parts[1]))
        if key not in found:
            found[key] = {"token": parts[3], "pid": None, "device": int(parts[1]), "mb": int(parts[2]),
                          "via": "unix"}
    return sorted(found.values(), key=lambda h: (h["device"], h["pid"] or 0, h["token"] or ""))


def hbm_used_by_others(physical_ids, own_prefix=INSTANCE_TOKEN):
    """physical id -> (MB held by other simulated processes, [holder, ...]); our own workers are left out."""
    used = {int(d): [0, []] for d in physical_ids}
    mine = node_key() + "-"
    default_node = (os.environ.get("ASCEND_SIM_HARDWARE") or HARDWARE_DEFAULT) == HARDWARE_DEFAULT
    for holder in hbm_holders():
        if holder["device"] not in used:
            continue
        if not (holder["token"] or "").startswith(mine) and not (default_node and not holder["token"]):
            continue
        if holder["token"] and own_prefix and holder["token"].startswith(own_prefix):
            continue
        used[holder["device"]][0] += holder["mb"]
        used[holder["device"]][1].append(holder)
    return {dev: (mb, holders) for dev, (mb, holders) in used.items()}


def describe_holders(holders):
    """'pid 123 (4000 MB), another container's process (2000 MB)' for an error message."""
    parts = []
    for holder in holders:
        who = "pid %d" % holder["pid"] if holder["pid"] else "a process outside this container's pid namespace"
        parts.append("%s (%d MB)" % (who, holder["mb"]))
    return ", ".join(parts)


def bind_hbm_sockets(held, token):
    """Bind one abstract unix socket per (physical id, MB) of ``held``; keep the returned sockets open."""
    import socket
    socks = []
    for device, mb in held:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind("\0%s:%d:%d:%s" % (HBM_SOCKET_PREFIX, int(device), int(mb), token))
        except OSError:
            sock.close()
            continue
        socks.append(sock)
    return socks


# ------------------------------------------------------------------ input file checks (file_utils.cpp)

def _base(path):
    return os.path.basename(path.rstrip("/")) or path


def constrain_owner_permission(path, max_mode):
    """FileUtils::ConstrainOwner, then ConstrainPermission: the error text, or None when both hold.

    The owner must be the process's user (root included: no exemption here); each of owner/group/other
    may hold no bit that ``max_mode`` does not grant.
    """
    try:
        st = os.stat(path)
    except OSError:
        return "Get file stat failed."
    if st.st_uid != os.getuid():
        return "owner id diff: current process user id is %d, file owner id is %d" % (os.getuid(), st.st_uid)
    names = {2: "Owner permission", 1: "Owner group permission", 0: "Other group permission"}
    for shift in (2, 1, 0):
        cur = (st.st_mode >> (shift * 3)) & 0o7
        limit = (max_mode >> (shift * 3)) & 0o7
        if (cur | limit) != limit:
            return (" Check %s failed: %s current permission is %d, but required no greater than %d. Required "
                    "permisssion is %o, but got permission is %o" % (names[shift], path, cur, limit, max_mode,
                                                                      st.st_mode & 0o777))
    return None


LOG_COMPONENT = "server"
LOG_FILE_PREFIX = "mindie-service"      # 1.0 docs' name; 3.0's system_log calls it mindie-server
LOG_ROTATE_DEFAULT = "-fs 20 -r 10"
SIZE_1MB = 1024 * 1024


class LogSettingsError(Exception):
    """An invalid MINDIE_LOG_* value (the real logger throws std::runtime_error while it starts)."""


def log_env(name, component=LOG_COMPONENT):
    """Value of a MINDIE_LOG_* variable for the daemon, or None.

    Syntax as MindIE's ParseKeyValueString: ``value`` for every component, or ``comp:value;comp2:value2``.
    3.0's daemon logs as the ``llm`` component (system_log.cpp); ``server`` (1.0's name) counts too. A value for
    every component (``*`` or a bare value) wins over a component's own, as 3.0 applies it last.
    """
    raw = os.environ.get(name)
    if raw is None:
        return None
    own, every = None, None
    names = (component, "llm", "server", "mindie-server")
    for item in raw.split(";"):
        item = item.strip()
        if not item:
            continue
        key, sep, rest = item.partition(":")
        if sep and key.strip() and not key.strip().startswith(("/", "~", ".")):
            if key.strip().lower() == "*":
                every = rest.strip()
            elif key.strip().lower() in names:
                own = rest.strip()
        else:
            every = item
    return every if every is not None else own


def log_flag(name, default):
    """MINDIE_LOG_TO_STDOUT / MINDIE_LOG_TO_FILE: {0, 1, true, false} (any case); anything else = default."""
    value = log_env(name)
    if value is None:
        return default
    value = value.lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    return default


def log_rotate(value=None):
    """Parse MINDIE_LOG_ROTATE (``-fs MB -r N``) as system_log.cpp's ParseRotateArgs: (bytes, files)."""
    if value is None:
        value = log_env("MINDIE_LOG_ROTATE")
    size, count = 20 * SIZE_1MB, 10
    if value is None:
        return size, count
    words = value.split()
    args = {}
    while words:
        arg = words.pop(0)
        if not arg.startswith("-"):
            raise LogSettingsError("Invalid argument: " + arg)
        if not words:
            raise LogSettingsError("Missing value for argument: " + arg)
        args[arg] = words.pop(0)

    def number(text, tag):
        """std::stoi(text, &idx) then the idx check of Str2Int, cast to uint32_t."""
        match = re.match(r"\s*[+-]?\d+", text)
        if not match:
            raise LogSettingsError("For %s, stoi" % tag)
        value = int(match.group(0))
        if value < -2 ** 31 or value >= 2 ** 31:
            raise LogSettingsError("For %s, stoi" % tag)
        if match.end() != len(text):
            raise LogSettingsError("For %s, contains invalid characters after parsing the integer: %s"
                                   % (tag, text[match.end():]))
        return value % 2 ** 32

    if "-fs" in args:
        megabytes = number(args["-fs"], "logFileSize")
        size = (megabytes * SIZE_1MB) % 2 ** 32   # uint32_t arithmetic, as the real one
        if size < SIZE_1MB or size > 500 * SIZE_1MB:
            raise LogSettingsError("Log file size must be between 1 MB and 500 MB, got: %d bytes (%d MB)"
                                   % (size, size // SIZE_1MB))
    if "-r" in args:
        count = number(args["-r"], "logFileNum")
        if count < 1 or count > 64:
            raise LogSettingsError("Log file count must be between 1 and 64, got: %d" % count)
    return size, count


def log_debug_dir():
    """Directory of the rotated service log, as MindIE's LogConfig::InitLogFilePath.

    Default ``~/mindie/log/debug``; an absolute MINDIE_LOG_PATH X gives ``X/log/debug``, a relative
    one ``~/mindie/log/X/debug``.
    """
    home = os.path.expanduser("~")
    value = log_env("MINDIE_LOG_PATH")
    if not value:
        return os.path.join(home, "mindie", "log", "debug")
    if value.startswith("~"):
        value = os.path.expanduser(value)
    if value.startswith("/"):
        return os.path.join(value, "log", "debug")
    return os.path.join(home, "mindie", "log", value, "debug")


def tight_timestamp(now=None):
    """YYYYMMDDHHMMSSmmm, the time in MindIE's log file names."""
    now = now or datetime.datetime.now()
    return now.strftime("%Y%m%d%H%M%S") + "%03d" % (now.microsecond // 1000)


class Logger:
    """MindIE-like line logger.

    Lines go to the rotated file ``<log dir>/mindie-service_<pid>_<YYYYMMDDHHMMSSmmm>.log`` unless
    MINDIE_LOG_TO_FILE is 0/false, to stdout only when MINDIE_LOG_TO_STDOUT is 1/true, and (1.0's
    LogConfig.logPath, see set_path) to a second, unrotated file. ``console=True`` also prints the bare
    message on stdout, as the real daemon's std::cout lines (config errors, "Daemon start success!").
    The constructor raises LogSettingsError for a MINDIE_LOG_ROTATE the real logger refuses.
    """

    def __init__(self, path=None, component="mindie-server", to_stdout=None, to_file=None, debug_dir=None,
                 rotate=None):
        self.component = component
        self.to_stdout = log_flag("MINDIE_LOG_TO_STDOUT", False) if to_stdout is None else to_stdout
        self.to_file = log_flag("MINDIE_LOG_TO_FILE", True) if to_file is None else to_file
        self.max_bytes, self.max_files = log_rotate() if rotate is None else rotate
        self._lock = threading.RLock()     # a signal handler may log while the main thread does
        self._handle = None
        self._size = 0
        self.path = None            # the extra (LogConfig.logPath) file
        self.base = None
        self.file_path = None       # the rotated debug log
        if self.to_file:
            directory = debug_dir or log_debug_dir()
            self.base = os.path.join(directory, "%s_%d_%s" % (LOG_FILE_PREFIX, os.getpid(), tight_timestamp()))
            self.file_path = self.base + ".log"
            try:
                os.makedirs(directory, mode=0o750, exist_ok=True)
                self._rotating = self._open(self.file_path)
            except OSError:
                self._rotating = None
        else:
            self._rotating = None
        if path:
            self.set_path(path)

    @staticmethod
    def _open(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        return os.fdopen(fd, "a", encoding="utf-8")

    def set_path(self, path):
        """Also write every line to ``path`` (1.0's LogConfig.logPath, e.g. logs/mindservice.log)."""
        with self._lock:
            if self._handle:
                self._handle.close()
                self._handle = None
            self.path = path
            if not self.to_file or not path:
                return
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                self._handle = open(path, "a", encoding="utf-8")
            except OSError:
                self._handle = None

    def _rotate(self):
        """system_log.cpp's RotateLogs: base.log -> base.01.log -> ... -> base.NN.log (dropped)."""
        self._rotating.close()
        try:
            os.chmod(self.file_path, 0o440)
        except OSError:
            pass
        name = "%s.%02d.log"
        try:
            os.remove(name % (self.base, self.max_files))
        except OSError:
            pass
        for index in range(self.max_files - 1, 0, -1):
            try:
                os.rename(name % (self.base, index), name % (self.base, index + 1))
            except OSError:
                pass
        try:
            os.rename(self.file_path, name % (self.base, 1))
        except OSError:
            pass
        try:
            self._rotating = self._open(self.file_path)
            self._size = os.path.getsize(self.file_path)
        except OSError:
            self._rotating = None

    def _line(self, level, message):
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        text = str(message).replace("\r", "_").replace("\n", "_")
        return "[%s] [%d] [%d] [%s] [%s] %s" % (stamp, os.getpid(), threading.get_ident() % 100000,
                                                self.component, level, text)

    def log(self, level, message, console=False):
        line = self._line(level, message)
        with self._lock:
            if self._rotating is not None:
                data = line + "\n"
                if self._size + len(data.encode("utf-8")) >= self.max_bytes:
                    self._rotate()
                if self._rotating is not None:
                    self._rotating.write(data)
                    self._rotating.flush()
                    self._size += len(data.encode("utf-8"))
            if self._handle:
                self._handle.write(line + "\n")
                self._handle.flush()
            if self.to_stdout:
                sys.stdout.write(line + "\n")
            elif console:
                sys.stdout.write(str(message) + "\n")
            if self.to_stdout or console:
                sys.stdout.flush()

    def stdout(self, message):
        """A std::cout line of the real daemon: console only (config errors)."""
        with self._lock:
            sys.stdout.write(str(message) + "\n")
            sys.stdout.flush()

    def info(self, message, console=False):
        self.log("INFO", message, console)

    def warning(self, message, console=False):
        self.log("WARN", message, console)

    def error(self, message, console=False):
        self.log("ERROR", message, console)

    def close(self):
        with self._lock:
            for handle in (self._handle, self._rotating):
                if handle:
                    handle.close()
            self._handle = None
            self._rotating = None
