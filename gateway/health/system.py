"""What the box itself looks like: disk, memory, CPU temperature, uptime.

Blocking reads of /proc, /sys and statvfs; call :func:`read_system` through ``asyncio.to_thread``.
Anything not readable on this machine (no thermal zone in a container, no /proc/uptime) is reported as
None, never an error.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

THERMAL_ROOT = Path("/sys/class/thermal")
#: Thermal zone types that are the SoC / CPU, most specific first (Raspberry Pi: "cpu-thermal").
_CPU_ZONE_TYPES = ("cpu-thermal", "cpu_thermal", "soc_thermal", "x86_pkg_temp", "cpu")


@dataclass(frozen=True, slots=True)
class DiskState:
    path: str
    free_bytes: int
    total_bytes: int
    read_only: bool

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def disk_state(path: Path) -> DiskState:
    """Free space for an unprivileged writer (``f_bavail``) and whether the filesystem is read-only."""
    st = os.statvfs(path)
    return DiskState(str(path), st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize, bool(st.f_flag & os.ST_RDONLY))


def cpu_temperature_c(root: Path = THERMAL_ROOT) -> float | None:
    """The CPU's temperature in °C from the kernel's thermal zones, or None where there is none."""
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return None
    readings: dict[str, float] = {}
    for zone in zones:
        try:
            kind = (zone / "type").read_text().strip().lower()
            millideg = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        readings.setdefault(kind, millideg / 1000)
    for kind in _CPU_ZONE_TYPES:
        if kind in readings:
            return readings[kind]
    return next(iter(readings.values()), None)


def system_uptime_s() -> int | None:
    try:
        return int(float(Path("/proc/uptime").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return None


def read_system(state_dir: Path) -> dict[str, object]:
    """Everything the heartbeat reports about the machine (blocking)."""
    try:
        disk: dict[str, object] | None = disk_state(state_dir).as_json()
    except OSError:
        disk = None
    mem = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    try:
        load: float | None = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "disk": disk,
        "memory": {"total_bytes": mem.total, "available_bytes": mem.available, "process_rss_bytes": rss},
        "cpu": {"temperature_c": cpu_temperature_c(), "load_1m": load},
        "system_uptime_s": system_uptime_s(),
    }
