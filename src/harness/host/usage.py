"""CPU and resident memory of each service's whole process tree, sampled while a suite runs.

psutil's ``cpu_percent`` needs two readings of the same process object, so the process objects
are kept between samples (a new child is counted from its second sample). A docker-backend
service's tree is its ``compose up`` client: the container's own processes are not in it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil


@dataclass
class Usage:
    """Running figures of one service."""

    samples: int = 0
    cpu_sum: float = 0.0
    cpu_peak: float = 0.0
    rss_sum: float = 0.0
    rss_peak: float = 0.0

    def add(self, cpu: float, rss_mb: float) -> None:
        self.samples += 1
        self.cpu_sum += cpu
        self.rss_sum += rss_mb
        self.cpu_peak = max(self.cpu_peak, cpu)
        self.rss_peak = max(self.rss_peak, rss_mb)

    def summary(self) -> dict[str, float | int]:
        n = max(1, self.samples)
        return {
            "samples": self.samples,
            "cpu_percent_peak": round(self.cpu_peak, 1),
            "cpu_percent_mean": round(self.cpu_sum / n, 1),
            "rss_mb_peak": round(self.rss_peak, 1),
            "rss_mb_mean": round(self.rss_sum / n, 1),
        }


class TreeSampler:
    """Samples process trees by their root pid, keeping psutil objects between calls."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, pid: int) -> tuple[float, float] | None:
        """(CPU % summed over the tree since the last sample, resident MiB), or None if it is gone."""
        try:
            root = self._proc(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        cpu = rss = 0.0
        for member in tree:
            try:
                proc = self._proc(member.pid)
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
            except psutil.Error:
                self._procs.pop(member.pid, None)
        return cpu, rss / (1024 * 1024)

    def _proc(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None or not proc.is_running():
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # the first reading only starts the interval
            self._procs[pid] = proc
        return proc


def current_usage(pid: int, interval: float = 0.1) -> tuple[float, float] | None:
    """One reading now (for ``status``): CPU % over ``interval`` s and resident MiB of the tree."""
    sampler = TreeSampler()
    if sampler.sample(pid) is None:
        return None
    time.sleep(interval)
    return sampler.sample(pid)
