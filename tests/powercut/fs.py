"""A FUSE filesystem that forgets, on a power cut, everything that was not fsynced.

Why: ``kill -9`` leaves the kernel's page cache intact, so it cannot tell whether a program fsyncs the right
things. On this filesystem nothing reaches the "medium" until it is synced, the way a power cut on an SD card
behaves at its worst:

* **File contents.** Every ``write`` and ``truncate`` is kept as a pending operation on the file (inode). An
  ``fsync``/``fdatasync`` of the file applies its pending operations to the medium, in order.
* **Names.** Every create, mkdir, rename, unlink and rmdir changes only the live view of its directory (or
  directories). An ``fsync`` of a directory makes that directory's current entries durable, all of them, as
  ext4 does (a rename between two directories needs both fsynced). A new directory is reachable after a cut
  only if its parent was fsynced after it was made.
* **The cut** is an unmount: whatever is pending is thrown away. With ``--torn SEED`` a cut first lets a random
  prefix of each file's pending writes reach the medium, the last of them cut to a 512-byte sector boundary, as
  a drive losing power mid-write may leave it.

The medium is the backing folder, written through on every fsync: ``tree.json`` holds every directory's durable
entries (by node id) and ``data/<id>`` each file's durable contents. Mounting reads it back, drops nodes that
no durable name reaches (an fsynced file whose name was never synced is gone, like an orphan inode ``fsck``
frees) and starts with nothing pending. The live view is kept in memory; state directories are small.

Not modelled: hard links and symlinks (refused), extended attributes, per-file metadata durability (a file's
mode is taken as durable with its name). Single-threaded: FUSE serves one request at a time.

Run: ``python -m tests.powercut.fs BACKING MOUNTPOINT [--torn SEED]`` (foreground; unmount with
``fusermount3 -u MOUNTPOINT``, which is the cut). :mod:`tests.powercut.mount` does this for tests.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import random
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mfusepy

SECTOR = 512
ROOT = 1
log = logging.getLogger("powercut.fs")


@dataclass
class Node:
    """A file or directory: its live state, what is pending, and (for directories) its durable entries."""

    id: int
    is_dir: bool
    mode: int
    data: bytearray = field(default_factory=bytearray)  # file: live contents
    pending: list[tuple[int, bytes | int]] = field(default_factory=list)  # file: (offset, bytes) or (-1, size)
    entries: dict[str, int] = field(default_factory=dict)  # dir: live names
    durable: dict[str, int] = field(default_factory=dict)  # dir: names as the medium has them
    linked: bool = True  # has a live name
    opens: int = 0
    times: list[int] = field(default_factory=lambda: [time.time_ns()] * 3)  # atime, mtime, ctime


class Medium:
    """The backing folder: durable directory entries in ``tree.json``, durable file contents in ``data/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def data_path(self, node_id: int) -> Path:
        return self.data_dir / str(node_id)

    def apply(self, node: Node, ops: list[tuple[int, bytes | int]]) -> None:
        """Apply pending write/truncate operations of ``node`` to its durable contents."""
        fd = os.open(self.data_path(node.id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for offset, payload in ops:
                if offset < 0:
                    assert isinstance(payload, int)
                    os.ftruncate(fd, payload)
                else:
                    assert isinstance(payload, bytes)
                    os.pwrite(fd, payload, offset)
        finally:
            os.close(fd)

    def save_tree(self, nodes: dict[int, Node], next_id: int) -> None:
        """Record the durable entries of every directory still reachable on the medium."""
        doc: dict[str, Any] = {"next": next_id, "nodes": {}}
        todo = [ROOT]
        while todo:
            node = nodes[todo.pop()]
            rec: dict[str, Any] = {"dir": node.is_dir, "mode": node.mode}
            if node.is_dir:
                rec["entries"] = dict(node.durable)
                todo.extend(child for child in node.durable.values() if str(child) not in doc["nodes"])
            doc["nodes"][str(node.id)] = rec
        tmp = self.root / "tree.json.tmp"
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, self.root / "tree.json")

    def load(self) -> tuple[dict[int, Node], int]:
        """The durable state as a fresh live view with nothing pending; unreachable data files are removed."""
        path = self.root / "tree.json"
        if not path.exists():
            root = Node(ROOT, True, 0o755)
            return {ROOT: root}, ROOT + 1
        doc = json.loads(path.read_text(encoding="utf-8"))
        recs = {int(k): v for k, v in doc["nodes"].items()}
        next_id = int(doc["next"])
        nodes: dict[int, Node] = {}

        def build(node_id: int) -> int:
            rec = recs[node_id]
            if node_id in nodes:  # a second durable name for one node (rename across two synced dirs): copy it
                nonlocal next_id
                copy_id, next_id = next_id, next_id + 1
                src = self.data_path(node_id)
                self.data_path(copy_id).write_bytes(src.read_bytes() if src.exists() else b"")
                recs[copy_id] = rec
                node_id = copy_id
            node = Node(node_id, rec["dir"], rec["mode"])
            nodes[node_id] = node
            if node.is_dir:
                for name, child in rec["entries"].items():
                    node.entries[name] = build(child)
                node.durable = dict(node.entries)
            else:
                data = self.data_path(node_id)
                node.data = bytearray(data.read_bytes()) if data.exists() else bytearray()
            return node_id

        build(ROOT)
        for stale in self.data_dir.iterdir():
            if not stale.name.isdigit() or int(stale.name) not in nodes:
                stale.unlink()
        self.save_tree(nodes, next_id)
        return nodes, next_id


class PowerCutFS(mfusepy.Operations):
    """The live view, with pending operations kept until the matching fsync."""

    use_ns = True
    flag_nullpath_ok = True
    flag_nopath = True

    def __init__(self, backing: Path, torn_seed: int | None = None) -> None:
        self.medium = Medium(backing)
        self.nodes, self.next_id = self.medium.load()
        self.handles: dict[int, int] = {}  # fh -> node id
        self.next_fh = 1
        self.torn = random.Random(torn_seed) if torn_seed is not None else None
        self.uid, self.gid = os.getuid(), os.getgid()
        self.syncs = 0

    # -- lookups -------------------------------------------------------------------------------------------

    def _lookup(self, path: str | None, fh: int | None = None) -> Node:
        if fh and fh in self.handles:
            return self.nodes[self.handles[fh]]
        if path is None:
            raise mfusepy.FuseOSError(errno.EBADF)
        node = self.nodes[ROOT]
        for part in (p for p in path.split("/") if p):
            if not node.is_dir:
                raise mfusepy.FuseOSError(errno.ENOTDIR)
            child = node.entries.get(part)
            if child is None:
                raise mfusepy.FuseOSError(errno.ENOENT)
            node = self.nodes[child]
        return node

    def _parent(self, path: str) -> tuple[Node, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self._lookup(head or "/")
        if not parent.is_dir:
            raise mfusepy.FuseOSError(errno.ENOTDIR)
        return parent, name

    def _new(self, is_dir: bool, mode: int) -> Node:
        node = Node(self.next_id, is_dir, stat.S_IMODE(mode))
        self.nodes[node.id] = node
        self.next_id += 1
        return node

    def _open(self, node: Node) -> int:
        fh, self.next_fh = self.next_fh, self.next_fh + 1
        self.handles[fh] = node.id
        node.opens += 1
        return fh

    def _unlink_node(self, node: Node) -> None:
        node.linked = False
        self._forget_if_unused(node)

    def _forget_if_unused(self, node: Node) -> None:
        """Drop the live contents of a node nothing live refers to (the durable side stays on the medium)."""
        if not node.linked and node.opens == 0:
            node.data = bytearray()
            node.pending.clear()

    # -- attributes ----------------------------------------------------------------------------------------

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        node = self._lookup(path, fh)
        kind = stat.S_IFDIR if node.is_dir else stat.S_IFREG
        size = len(node.entries) if node.is_dir else len(node.data)
        return {
            "st_mode": kind | node.mode,
            "st_nlink": (2 if node.is_dir else 1) if node.linked else 0,
            "st_size": size,
            "st_uid": self.uid,
            "st_gid": self.gid,
            "st_atime": node.times[0],
            "st_mtime": node.times[1],
            "st_ctime": node.times[2],
            "st_blocks": (size + SECTOR - 1) // SECTOR,
        }

    def chmod(self, path: str | None, mode: int) -> int:
        self._lookup(path).mode = stat.S_IMODE(mode)
        return 0

    def chown(self, path: str | None, uid: int, gid: int) -> int:
        return 0

    def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
        node = self._lookup(path)
        now = time.time_ns()
        node.times[0], node.times[1] = times if times else (now, now)
        return 0

    def access(self, path: str, amode: int) -> int:
        self._lookup(path)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self.medium.root)
        return {key: getattr(st, key) for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail")} | {
            "f_files": 1 << 20,
            "f_ffree": 1 << 20,
            "f_namemax": 255,
        }

    # -- names (pending until the directory is fsynced) ------------------------------------------------------

    def readdir(self, path: str | None, fh: int) -> list[str]:
        return [".", "..", *self._lookup(path, fh).entries]

    def opendir(self, path: str) -> int:
        node = self._lookup(path)
        if not node.is_dir:
            raise mfusepy.FuseOSError(errno.ENOTDIR)
        return self._open(node)

    def releasedir(self, path: str | None, fh: int) -> int:
        return self.release(path, fh)

    def mkdir(self, path: str, mode: int) -> int:
        parent, name = self._parent(path)
        if name in parent.entries:
            raise mfusepy.FuseOSError(errno.EEXIST)
        parent.entries[name] = self._new(True, mode).id
        return 0

    def rmdir(self, path: str) -> int:
        parent, name = self._parent(path)
        node = self._lookup(path)
        if not node.is_dir:
            raise mfusepy.FuseOSError(errno.ENOTDIR)
        if node.entries:
            raise mfusepy.FuseOSError(errno.ENOTEMPTY)
        del parent.entries[name]
        self._unlink_node(node)
        return 0

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        parent, name = self._parent(path)
        existing = parent.entries.get(name)
        node = self.nodes[existing] if existing is not None else self._new(False, mode)
        parent.entries[name] = node.id
        return self._open(node)

    def unlink(self, path: str) -> int:
        parent, name = self._parent(path)
        node = self._lookup(path)
        if node.is_dir:
            raise mfusepy.FuseOSError(errno.EISDIR)
        del parent.entries[name]
        self._unlink_node(node)
        return 0

    def rename(self, old: str, new: str) -> int:
        src_parent, src_name = self._parent(old)
        node = self._lookup(old)
        dst_parent, dst_name = self._parent(new)
        replaced_id = dst_parent.entries.get(dst_name)
        if replaced_id == node.id:
            return 0
        if replaced_id is not None:
            replaced = self.nodes[replaced_id]
            if replaced.is_dir and replaced.entries:
                raise mfusepy.FuseOSError(errno.ENOTEMPTY)
            if replaced.is_dir != node.is_dir:
                raise mfusepy.FuseOSError(errno.EISDIR if replaced.is_dir else errno.ENOTDIR)
        del src_parent.entries[src_name]
        dst_parent.entries[dst_name] = node.id
        if replaced_id is not None:
            self._unlink_node(self.nodes[replaced_id])
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        node = self._lookup(path, fh)
        if node.durable != node.entries:
            node.durable = dict(node.entries)
            self.medium.save_tree(self.nodes, self.next_id)
        self.syncs += 1
        return 0

    # -- contents (pending until the file is fsynced) -------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        return self._open(self._lookup(path))

    def release(self, path: str | None, fh: int) -> int:
        node_id = self.handles.pop(fh, None)
        if node_id is not None:
            node = self.nodes[node_id]
            node.opens -= 1
            self._forget_if_unused(node)
        return 0

    def flush(self, path: str | None, fh: int) -> int:
        return 0

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        node = self._lookup(path, fh)
        node.times[0] = time.time_ns()
        return bytes(node.data[offset : offset + size])

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        node = self._lookup(path, fh)
        end = offset + len(data)
        if end > len(node.data):
            node.data.extend(bytes(end - len(node.data)))
        node.data[offset:end] = data
        node.pending.append((offset, bytes(data)))
        node.times[1] = node.times[2] = time.time_ns()
        return len(data)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        node = self._lookup(path, fh)
        if node.is_dir:
            raise mfusepy.FuseOSError(errno.EISDIR)
        if length < len(node.data):
            del node.data[length:]
        else:
            node.data.extend(bytes(length - len(node.data)))
        node.pending.append((-1, length))
        node.times[1] = node.times[2] = time.time_ns()
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        node = self._lookup(path, fh)
        if node.pending or not self.medium.data_path(node.id).exists():
            self.medium.apply(node, node.pending)
            node.pending.clear()
        self.syncs += 1
        return 0

    def fallocate(self, path: str | None, mode: int, offset: int, size: int, fh: int) -> int:
        raise mfusepy.FuseOSError(errno.EOPNOTSUPP)

    # -- the cut --------------------------------------------------------------------------------------------

    def destroy(self, path: str) -> None:
        """Unmounting is the power cut: pending operations are dropped (or, with torn writes, partly kept)."""
        if self.torn is None:
            return
        for node in self.nodes.values():
            if node.is_dir or not node.pending or not self.medium.data_path(node.id).exists():
                continue
            keep = self.torn.randint(0, len(node.pending))
            ops = node.pending[:keep]
            if keep < len(node.pending):
                offset, payload = node.pending[keep]
                if isinstance(payload, bytes) and offset >= 0:
                    sectors = self.torn.randint(0, len(payload) // SECTOR)
                    if sectors:
                        ops.append((offset, payload[: sectors * SECTOR]))
            self.medium.apply(node, ops)


class _FUSE(mfusepy.FUSE):
    """mfusepy drops the file handle of an ``ftruncate``; pass it on (the path may be gone or ambiguous)."""

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        fh = fip.contents.fh if fip else None
        return self.operations.truncate(None if path is None else path.decode(self.encoding, self.errors), length, fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backing", type=Path, help="the medium: a folder this filesystem owns")
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--torn", type=int, default=None, metavar="SEED", help="let cuts leave torn writes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ops = PowerCutFS(args.backing, args.torn)
    _FUSE(ops, str(args.mountpoint), foreground=True, nothreads=True, hard_remove=True, fsname="powercut")


if __name__ == "__main__":
    main()
