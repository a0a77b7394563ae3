"""Helpers shared by the benchmarks: percentiles, the machine and the disk they ran on."""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import sqlite3
from pathlib import Path
from typing import Any


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(q / 100 * len(sorted_values)) - 1)]


def filesystem_of(path: Path) -> str:
    """The mount type holding `path` (ext4, tmpfs …), from /proc/mounts; '' if unknown."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return ""
    best = ("", "")
    for fields in mounts:
        point, kind = fields[1], fields[2]
        if (str(path) + "/").startswith(point.rstrip("/") + "/") and len(point) >= len(best[0]):
            best = (point, kind)
    return best[1]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {"cpu_count": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


def emit(result: dict[str, Any], json_out: str | None) -> int:
    """Print the result as one JSON line (and write it to `json_out` if given); exit status 0."""
    text = json.dumps(result, ensure_ascii=False)
    print(text)
    if json_out:
        Path(json_out).write_text(text + "\n", encoding="utf-8")
    return 0


def unit_environment(unit: str) -> dict[str, str]:
    """The variables the `Environment=` lines of systemd/<unit> set (e.g. queuebox-kiosk.service's
    malloc settings), so a measured child process runs as its unit runs it."""
    found: dict[str, str] = {}
    for line in (Path(__file__).resolve().parents[1] / "systemd" / unit).read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            for assignment in shlex.split(line.removeprefix("Environment=")):
                name, _, value = assignment.partition("=")
                found[name] = value
    return found


def unit_nice(unit: str) -> int:
    """The `Nice=` of systemd/<unit> (0 if it sets none), so a measured child runs at its priority."""
    for line in (Path(__file__).resolve().parents[1] / "systemd" / unit).read_text(encoding="utf-8").splitlines():
        if line.startswith("Nice="):
            return int(line.removeprefix("Nice="))
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_memory(pid: int) -> dict[str, float]:
    """Memory of process `pid` in MiB, from /proc (Linux):

    - `rss_mb`: resident pages, its own and those of shared libraries and files it maps;
    - `pss_mb`: the same with each shared page divided among the processes mapping it;
    - `uss_mb`: only the pages no other process maps (what stopping it would give back);
    - `peak_rss_mb`: the highest `rss_mb` since it started.
    """
    rollup = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        rollup[key] = int(value.split()[0])  # kB
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return {"rss_mb": round(rollup["Rss"] / 1024, 1), "pss_mb": round(rollup["Pss"] / 1024, 1),
            "uss_mb": round((rollup["Private_Clean"] + rollup["Private_Dirty"]) / 1024, 1),
            "peak_rss_mb": round(peak / 1024, 1)}
