"""Disk files for the boot tests, without root or loop devices: ext4 file systems made from a
directory (mkfs.ext4 -d), GPT disks (sfdisk on a plain file, partitions written with dd
conv=notrunc), THE state + persist disk builder every scenario uses, and reading a partition or a
state-partition file back on the host (sfdisk -J, debugfs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from host import MiB, align, dir_size, run, same_fs

LINUX_FS_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

FIFO = None  # a value in state_files: a fifo there instead of a file (mkfs.ext4 -d keeps it)


def mkfs_ext4_dir(out: Path, label: str, content: Path | None, size: int,
                  journal: bool = True) -> None:
    args = ["mkfs.ext4", "-q", "-F", "-L", label, "-b", "4096", "-E", "root_owner=0:0"]
    if not journal:
        args += ["-O", "^has_journal"]
    if content is not None:
        args += ["-d", content]
    run(args + [out, str(size // 4096)])


def state_partition(out: Path, content: Path, spare: int = 16 * MiB,
                    label: str = "STATE") -> Path:
    """ext4 LABEL=STATE holding the directory CONTENT, with SPARE bytes of room."""
    mkfs_ext4_dir(out, label, content, align(dir_size(content) + spare, MiB))
    return out


def build_disk(out: Path, slots: dict[str, Path], persist: bool | Path = True,
               state_files: dict[str, bytes | None] | None = None,
               state_spare: int = 48 * MiB, persist_size: int = 64 * MiB,
               state_label: str = "STATE", persist_label: str = "PERSIST") -> Path:
    """GPT disk file: 1 = state (ext4 LABEL=STATE, PARTLABEL=state, holding slots/NAME.img and
    STATE_FILES: path -> bytes, or FIFO), 2 = persist (PARTLABEL=persist): an empty ext4
    LABEL=PERSIST, or the given partition file (a LUKS2 one), none with persist=False."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp = Path(tmp)
        content = tmp / "state"
        (content / "slots").mkdir(parents=True)
        for name, img in slots.items():
            os.link(img, content / "slots" / f"{name}.img") if same_fs(img, content) else \
                shutil.copy2(img, content / "slots" / f"{name}.img")
        for rel, data in (state_files or {}).items():
            (content / rel).parent.mkdir(parents=True, exist_ok=True)
            if data is FIFO:
                os.mkfifo(content / rel)
            else:
                (content / rel).write_bytes(data)
        parts = [("state", state_partition(tmp / "state.ext4", content, state_spare, state_label))]
        if isinstance(persist, Path):
            parts.append(("persist", persist))
        elif persist:
            persist_img = tmp / "persist.ext4"
            mkfs_ext4_dir(persist_img, persist_label, None, persist_size)
            parts.append(("persist", persist_img))
        return gpt_disk(out, parts)


def gpt_disk(out: Path, parts: list[tuple[str, Path]]) -> Path:
    """A GPT disk file whose partitions (PARTLABEL name, from 1 MiB on, each MiB-aligned) hold the
    given filesystem images; sfdisk on a plain file and dd conv=notrunc, no loop device or root.
    Written beside OUT and renamed, so a half-built disk never carries the final name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    layout, offsets, start = ["label: gpt"], [], MiB
    for name, img in parts:
        size = align(img.stat().st_size, MiB)
        layout.append(f"start={start // 512}, size={size // 512}, type={LINUX_FS_GUID}, "
                      f'name="{name}"')
        offsets.append(start)
        start += size
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        f.truncate(start + MiB)  # room for the backup GPT
    run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", tmp],
        input="\n".join(layout) + "\n")
    for (_name, img), off in zip(parts, offsets):
        run(["dd", f"if={img}", f"of={tmp}", "bs=1M", f"seek={off // MiB}",
             "conv=notrunc,sparse", "status=none"])
    os.replace(tmp, out)
    return out


def partitions(disk: Path) -> list[dict]:
    """The partitions of a disk file as `sfdisk -J` lists them ([] without a partition table)."""
    out = subprocess.run(["sfdisk", "-J", disk], stdout=subprocess.PIPE, text=True,
                         stderr=subprocess.DEVNULL)
    if out.returncode != 0:
        return []
    return json.loads(out.stdout)["partitiontable"]["partitions"]


def copy_partition(disk: Path, part: int | dict, out: Path) -> Path:
    """Partition PART (1-based number, or an entry of partitions()) of a disk file, copied to
    OUT."""
    p = partitions(disk)[part - 1] if isinstance(part, int) else part
    run(["dd", f"if={disk}", f"of={out}", "bs=512", f"skip={p['start']}", f"count={p['size']}",
         "status=none"])
    return out


def state_file(fs_image: Path, rel: str) -> bytes | None:
    """REL in the ext4 file system image FS_IMAGE (debugfs dump), or None when it does not
    exist."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "f"
        r = subprocess.run(["debugfs", "-R", f"dump -p /{rel.lstrip('/')} {out}", str(fs_image)],
                           capture_output=True, text=True)
        if r.returncode != 0 or "File not found" in r.stderr or not out.exists():
            return None
        return out.read_bytes()


def host_record(disk: Path, offset: int = MiB) -> str:
    """The record file as stored on the state partition (partition 1 at 1 MiB), via debugfs."""
    res = subprocess.run(["debugfs", "-R", "cat /imageinit/state", f"{disk}?offset={offset}"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return res.stdout
