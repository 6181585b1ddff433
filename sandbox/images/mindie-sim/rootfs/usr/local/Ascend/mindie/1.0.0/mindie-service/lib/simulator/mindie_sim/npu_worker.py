#!/usr/bin/env python3
"""NPU memory holder of the simulator.

Usage: npu_worker.py mindie_sim_npu_worker --device PHYSICAL_ID --hbm-mb MB [--owner NAME] [--token T]

One such process runs per device while a model is loaded; the node's npu-smi emulator finds
them in /proc by the mindie_sim_npu_worker token and reports their HBM. The process renames
itself to mindie_llm_back (as the real backend workers are named) and ends on SIGTERM/SIGINT only.
Like MindIE's backend workers it does NOT die with its parent (no PR_SET_PDEATHSIG, no parent polling):
a daemon killed alone (SIGKILL of its pid) leaves the workers holding HBM (gpustack#2636); they stay in
the daemon's process group, so killpg() of that group ends them.
Standard library only, runnable as a plain script.
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_NAME = 15


def _prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError, ctypes.ArgumentError):
        pass


HELD_SOCKETS = []


def _bind_registry(args):
    """Bind the registry sockets of ``--device D --hbm-mb MB ... --token T``; none without a token."""
    import socket
    held, device, token = [], None, None
    for index, arg in enumerate(args[:-1]):
        value = args[index + 1]
        if arg == "--device" and value.isdigit():
            device = int(value)
        elif arg == "--hbm-mb" and device is not None and value.isdigit():
            held.append((device, int(value)))
            device = None
        elif arg == "--token":
            token = value
    socks = []
    for device, mb in held if token else []:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind("\0ascend_sim_hbm:%d:%d:%s" % (device, mb, token))
            socks.append(sock)
        except OSError:
            sock.close()
    return socks


def main(argv):
    args = list(argv)
    if args and args[0] == "mindie_sim_npu_worker":
        args = args[1:]
    _prctl(PR_SET_NAME, ctypes.c_char_p(b"mindie_llm_back"))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # HBM registry for processes of other pid namespaces (mindie_sim.common.hbm_holders): one abstract unix
    # socket per device, "\0ascend_sim_hbm:<physical id>:<MB>:<token>", kept open while the worker lives
    HELD_SOCKETS.extend(_bind_registry(args))     # kept open while the worker lives
    # tell the parent that the device memory is held (it waits for this line)
    try:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
    except OSError:
        pass
    while True:         # until SIGTERM/SIGINT/SIGKILL; an orphan keeps its HBM
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
