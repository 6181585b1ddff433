"""Model directory checks and the architecture-derived parameter count."""
import json
import os
import re
import stat
import struct
import sys

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "int8": 1}


class ModelDirError(Exception):
    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


VALID_PATH_RE = re.compile(r"(?!.*\.\.)[a-zA-Z0-9_./-]+")      # safe_path.cpp CheckSpecialChars
SKIPPED = (", permission check is disabled by env MINDIE_CHECK_INPUTFILES_PERMISSION, %s is ignored, "
           "this may introduce security risks")


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _safe_path_check(path, limit, check, notes, root_exempt_mode, shown=None):
    """SafePath::CheckOwner + CheckMaxPermission (safe_path.cpp) for one path; error list.

    Owner: the process user; uid 0 is exempt (3.0). Mode: no bit beyond ``limit``; 3.0 exempts uid 0 here too,
    the simulator does so only when ``root_exempt_mode`` (1.0.0 unknown: the model directory stays strict).
    With MINDIE_CHECK_INPUTFILES_PERMISSION=0 (``check`` False) both are printed and ignored (``notes``).
    """
    errors = []
    uid = os.getuid()
    st = os.lstat(path)
    shown = shown or path
    if uid != st.st_uid and uid != 0:
        msg = "path owner uid mismatch: path=%s, current_uid=%d, path_uid=%d" % (shown, uid, st.st_uid)
        if check:
            return [msg]
        notes.append(msg + SKIPPED % "owner mismatch")
    mode = stat.S_IMODE(st.st_mode)
    if mode & ~limit & 0o777 and not (uid == 0 and root_exempt_mode):
        msg = "Path permission exceeds maximum allowed: %s, actual=0%o, limit=0%o" % (shown, mode, limit)
        if check:
            errors.append(msg)
        else:
            notes.append(msg + SKIPPED % "excessive permission")
    return errors


def check_permissions(model_dir, check=True, notes=None):
    """The model directory (SafePath DIR, 0750, model_deploy_config.cpp) and its config.json (LoadJson: SafePath
    FILE, 0640, safe_io.cpp). MINDIE_CHECK_INPUTFILES_PERMISSION=0 skips these owner/mode checks (unlike
    config.json's); the path's characters are checked either way. ``notes`` collects the skipped findings
    (printed on stdout, as SafePath does, when no list is given).
    """
    if notes is None:
        found = []
        errors = check_permissions(model_dir, check, found)
        for line in found:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return errors
    real = os.path.realpath(model_dir)          # SafePath::NormalizePath resolves links of the existing prefix
    shown = real.rstrip("/") + "/"
    if not VALID_PATH_RE.fullmatch(real):
        return ["Path contains special characters: %s" % real]
    errors = _safe_path_check(real, 0o750, check, notes, root_exempt_mode=False, shown=shown)
    cfg = os.path.join(real, "config.json")
    if os.path.isfile(cfg) and not os.path.islink(cfg):
        # 3.0 exempts uid 0 from this mode check as well; the simulator keeps config.json strict too (1.0.0 unknown)
        errors += _safe_path_check(cfg, 0o640, check, notes, root_exempt_mode=False)
    elif os.path.islink(cfg):
        errors.append("Found symlink path: %s" % cfg)
    return errors


def read_safetensors_header(path):
    """Parse a safetensors header; return the tensor dict. Raises ValueError."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise ValueError("file too short")
        header_len = struct.unpack("<Q", raw)[0]
        if header_len <= 0 or header_len > 100 * 1024 * 1024 or 8 + header_len > size:
            raise ValueError("invalid header length %d" % header_len)
        header = json.loads(handle.read(header_len).decode("utf-8"))
    data_len = size - 8 - header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if not 0 <= begin <= end <= data_len:
            raise ValueError("tensor %s offsets out of range" % name)
    return header


def check_model_dir(model_dir, expected_type="qwen2_vl"):
    """Check that a weight directory is complete. Returns (config, shard paths); raises ModelDirError."""
    errors = []
    if not os.path.isdir(model_dir):
        raise ModelDirError(["modelWeightPath %s does not exist or is not a directory." % model_dir])
    cfg_path = os.path.join(model_dir, "config.json")
    config = None
    if not os.path.isfile(cfg_path):
        errors.append("config.json is missing in modelWeightPath %s." % model_dir)
    else:
        try:
            with open(cfg_path, "r", encoding="utf-8") as handle:
                config = json.load(handle)
        except (OSError, ValueError) as exc:
            errors.append("config.json in %s cannot be parsed: %s" % (model_dir, exc))
        else:
            if config.get("model_type") != expected_type:
                errors.append("model_type %r in %s is not supported by this backend, expected %r."
                              % (config.get("model_type"), cfg_path, expected_type))
    shards = []
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.isfile(index_path):
        errors.append("model.safetensors.index.json is missing in modelWeightPath %s." % model_dir)
    else:
        try:
            with open(index_path, "r", encoding="utf-8") as handle:
                index = json.load(handle)
            names = sorted(set(index["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            errors.append("model.safetensors.index.json in %s cannot be parsed: %s" % (model_dir, exc))
            names = []
        for name in names:
            path = os.path.join(model_dir, name)
            if not os.path.isfile(path):
                errors.append("weight file %s named in model.safetensors.index.json is missing." % path)
                continue
            try:
                read_safetensors_header(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                errors.append("weight file %s is not a valid safetensors file: %s" % (path, exc))
                continue
            shards.append(path)
        if names == [] and not errors:
            errors.append("model.safetensors.index.json in %s names no weight files." % model_dir)
    if errors:
        raise ModelDirError(errors)
    return config, shards


def parameter_count(config):
    """Parameter count of a Qwen2-VL model from its config.json architecture.

    LLM: embeddings + untied lm_head (vocab x hidden each), per layer q/k/v (with bias) and o
    projections, the SwiGLU MLP (3 x hidden x intermediate) and two RMSNorms, final norm.
    Vision tower: patch embedding (3 x temporal 2 x 14 x 14 x embed_dim), per block qkv/proj
    attention, MLP (mlp_ratio x embed_dim), two LayerNorms; patch merger (2x2 -> hidden_size).
    For the real Qwen2-VL-7B-Instruct this gives ~8.29e9 parameters (16.6 GB in bfloat16).
    """
    h = int(config.get("hidden_size", 3584))
    layers = int(config.get("num_hidden_layers", 28))
    heads = int(config.get("num_attention_heads", 28))
    kv_heads = int(config.get("num_key_value_heads", heads))
    inter = int(config.get("intermediate_size", 18944))
    vocab = int(config.get("vocab_size", 152064))
    head_dim = h // heads
    kv_dim = kv_heads * head_dim
    per_layer = (h * h + h) + 2 * (h * kv_dim + kv_dim) + h * h + 3 * h * inter + 2 * h
    embed = vocab * h * (1 if config.get("tie_word_embeddings") else 2)
    llm = embed + layers * per_layer + h
    vc = config.get("vision_config") or {}
    vdim = int(vc.get("embed_dim", 1280))
    depth = int(vc.get("depth", 32))
    ratio = float(vc.get("mlp_ratio", 4))
    patch = int(vc.get("patch_size", 14))
    temporal = int(vc.get("temporal_patch_size", 2))
    channels = int(vc.get("in_chans", vc.get("in_channels", 3)))
    merge = int(vc.get("spatial_merge_size", 2))
    out_dim = int(vc.get("hidden_size", h))
    vmlp = int(vdim * ratio)
    block = (vdim * 3 * vdim + 3 * vdim) + (vdim * vdim + vdim) + (vdim * vmlp + vmlp) + \
        (vmlp * vdim + vdim) + 4 * vdim
    merged = vdim * merge * merge
    merger = 2 * vdim + (merged * merged + merged) + (merged * out_dim + out_dim)
    vision = channels * temporal * patch * patch * vdim + depth * block + merger
    return llm + vision


def weights_bytes(config):
    dtype = str(config.get("torch_dtype", "bfloat16"))
    return parameter_count(config) * DTYPE_BYTES.get(dtype, 2)


def kv_cache_gb(config, batch, seq_len, world_size):
    """MindIE's documented KV sizing: 4 x layers x kv_heads x head_dim x batch x seq / ws / 1024^3."""
    h = int(config.get("hidden_size", 3584))
    heads = int(config.get("num_attention_heads", 28))
    kv_heads = int(config.get("num_key_value_heads", heads))
    layers = int(config.get("num_hidden_layers", 28))
    return 4.0 * layers * kv_heads * (h // heads) * batch * seq_len / max(world_size, 1) / 1024 ** 3
