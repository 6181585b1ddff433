"""Simulated atb-models Qwen2-VL runner (what run_pa.sh starts instead of torchrun).

Imports the model requirements for real (tabulate, six, attrs), so a missing
`pip install -r requirements_qwen2_vl.txt` fails with a genuine ModuleNotFoundError.

Its result lines (warmup_memory, Question/Answer/Generate, Latency, Throughput, the benchmark line)
go through the model's logger (llm_log, as atb_llm's print_log does in 3.0): to stderr with the
``[time] [pid] [tid] [llmmodels] [INFO] [run_pa.py-<line>] :`` prefix only with
MINDIE_LOG_TO_STDOUT=1, and to ~/mindie/log/debug/mindie-llm_<pid>_<time>.log unless
MINDIE_LOG_TO_FILE=0. Errors (tracebacks) go to stderr.
"""
import argparse
import csv
import json
import os
import sys
import time

SUPPORTED = (".jpg", ".png", ".jpeg", ".mp4", ".wmv", ".avi")
PKG = os.path.dirname(os.path.abspath(__file__))


def _requirements():
    # The real runner pulls these in through its model utilities.
    import tabulate  # noqa: F401
    import six  # noqa: F401
    import attrs  # noqa: F401


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="run_pa")
    parser.add_argument("--nproc_per_node", type=int, default=1)
    parser.add_argument("--master_port", type=int, default=None)
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--max_batch_size", type=int, default=1)
    parser.add_argument("--max_input_length", type=int, default=8192)
    parser.add_argument("--max_output_length", type=int, default=80)
    parser.add_argument("--input_image", default=None)
    parser.add_argument("--input_text", default="Explain the details in the image.")
    parser.add_argument("--dataset_path", default=None)
    parser.add_argument("--shm_name_save_path", default="./shm_name.txt")
    return parser.parse_args(argv)


def print_log(logger, message):
    """atb_llm's print_log(rank 0, logger.info, msg): the caller's file and line in the record."""
    logger.info(message, stacklevel=2)


def fatal(message, code=1):
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()
    return code


def main(argv=None):
    sys.path.insert(0, os.path.dirname(PKG))
    from mindie_sim import common, imageinfo, llm_log, model as modelmod, perf, textgen
    from mindie_sim.daemon import bind_master, spawn_workers, stop_workers

    lib = common.missing_library(markers=common.SET_ENV_MARKERS[:3])
    if lib:
        return fatal("Traceback (most recent call last):\n  File \"run_pa.py\", line 1, in <module>\n"
                     "ImportError: %s: cannot open shared object file: No such file or directory" % lib)
    _requirements()
    try:
        logger = llm_log.model_logger()
    except (ValueError, OSError) as exc:
        return fatal("Traceback (most recent call last):\n  File \"atb_llm/utils/log/logging.py\", line 15, in <module>\n"
                     "%s: %s" % (type(exc).__name__, exc))
    args = parse_args(sys.argv[1:] if argv is None else argv)
    scale = common.time_scale() or 1.0

    try:
        hardware = common.load_hardware()
    except common.HardwareError as exc:
        if exc.kind == "missing":
            return fatal("ImportError: libascend_hal.so: cannot open shared object file: No such file or directory")
        if str(exc) == "dcmi-8005":
            return fatal("dcmi module initialize failed. ret is -8005\nRuntimeError: call aclrtSetDevice failed, "
                         "error code is 507033")
        return fatal("RuntimeError: device fault %s" % exc)

    devices_env = os.environ.get("ASCEND_RT_VISIBLE_DEVICES", "")
    try:
        devices = [int(d) for d in devices_env.split(",") if d.strip() != ""]
    except ValueError:
        return fatal("RuntimeError: ASCEND_RT_VISIBLE_DEVICES=%r is invalid." % devices_env)
    if not devices:
        devices = common.visible_logical_ids(hardware)[:1]
    chips = {}
    for dev in devices:
        chip = common.chip_for_logical_id(hardware, dev)
        if chip is None or common.manager_devices_missing():
            return fatal("RuntimeError: call aclrtSetDevice failed, error code is 107001 (device %d set in "
                         "ASCEND_RT_VISIBLE_DEVICES is not visible in this container)." % dev)
        chips[dev] = chip
    world_size = len(devices)

    try:
        model_config, shards = modelmod.check_model_dir(args.model_path.rstrip("/") or "/")
    except modelmod.ModelDirError as exc:
        return fatal("\n".join("ValueError: %s" % e for e in exc.errors))
    check_perm = os.environ.get("MINDIE_CHECK_INPUTFILES_PERMISSION", "1") != "0"
    perm_errors = modelmod.check_permissions(args.model_path.rstrip("/"), check_perm)
    if perm_errors:
        return fatal("\n".join("ValueError: %s" % e for e in perm_errors))

    # inputs: dataset_path wins over input_image
    if args.dataset_path:
        if not os.path.isdir(args.dataset_path):
            return fatal("FileNotFoundError: dataset_path %s does not exist." % args.dataset_path)
        files = [os.path.join(args.dataset_path, f) for f in sorted(os.listdir(args.dataset_path))
                 if os.path.splitext(f)[1].lower() in SUPPORTED]
        if not files:
            return fatal("ValueError: no supported file (%s) in dataset_path %s." % ("/".join(SUPPORTED),
                                                                                   args.dataset_path))
    else:
        if not args.input_image or not os.path.isfile(args.input_image):
            return fatal("FileNotFoundError: input_image %s does not exist." % args.input_image)
        if os.path.splitext(args.input_image)[1].lower() not in SUPPORTED:
            return fatal("ValueError: input_image %s is not supported, supported types: jpg/png/jpeg/mp4/wmv/avi."
                         % args.input_image)
        files = [args.input_image] * max(args.max_batch_size, 1)

    questions = []
    for path in files:
        if imageinfo.is_video(path):
            media = {"width": 0, "height": 0, "format": "VIDEO", "name": path}
            key = "video"
        else:
            try:
                media = imageinfo.describe_image(path)
            except imageinfo.ImageError as exc:
                return fatal("ValueError: %s" % exc)
            key = "image"
        ptok = textgen.prompt_tokens([args.input_text], [media], 1)
        if ptok > args.max_input_length:
            return fatal("ValueError: the input token num %d of %s exceeds max_input_length %d."
                         % (ptok, path, args.max_input_length))
        questions.append({"path": path, "media": media, "key": key, "tokens": ptok})

    master_sock, master_err = bind_master()
    if master_err:
        return fatal(master_err)

    # memory: weights share + KV cache for batch x (input + output) + vision encoder workspace
    weights = modelmod.weights_bytes(model_config)
    kv_mb = int(modelmod.kv_cache_gb(model_config, args.max_batch_size,
                                     args.max_input_length + args.max_output_length, world_size) * 1024) + 1
    plans = {}
    for dev, chip in chips.items():
        p = perf.daemon_hbm_plan(chip, weights, world_size, 1, args.max_input_length)
        p["kv"] = kv_mb
        p["hold"] = p["weights"] + kv_mb + p["vit"]
        p["need"] = p["idle"] + p["hold"]
        plans[dev] = p
        if p["need"] > p["total"]:
            master_sock.close()
            return fatal("RuntimeError: NPU out of memory on device %d during warm-up: need %d MB of %d MB. "
                         "Please decrease max_batch_size or max_input_length." % (dev, p["need"], p["total"]))

    # ASCEND_RT_VISIBLE_DEVICES ids are logical; the workers hold HBM on the physical NPUs (as npu-smi shows them)
    workers = spawn_workers([(common.physical_id(chips[dev]), p["hold"]) for dev, p in sorted(plans.items())],
                            "run_pa")
    try:
        # load weights (real reads, throttled) and warm up
        mbps = max(common.env_float("MINDIE_SIM_LOAD_MBPS", 200.0), 0.001)
        for path in shards:
            with open(path, "rb") as handle:
                while True:
                    block = handle.read(1 << 20)
                    if not block:
                        break
                    common.sim_sleep(len(block) / (mbps * 2 ** 20))
        common.sim_sleep(common.env_float("MINDIE_SIM_WARMUP_S", 8.0))
        warmup_gb = max(p["hold"] for p in plans.values()) / 1024.0
        print_log(logger, "warmup_memory(GB): %.2f" % warmup_gb)

        chip = chips[devices[0]]
        out_len = args.max_output_length
        answers = []
        prefill_total = 0.0
        decode_steps = []
        t0 = time.time()
        plan = perf.run_pa_plan([q["tokens"] for q in questions], args.max_batch_size, out_len, chip, world_size)
        index = 0
        first_token_ms = None
        for prefills, step in plan:
            batch = questions[index:index + len(prefills)]
            index += len(prefills)
            common.sim_sleep(sum(prefills) / 1000.0)
            prefill_total += sum(prefills)
            if first_token_ms is None:
                first_token_ms = sum(prefills)
            for _ in range(max(out_len - 1, 0)):
                common.sim_sleep(step / 1000.0)
                decode_steps.append(step)
            for q in batch:
                key = textgen.answer_key([args.input_text], [q["media"]])
                tokens, _finish = textgen.answer_tokens(key, [q["media"]], limit=out_len, ignore_eos=True)
                answers.append(tokens)
        elapsed = (time.time() - t0) / scale
    finally:
        stop_workers(workers)
        master_sock.close()

    total_tokens = 0
    for i, (q, tokens) in enumerate(zip(questions, answers)):
        media_key = "video" if q["key"] == "video" else "image"
        print_log(logger, "Question[%d]: %s" % (i, [{media_key: q["path"]}, {"text": args.input_text}]))
        print_log(logger, "Answer[%d]: %s" % (i, "".join(tokens)))
        print_log(logger, "Generate[%d] token num: %d" % (i, len(tokens)))
        total_tokens += len(tokens)
    throughput = total_tokens / elapsed if elapsed > 0 else 0.0
    print_log(logger, "Latency(s): %s" % round(elapsed, 3))
    print_log(logger, "Throughput(tokens/s): %s" % round(throughput, 2))
    if os.environ.get("ATB_LLM_BENCHMARK_ENABLE", "0") == "1":
        n_batches = max(len(plan), 1)
        decode_avg = sum(decode_steps) / len(decode_steps) if decode_steps else 0.0
        prefill_avg = prefill_total / n_batches
        e2e_ms = elapsed * 1000.0
        print_log(logger, "Prefill time: %.3fms, Prefill average time: %.3fms, Decode token time: %.3fms, "
                  "E2E time: %.3fms" % (first_token_ms or 0.0, prefill_avg, decode_avg, e2e_ms))
        os.makedirs("./benchmark_result", exist_ok=True)
        with open("./benchmark_result/benchmark.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Model", "Batchsize", "In_seq", "Out_seq", "Total time(s)", "First token time(ms)",
                             "Non-first token time(ms)", "Non-first token Throughput(Tokens/s)",
                             "E2E Throughput(Tokens/s)", "Non-first token Throughput Average(Tokens/s)",
                             "E2E Throughput Average(Tokens/s)"])
            per_token_tp = (1000.0 / decode_avg) * min(args.max_batch_size, len(questions)) if decode_avg else 0.0
            writer.writerow(["qwen2_vl", args.max_batch_size, args.max_input_length, out_len, round(elapsed, 3),
                             round(first_token_ms or 0.0, 3), round(decode_avg, 3), round(per_token_tp, 2),
                             round(throughput, 2), round(per_token_tp, 2), round(throughput, 2)])
    if args.shm_name_save_path:
        try:
            with open(args.shm_name_save_path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"shm_names": ["/mindie_sim_shm_%d" % os.getpid()]}) + "\n")
        except OSError:
            pass
    for handler in logger.handlers:
        handler.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
