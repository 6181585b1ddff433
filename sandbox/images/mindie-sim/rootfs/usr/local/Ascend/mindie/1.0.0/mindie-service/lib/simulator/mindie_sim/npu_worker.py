#!/usr/bin/env python3
"""NPU memory holder of the simulator.

Usage: npu_worker.py mindie_sim_npu_worker --device LOGICAL_ID --hbm-mb MB [--owner NAME]

One such process runs per device while a model is loaded; the node's npu-smi emulator finds
them in /proc by the mindie_sim_npu_worker token and reports their HBM. The process renames
itself to mindie_llm_back (as the real backend workers are named) and exits with its parent.
Standard library only, runnable as a plain script.
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15


def _prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError, ctypes.ArgumentError):
        pass


def main(argv):
    args = list(argv)
    if args and args[0] == "mindie_sim_npu_worker":
        args = args[1:]
    parent = os.getppid()
    _prctl(PR_SET_NAME, ctypes.c_char_p(b"mindie_llm_back"))
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    if os.getppid() != parent:
        return 0
    # tell the parent that the device memory is held (it waits for this line)
    try:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
    except OSError:
        pass
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
