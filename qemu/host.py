"""What every module of the QEMU harness uses on the host: the paths (repository, qemu/work),
quiet build commands, content digests for the build caches, sizes, and reading the JSON and the
kernel timestamps that a boot prints. Imports no other harness module."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
from pathlib import Path

QEMU_DIR = Path(__file__).resolve().parent
REPO = QEMU_DIR.parent
WORK = Path(os.environ.get("IMAGEINIT_QEMU_WORK", QEMU_DIR / "work"))
GUEST = QEMU_DIR / "guest"

MiB = 1024 * 1024

build_lock = threading.RLock()  # image builds are quick: one at a time


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """Run a build command; on failure raise with its output (builds must be quiet when fine)."""
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("text", True)
    try:
        return subprocess.run([str(c) for c in cmd], **kw)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"command failed ({e.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{e.stdout or ''}") from None


def file_digest(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def tree_digest(d: Path) -> str:
    """A digest of every file's name and content under d."""
    files = sorted(p for p in Path(d).rglob("*") if p.is_file())
    return file_digest(*files, extra=" ".join(str(p.relative_to(d)) for p in files))


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
        total += 4096
    return total


def same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def json_object(text: str) -> dict | None:
    """The JSON object in TEXT from its first { to its last } (the console may interleave kernel
    lines around it); None when there is none or it does not parse."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        return json.loads(text[start:end + 1])
    except json.JSONDecodeError:
        return None


def printk_time(line: str) -> float | None:
    """The kernel timestamp of a console line (printk.time=1), in seconds since boot."""
    m = re.match(r"\[\s*(\d+\.\d+)\]", line)
    return float(m.group(1)) if m else None
