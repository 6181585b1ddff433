"""config.json loading and validation, following MindIE's documented rules.

Unknown keys are ignored (as MindIE does). All broken rules are collected and reported together.
"""
import json
import os
import re
import stat

from . import tls as tlsmod

MODEL_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,256}$")


class ConfigError(Exception):
    def __init__(self, errors, settings=None):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.settings = settings    # partial settings when the file was structurally usable


def check_file_permission(path, check=True):
    """The config file must be owned by the process user and not looser than 0640."""
    if not check:
        return []
    errors = []
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o137:
        errors.append("Check path: %s failed, by: Current permission is %o, but required no greater "
                      "than 640." % (path, mode))
    if st.st_uid != os.getuid():
        errors.append("Check path: %s failed, by: the owner of the file (uid %d) is not the current "
                      "user (uid %d)." % (path, st.st_uid, os.getuid()))
    return errors


def load_json(path):
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(["Failed to open config file %s: %s" % (path, exc.strerror or exc)])
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(["The config file %s is not a valid json file: %s" % (path, exc)])


def _int(section, name, key, default, errors, lo=None, hi=None):
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append("%s.%s %r is invalid, it should be an integer." % (name, key, value))
        return default
    if lo is not None and hi is not None and not lo <= value <= hi:
        errors.append("%s.%s %d is invalid, it should be in range [%d, %d]." % (name, key, value, lo, hi))
    return value


def validate(raw, service_dir):
    """Return a settings dict; raise ConfigError with every broken rule."""
    errors = []
    if not isinstance(raw, dict):
        raise ConfigError(["The config file root must be a json object."])
    server = raw.get("ServerConfig")
    backend = raw.get("BackendConfig")
    for name, section in (("ServerConfig", server), ("BackendConfig", backend)):
        if not isinstance(section, dict):
            errors.append("%s is missing or is not an object." % name)
    if errors:
        raise ConfigError(errors)
    deploy = backend.get("ModelDeployConfig")
    schedule = backend.get("ScheduleConfig")
    for name, section in (("BackendConfig.ModelDeployConfig", deploy),
                          ("BackendConfig.ScheduleConfig", schedule)):
        if not isinstance(section, dict):
            errors.append("%s is missing or is not an object." % name)
    if errors:
        raise ConfigError(errors)
    log_cfg = raw.get("LogConfig") if isinstance(raw.get("LogConfig"), dict) else {}

    s = {"service_dir": service_dir}
    s["log_path"] = str(log_cfg.get("logPath", "logs/mindservice.log"))

    # ---- ServerConfig
    s["ip"] = str(server.get("ipAddress", "127.0.0.1"))
    s["mgmt_ip"] = str(server.get("managementIpAddress", s["ip"]))
    s["allow_zero"] = bool(server.get("allowAllZeroIpListening", False))
    for key in ("ipAddress", "managementIpAddress"):
        ip = s["ip"] if key == "ipAddress" else s["mgmt_ip"]
        if ip == "0.0.0.0" and not s["allow_zero"]:
            errors.append("ServerConfig.%s is 0.0.0.0, which is not allowed unless "
                          "allowAllZeroIpListening is true." % key)
    s["port"] = _int(server, "ServerConfig", "port", 1025, errors, 1024, 65535)
    s["mgmt_port"] = _int(server, "ServerConfig", "managementPort", 1026, errors, 1024, 65535)
    s["metrics_port"] = _int(server, "ServerConfig", "metricsPort", 1027, errors, 1024, 65535)
    s["max_link"] = _int(server, "ServerConfig", "maxLinkNum", 1000, errors, 1, 4096)
    s["https"] = server.get("httpsEnabled", True)
    if not isinstance(s["https"], bool):
        errors.append("ServerConfig.httpsEnabled %r is invalid, it should be true or false." % s["https"])
        s["https"] = True
    s["tls"] = {}
    if s["https"]:
        # Checked once the addresses and ports are known (which families need certificates).
        s["tls_pending"] = server

    # ---- BackendConfig
    ids = backend.get("npuDeviceIds")
    groups = []
    if (not isinstance(ids, list) or not ids or
            not all(isinstance(g, list) and g and all(isinstance(d, int) and not isinstance(d, bool)
                                                      for d in g) for g in ids)):
        errors.append("BackendConfig.npuDeviceIds %r is invalid, it should be a non-empty list of lists "
                      "of logical device ids." % (ids,))
    else:
        groups = ids
    s["groups"] = groups
    instances = _int(backend, "BackendConfig", "modelInstanceNumber", 1, errors)
    if groups and instances != len(groups):
        errors.append("BackendConfig.modelInstanceNumber (%d) is not equal to the number of groups in "
                      "npuDeviceIds (%d)." % (instances, len(groups)))
    s["instances"] = instances

    s["max_seq_len"] = _int(deploy, "ModelDeployConfig", "maxSeqLen", 2560, errors, 1, 2 ** 31 - 1)
    s["max_input_len"] = _int(deploy, "ModelDeployConfig", "maxInputTokenLen", min(2048, s["max_seq_len"]),
                              errors, 1, 2 ** 31 - 1)
    if s["max_input_len"] > s["max_seq_len"]:
        errors.append("ModelDeployConfig.maxInputTokenLen (%d) should be less than or equal to maxSeqLen "
                      "(%d)." % (s["max_input_len"], s["max_seq_len"]))
    models = deploy.get("ModelConfig")
    if not isinstance(models, list) or not models or not isinstance(models[0], dict):
        errors.append("ModelDeployConfig.ModelConfig is missing or empty.")
        models = [{}]
    model = models[0]
    s["model_name"] = model.get("modelName")
    if not isinstance(s["model_name"], str) or not MODEL_NAME_RE.match(s["model_name"]):
        errors.append("ModelConfig.modelName %r is invalid, it should match ^[a-zA-Z0-9_.-]{1,256}$."
                      % (s["model_name"],))
    s["weight_path"] = str(model.get("modelWeightPath", ""))
    if not s["weight_path"]:
        errors.append("ModelConfig.modelWeightPath is missing.")
    s["world_size"] = _int(model, "ModelConfig", "worldSize", 1, errors, 1, 1024)
    for idx, group in enumerate(groups):
        if len(group) != s["world_size"]:
            errors.append("The size of npuDeviceIds group %d (%d) is not equal to ModelConfig.worldSize (%d)."
                          % (idx, len(group), s["world_size"]))
    npu_mem = model.get("npuMemSize", -1)
    if isinstance(npu_mem, bool) or not isinstance(npu_mem, int) or (npu_mem != -1 and npu_mem <= 0):
        errors.append("ModelConfig.npuMemSize %r is invalid, it should be -1 or a positive integer (GB)."
                      % (npu_mem,))
        npu_mem = -1
    s["npu_mem"] = npu_mem

    s["cache_block"] = _int(schedule, "ScheduleConfig", "cacheBlockSize", 128, errors, 1, 128)
    s["max_batch"] = _int(schedule, "ScheduleConfig", "maxBatchSize", 200, errors, 1, 819200)
    s["max_prefill_batch"] = _int(schedule, "ScheduleConfig", "maxPrefillBatchSize", 0, errors, 0, 819200)
    if s["max_prefill_batch"] == 0:
        s["max_prefill_batch"] = s["max_batch"]
    elif s["max_prefill_batch"] > s["max_batch"]:
        errors.append("ScheduleConfig.maxPrefillBatchSize (%d) should be less than or equal to maxBatchSize "
                      "(%d)." % (s["max_prefill_batch"], s["max_batch"]))
    s["max_prefill_tokens"] = _int(schedule, "ScheduleConfig", "maxPrefillTokens", 8192, errors,
                                   1, 2 ** 31 - 1)
    if s["max_prefill_tokens"] < s["max_input_len"]:
        errors.append("ScheduleConfig.maxPrefillTokens (%d) should be greater than or equal to "
                      "ModelDeployConfig.maxInputTokenLen (%d)." % (s["max_prefill_tokens"], s["max_input_len"]))
    s["max_iter"] = _int(schedule, "ScheduleConfig", "maxIterTimes", 512, errors, 1, 2 ** 31 - 1)
    pending = s.pop("tls_pending", None)
    if pending is not None:
        s["tls"], tls_errors = tlsmod.validate(pending, s, service_dir)
        errors += tls_errors
    if errors:
        raise ConfigError(errors, s)
    return s
