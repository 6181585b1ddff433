"""Simulated MindIE 1.0.0 (service daemon, atb-models runner) for the ascend.mindie sandbox."""
VERSION = "1.0.0"
