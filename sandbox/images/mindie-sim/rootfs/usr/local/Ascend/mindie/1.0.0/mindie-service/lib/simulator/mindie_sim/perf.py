"""Timing and HBM model shared by mindieservice_daemon and run_pa.

Timing (milliseconds, before MINDIE_SIM_TIME_SCALE):
    prefill_ms(L)      = (PREFILL_BASE_MS + PREFILL_PER_TOKEN_MS * L) * chip * tp
    decode_step_ms(b)  = (DECODE_BASE_MS + DECODE_PER_SEQ_MS * b) * chip * tp
    chip = chip factor (910B3 / 64 GB cards 1.0, 910B4 / 32 GB cards 1.49)
    tp   = (8 / worldSize) ** 0.5      (fewer cards, slower steps)
A request of L prompt tokens and n output tokens, decoded while b requests run, takes
prefill_ms(L) + (n - 1) * decode_step_ms(b) (the first token comes out of the prefill).
run_pa runs questions in batches of max_batch_size: every batch costs the sum of its prefills
plus (max_output_length - 1) decode steps at that batch size.

HBM per chip (MB), checked at warm-up (daemon_hbm_plan):
    weights = weights_bytes / worldSize / 2**20        (parameter count from config.json x 2 bytes, bf16:
                                                        ~16.6 GB for the 7B, 1977 MB per chip on 8)
    runtime = RUNTIME_MB (1024)                        (ATB workspace and the text forward pass)
    vit     = VIT_BASE_MB (1024) + VIT_MB_PER_TOKEN (0.3) * maxPrefillTokens * 8 / worldSize
                                                       (vision encoder warm-up workspace; its attention
                                                        heads are split over the TP ranks)
    kv      = npuMemSize * 1024, or for npuMemSize -1:
              floor(total * NPU_MEMORY_FRACTION) - weights - runtime    (NPU_MEMORY_FRACTION env, 0.8)
    hold    = weights + runtime + kv + vit             (what the workers hold, npu-smi shows it)
    free    = total - hbm_idle_mb - others             (others: HBM other simulated processes hold)
    fits    = kv > 0 and hold <= free
    hang    = npuMemSize != -1 and kv > 2 * total      ("far too large": start-up hangs, no fast OOM)
With -1 the KV cache is sized for text: what is left, total * (1 - fraction) - idle, must hold the vision
encoder's workspace, which is large on few cards. 8 x 64 GB, maxPrefillTokens 8192: vit 3482 MB fits in
9760 MB; on 2 cards vit 10854 MB does not (warm-up OOM, gpustack#3541); on 1 card 20685 MB.
"""
import math
import os

from .common import env_float

TARGET_TP = 8


def _p(name, default):
    return env_float("MINDIE_SIM_" + name, default)


def chip_factor(chip):
    override = os.environ.get("MINDIE_SIM_CHIP_FACTOR")
    if override:
        try:
            return float(override)
        except ValueError:
            pass
    chip = chip or {}
    name = str(chip.get("name", "")).upper()
    if "910B4" in name:
        return _p("CHIP_FACTOR_910B4", 1.49)
    if "910B3" in name:
        return 1.0
    if int(chip.get("hbm_total_mb", 65536)) <= 32768:
        return _p("CHIP_FACTOR_910B4", 1.49)
    return 1.0


def tp_factor(world_size):
    return (TARGET_TP / float(max(int(world_size), 1))) ** 0.5


def prefill_ms(prompt_tokens, chip=None, world_size=8):
    base = _p("PREFILL_BASE_MS", 130.0) + _p("PREFILL_PER_TOKEN_MS", 0.2) * max(prompt_tokens, 1)
    return base * chip_factor(chip) * tp_factor(world_size)


def decode_step_ms(batch, chip=None, world_size=8):
    base = _p("DECODE_BASE_MS", 25.0) + _p("DECODE_PER_SEQ_MS", 1.0) * max(batch, 1)
    return base * chip_factor(chip) * tp_factor(world_size)


def request_latency_ms(prompt_tokens, output_tokens, batch, chip=None, world_size=8):
    steps = max(output_tokens - 1, 0)    # the first token comes out of the prefill
    return prefill_ms(prompt_tokens, chip, world_size) + steps * decode_step_ms(batch, chip, world_size)


def run_pa_plan(prompt_tokens_list, max_batch_size, output_len, chip=None, world_size=8):
    """Per batch: (prefill_ms list, decode_step_ms). Questions run in batches of max_batch_size."""
    plan = []
    size = max(int(max_batch_size), 1)
    for start in range(0, len(prompt_tokens_list), size):
        group = prompt_tokens_list[start:start + size]
        plan.append(([prefill_ms(t, chip, world_size) for t in group],
                     decode_step_ms(len(group), chip, world_size)))
    return plan


def run_pa_latency_s(prompt_tokens_list, max_batch_size, output_len, chip=None, world_size=8):
    total = 0.0
    for prefills, step in run_pa_plan(prompt_tokens_list, max_batch_size, output_len, chip, world_size):
        total += sum(prefills) + max(output_len - 1, 0) * step
    return total / 1000.0


# ---------------------------------------------------------------- HBM

FAR_TOO_LARGE = 2          # npuMemSize beyond FAR_TOO_LARGE x the card's total HBM hangs start-up


def memory_fraction():
    """(NPU_MEMORY_FRACTION, error or None); default 0.8, a number in (0, 1]."""
    raw = os.environ.get("NPU_MEMORY_FRACTION")
    if raw is None or raw.strip() == "":
        return 0.8, None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0 or value != value:
        return 0.8, ("NPU_MEMORY_FRACTION %r is invalid, it should be a number in (0, 1] (default 0.8)." % raw)
    return value, None


def runtime_mb():
    return int(math.ceil(_p("RUNTIME_MB", 1024.0)))


def vit_reserve_mb(max_prefill_tokens, world_size=TARGET_TP):
    per_token = _p("VIT_MB_PER_TOKEN", 0.3) * TARGET_TP / float(max(int(world_size), 1))
    return int(math.ceil(_p("VIT_BASE_MB", 1024.0) + per_token * max(max_prefill_tokens, 0)))


def weights_share_mb(weights_bytes, world_size):
    return int(math.ceil(weights_bytes / float(max(world_size, 1)) / 2 ** 20))


def daemon_hbm_plan(chip, weights_bytes, world_size, npu_mem_size, max_prefill_tokens, fraction=None, others_mb=0):
    """MB of one chip: total, idle, others, free, weights, runtime, kv, vit, hold, need, fits, hang, fraction.

    The formulas are in the module docstring; ``others_mb`` is the HBM other processes hold on the chip.
    """
    total = int(chip.get("hbm_total_mb", 32768))
    idle = int(chip.get("hbm_idle_mb", 2654))
    fraction = memory_fraction()[0] if fraction is None else float(fraction)
    weights = weights_share_mb(weights_bytes, world_size)
    runtime = runtime_mb()
    vit = vit_reserve_mb(max_prefill_tokens, world_size)
    auto = int(npu_mem_size) == -1
    if auto:
        kv = int(math.floor(total * fraction)) - weights - runtime
    else:
        kv = int(npu_mem_size) * 1024
    hold = weights + runtime + max(kv, 0) + vit
    free = total - idle - int(others_mb)
    return {"total": total, "idle": idle, "others": int(others_mb), "free": free, "fraction": fraction,
            "weights": weights, "runtime": runtime, "kv": max(kv, 0), "vit": vit, "hold": hold,
            "need": idle + hold, "fits": kv > 0 and hold <= free,
            "hang": not auto and kv > FAR_TOO_LARGE * total}
