"""A network namespace for the gateway, joined to the host by a veth pair: a WAN link that tests can break.

The gateway runs inside the namespace (``ip netns exec``), so the veth is its only way to the broker. The host
end of the veth is the "far side" (the ISP, the platform): taking it down makes a true black hole — the
gateway's packets are dropped without an RST or ICMP, the TCP connection stays half-open, and only the MQTT
keepalive (or a missing PUBACK) can tell. Names in the namespace resolve through ``/etc/netns/<ns>/hosts``,
which ``ip netns exec`` bind-mounts over ``/etc/hosts`` for the process it starts; the file is rewritten in
place (same inode, so the mount sees it), and glibc reads it on every lookup: that is how the broker's name
comes to point at a new address.

Addresses come from 198.18.0.0/15 (RFC 2544, set aside for benchmarking); nothing here listens on 0.0.0.0.
Needs root. :meth:`NetnsLink.close` removes the veth, the namespace and the hosts file, whatever happened.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import itertools
import os
import random
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_counter = itertools.count()


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _free_subnet(rng: random.Random) -> int:
    """A third octet N such that no interface has an address in 198.18.N.0/24."""
    used = _ip("-o", "-4", "addr", "show")
    for _ in range(200):
        n = rng.randrange(256)
        if f" 198.18.{n}." not in used:
            return n
    raise RuntimeError("no free /24 left in 198.18.0.0/16")


def sweep_stale() -> list[str]:
    """Remove namespaces (and their veth and hosts file) left by a process that was killed before cleaning up."""
    removed = []
    for line in _ip("netns", "list").splitlines():
        m = re.fullmatch(r"fbgw(\d+)x(\d+)", line.split()[0]) if line.strip() else None
        if m is None or Path(f"/proc/{m[1]}").exists():
            continue
        subprocess.run(["ip", "link", "del", f"fbf{m[1]}x{m[2]}"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", m[0]], capture_output=True, check=False)
        shutil.rmtree(Path("/etc/netns") / m[0], ignore_errors=True)
        removed.append(m[0])
    return removed


class NetnsLink:
    """A namespace ``fbgw<pid>x<k>`` and a veth: ``near`` (the gateway's address, inside) and ``far`` (the host's)."""

    def __init__(self) -> None:
        sweep_stale()
        tag = f"{os.getpid()}x{next(_counter)}"
        self.name = f"fbgw{tag}"
        self.far_dev = f"fbf{tag}"  # interface names are at most 15 characters
        near_dev = f"fbn{tag}"
        net = _free_subnet(random.Random())
        self.subnet = ipaddress.ip_network(f"198.18.{net}.0/24")
        self.far = f"198.18.{net}.1"
        self.near = f"198.18.{net}.2"
        self.hosts_dir = Path("/etc/netns") / self.name
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._created = False
        try:
            _ip("netns", "add", self.name)
            self._created = True
            _ip("link", "add", self.far_dev, "type", "veth", "peer", "name", near_dev)
            _ip("link", "set", near_dev, "netns", self.name)
            _ip("addr", "add", f"{self.far}/24", "dev", self.far_dev)
            _ip("link", "set", self.far_dev, "up")
            _ip("-n", self.name, "addr", "add", f"{self.near}/24", "dev", near_dev)
            _ip("-n", self.name, "link", "set", near_dev, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
            self.hosts_dir.mkdir(parents=True, exist_ok=True)
            self.set_hosts({})
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ faults

    def far_down(self) -> None:
        """Black hole: the far side of the wire goes dark; packets from the gateway vanish, nothing answers."""
        _ip("link", "set", self.far_dev, "down")

    def far_up(self) -> None:
        _ip("link", "set", self.far_dev, "up")

    def add_far_address(self, address: str) -> None:
        """Another host address on the far side (in ``subnet``), e.g. where the broker moves to."""
        _ip("addr", "add", f"{address}/24", "dev", self.far_dev)

    def del_far_address(self, address: str) -> None:
        _ip("addr", "del", f"{address}/24", "dev", self.far_dev)

    def set_hosts(self, names: dict[str, str]) -> None:
        """Write the namespace's /etc/hosts in place (a running process keeps seeing the same file)."""
        lines = ["127.0.0.1 localhost", *(f"{addr} {name}" for name, addr in names.items())]
        with open(self.hosts_dir / "hosts", "w", encoding="ascii") as f:  # truncate + write: same inode
            f.write("\n".join(lines) + "\n")

    # ------------------------------------------------------------ running things inside

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace (with its hosts file)."""
        return ["ip", "netns", "exec", self.name]

    def run_inside(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``fn`` on a thread that has joined the namespace (sockets it opens live there), e.g. an HTTP
        request to the gateway's loopback-only API."""
        if self._executor is None:
            path = f"/run/netns/{self.name}"

            def join() -> None:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.setns(fd, os.CLONE_NEWNET)
                finally:
                    os.close(fd)

            self._executor = concurrent.futures.ThreadPoolExecutor(2, self.name, initializer=join)
        return self._executor.submit(fn)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        subprocess.run(["ip", "link", "del", self.far_dev], capture_output=True, check=False)  # takes its peer
        if self._created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
            self._created = False
        shutil.rmtree(self.hosts_dir, ignore_errors=True)

    def __enter__(self) -> NetnsLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
