"""config.json loading and validation, following MindIE's documented rules.

Unknown keys are ignored (as MindIE does). All broken rules are collected and reported together.
"""
import ipaddress
import json
import os
import re
import sys

from . import common, tls as tlsmod

MODEL_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]{1,256}")      # model_deploy_config.cpp CheckModelNameLength
MODEL_NAME_RULE = ("The value of modelName must meet the following rules: The string length is [1, 256] and "
                   "consists of a match of the type [a-zA-Z0-9_.-]. The first and last characters must be "
                   "characters or digits.")
MAX_INPUT_LEN = 4 * 1024 * 1024       # model_deploy_config.cpp MAX_INPUT_LEN
MAX_CONFIG_SIZE = 10485760            # FileUtils::IsFileValid's default maxfileSize (10 MB)
MAX_IPV4_LENGTH = 32
MAX_IPV6_LENGTH = 46


class ConfigError(Exception):
    def __init__(self, errors, settings=None):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.settings = settings    # partial settings when the file was structurally usable


def check_file_permission(path, check=True, base_dir="/"):
    """GetConfigPath's checks of config.json (common_util.cpp, file_utils.cpp); a list of errors.

    RegularFilePath: not a link, below ``base_dir`` (the service home for the default path, / for
    MIES_CONFIG_JSON_PATH); IsFileValid: exists, 1 byte..10 MB, owned by the process user (root too) and no
    looser than 0640. IsFileValid's 6-argument form fails on owner and mode even when ``check`` is False
    (MINDIE_CHECK_INPUTFILES_PERMISSION=0): it then only adds an "[ERROR] ...; Please set: chmod" line on stderr.
    """
    name = common._base(path)
    stripped = path.rstrip("/") or path
    if os.path.islink(stripped):
        return ["The file: %s is a link." % name]
    if os.path.exists(path):
        real = os.path.realpath(path)
        base = base_dir if base_dir.endswith("/") else base_dir + "/"
        if not real.startswith(base) and base != "/":
            return ["The file: %s is invalid, it's not in baseDir directory." % name]
    else:
        return ["The input file: %s is not a regular file or not exists" % name]
    if not os.path.isdir(path):
        size = os.path.getsize(path)
        if not 1 <= size <= MAX_CONFIG_SIZE:
            sys.stderr.write("Input data size(%d) out of range[1,%d].\n" % (size, MAX_CONFIG_SIZE))
            sys.stderr.flush()
            return ["Read input file: %s failed, file is too large" % name]
    err = common.constrain_owner_permission(path, 0o640)
    if err is None:
        return []
    err = "Check path: %s failed, by:%s" % (name, err)
    if not check:
        sys.stderr.write("[ERROR] %s; Please set: chmod 750 %s\n" % (err, name))
        sys.stderr.flush()
    return [err]


def check_ip(value, key, allow_zero):
    """common_util.cpp CheckIp: a literal IPv4 (contains '.') or IPv6 (contains ':') address; error or None."""
    if not isinstance(value, str) or not value:
        return "Input %s is empty" % key
    if ":" in value:
        clean = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        if len(value) > MAX_IPV6_LENGTH:
            return "Input %s format is invalid." % key
        if not allow_zero and clean == "::":
            return "Input %s [%s] is invalid" % (key, value)
        try:
            if "%" in clean:            # inet_pton(AF_INET6) takes no zone index
                raise ValueError(clean)
            ipaddress.IPv6Address(clean)
        except ValueError:
            return "Input %s [%s] is invalid" % (key, value)
        return None
    if "." in value:
        if len(value) > MAX_IPV4_LENGTH:
            return "Input %s format is invalid." % key
        if not allow_zero and value == "0.0.0.0":
            return "Input %s [%s] is invalid" % (key, value)
        try:
            ipaddress.IPv4Address(value)      # inet_pton(AF_INET): four decimal octets, no leading zeros
        except ValueError:
            return "Input %s [%s] is invalid" % (key, value)
        return None
    return "Input %s [%s] format is invalid (neither IPv4 nor IPv6)" % (key, value)


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
        if name.startswith("ServerConfig"):
            # server_config.cpp: ParamChecker::CheckMaxMinValue on "serverConfig.<key>"
            errors.append(_bound("serverConfig" + name[len("ServerConfig"):] + "." + key, value, lo, hi))
        else:
            errors.append("%s.%s %d is invalid, it should be in range [%d, %d]." % (name, key, value, lo, hi))
    return value


def _bound(name, value, lo, hi):
    """ParamChecker::CheckMaxMinValue's words."""
    if value > hi:
        return "%s [%d] is out of bound [%d]" % (name, value, hi)
    return "%s [%d] is less than [%d]" % (name, value, lo)


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
    # Only a config that names LogConfig.logPath (1.0) gets that file too; 3.0 has no such key.
    s["log_path"] = str(log_cfg["logPath"]) if log_cfg.get("logPath") else None

    # ---- ServerConfig
    # server_config.cpp GetIPAddress / GetManagementIPAddress: MIES_CONTAINER_IP and
    # MIES_CONTAINER_MANAGEMENT_IP win over the file; managementIpAddress defaults to ipAddress.
    s["ip"] = os.environ.get("MIES_CONTAINER_IP") or server.get("ipAddress", "127.0.0.1")
    s["mgmt_ip"] = os.environ.get("MIES_CONTAINER_MANAGEMENT_IP") or server.get("managementIpAddress", s["ip"])
    s["allow_zero"] = server.get("allowAllZeroIpListening", False) is True
    for key in ("ipAddress", "managementIpAddress"):
        ip = s["ip"] if key == "ipAddress" else s["mgmt_ip"]
        if not isinstance(ip, str):
            errors.append("ServerConfig.%s %s is invalid, it should be a string (a literal IPv4 or IPv6 address)."
                          % (key, json.dumps(ip)))
            continue
        if ip == "0.0.0.0" and not s["allow_zero"]:
            errors.append("ServerConfig.%s is 0.0.0.0, which is not allowed unless "
                          "allowAllZeroIpListening is true." % key)
            continue
        bad = check_ip(ip, key, s["allow_zero"])      # literal addresses only: host names are refused
        if bad:
            errors.append(bad)
    s["ip"], s["mgmt_ip"] = str(s["ip"]), str(s["mgmt_ip"])
    # 3.0: ServerConfig.HealthCheckConfig (a HealthCheckConfig elsewhere, e.g. at the top level, is ignored)
    s["health_check"] = server.get("HealthCheckConfig") if isinstance(server.get("HealthCheckConfig"), dict) else {}
    s["port"] = _int(server, "ServerConfig", "port", 1025, errors, 1024, 65535)
    # server_config.cpp InitFromJson: managementPort defaults to port (not to 1026)
    s["mgmt_port"] = _int(server, "ServerConfig", "managementPort", s["port"], errors, 1024, 65535)
    s["metrics_port"] = _int(server, "ServerConfig", "metricsPort", 1027, errors, 1024, 65535)
    s["max_link"] = _int(server, "ServerConfig", "maxLinkNum", 1000, errors, 1, 4096)
    # server_config.cpp: maxRequestLength in MB, [1, 100], default 40 (config_info.h); the request body limit.
    s["max_request_mb"] = _int(server, "ServerConfig", "maxRequestLength", 40, errors, 1, 100)
    # 3.0: ServerConfig.HealthCheckConfig.npuUsageThreshold, 0..100, 0 (default) = no busy detection
    health = server.get("HealthCheckConfig")
    s["npu_usage_threshold"] = 0
    if isinstance(health, dict) and "npuUsageThreshold" in health:
        s["npu_usage_threshold"] = _int(health, "ServerConfig.HealthCheckConfig", "npuUsageThreshold", 0, errors, 0, 100)
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
        for group in groups:
            if len(set(group)) != len(group) or any(d < 0 for d in group):
                errors.append("npuDeviceID does not allow repetitive element" if len(set(group)) != len(group)
                              else "BackendConfig.npuDeviceIds %r is invalid: device ids cannot be negative."
                              % (ids,))
                break
    s["groups"] = groups
    instances = _int(backend, "BackendConfig", "modelInstanceNumber", 1, errors)
    if not isinstance(instances, bool) and isinstance(instances, int) and not 1 <= instances <= 10:
        errors.append(_bound("backendConfig.modelInstanceNumber", instances, 1, 10))
    tokenizers = _int(backend, "BackendConfig", "tokenizerProcessNumber", 8, errors)
    if not 1 <= tokenizers <= 32:
        errors.append(_bound("backendConfig.tokenizerProcessNumber", tokenizers, 1, 32))
    if groups and instances != len(groups):
        errors.append("BackendConfig.modelInstanceNumber (%d) is not equal to the number of groups in "
                      "npuDeviceIds (%d)." % (instances, len(groups)))
    s["instances"] = instances
    # backend_config.cpp CheckParam: multiNodesInferPort in [1024, 65535], 1120 when absent (config_info.h);
    # config_manager_impl.cpp CheckAllParam refuses it equal to the endpoint port, multi-node inference on or not.
    multi_port = _int(backend, "BackendConfig", "multiNodesInferPort", 1120, errors, 1024, 65535)
    if multi_port == s["port"]:
        errors.append("Endpoint port cannot be equal to multiNodesInferPort.")

    s["max_seq_len"] = _int(deploy, "ModelDeployConfig", "maxSeqLen", 2560, errors, 1, 2 ** 31 - 1)
    s["max_input_len"] = _int(deploy, "ModelDeployConfig", "maxInputTokenLen", min(2048, s["max_seq_len"]),
                              errors, 1, 2 ** 31 - 1)
    if s["max_input_len"] > MAX_INPUT_LEN:
        errors.append("The value of modelParam.maxInputTokenLen should be in [1, %d]." % MAX_INPUT_LEN)
    models = deploy.get("ModelConfig")
    if not isinstance(models, list) or not models or not isinstance(models[0], dict):
        errors.append("ModelDeployConfig.ModelConfig is missing or empty.")
        models = [{}]
    model = models[0]
    s["model_name"] = model.get("modelName")
    name = s["model_name"]
    if (not isinstance(name, str) or not MODEL_NAME_RE.fullmatch(name) or not name[0].isalnum()
            or not name[-1].isalnum()):
        errors.append("ModelConfig.modelName %r is invalid, it should match ^[a-zA-Z0-9_.-]{1,256}$ and start "
                      "and end with a letter or digit. %s" % (name, MODEL_NAME_RULE))
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
    # 3.0 accepts maxInputTokenLen above maxSeqLen and caps what a request may bring at maxSeqLen - 1
    # (infer_tokenizer.cpp, llm_manager_impl.cpp); the checks above use the configured value.
    s["max_input_len_config"] = s["max_input_len"]
    s["max_input_len"] = max(min(s["max_input_len"], s["max_seq_len"] - 1), 1)
    s["max_iter"] = _int(schedule, "ScheduleConfig", "maxIterTimes", 512, errors, 1, 2 ** 31 - 1)
    if s["max_iter"] > s["max_seq_len"]:
        # Documented range [1, maxSeqLen] (service parameter docs, 1.0 to 3.0); 3.0's code refuses only 0. [I]
        errors.append("ScheduleConfig.maxIterTimes (%d) should be less than or equal to ModelDeployConfig.maxSeqLen "
                      "(%d)." % (s["max_iter"], s["max_seq_len"]))
    pending = s.pop("tls_pending", None)
    if pending is not None:
        s["tls"], tls_errors = tlsmod.validate(pending, s, service_dir)
        errors += tls_errors
    if errors:
        raise ConfigError(errors, s)
    return s
