"""QEMU scenarios of issue 19 (part 1): hostile files where imageinit reads. A fifo on the state
partition or in a slot image used to block PID 1's open(2) forever: no try counted, no fallback.
Now the record is unusable (defaults and a warning) and a slot with a fifo root hash, spec or
kernel fails in the initramfs, and the proven slot boots in the same boot.

Registered into scenarios.SCENARIOS (scenarios.py imports this module at its end). A hang shows
as QEMU killed at the timeout, which fails the scenario. The slot image is also checked to be
mounted nodev (docs/security.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import harness as h
from scenarios import BASIC_CHECKS, Context, scenario
from scenarios_ab import (AB_PRELUDE, expect_booted, expect_log, expect_status, journal_has,
                          slot_health)
from scenarios_integrity import dm_initrd, record_files, verity_format

APPEND = "printk.devkmsg=on"
FIFO = None  # in state_files: make a fifo there instead of a file

NODEV_CHECK = "check root-nodev opts_have / nodev\n"


def fifo_image(ctx: Context, slot_id: str, rel: str) -> Path:
    """The default squashfs image with a fifo at REL (mksquashfs keeps fifos)."""
    out = ctx.dir / f"{slot_id}-fifo.img"
    with tempfile.TemporaryDirectory(dir=ctx.dir) as tmp:
        stage = Path(tmp) / "root"
        shutil.copytree(h.build_rootfs(ctx.binary), stage, symlinks=True)
        (stage / "etc" / "slot-id").write_text(slot_id + "\n")
        (stage / "etc" / "imageinit").mkdir(parents=True, exist_ok=True)
        (stage / "etc" / "imageinit" / "fstab").write_text(h.DEFAULT_SPEC)
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        os.mkfifo(target)
        h.run(["mksquashfs", stage, out, "-comp", "zstd", "-noappend", "-quiet", "-all-root",
               "-no-progress"])
    return out


def state_disk(ctx: Context, slots: dict[str, Path], state_files: dict) -> Path:
    """GPT: 1 = state (slots/NAME.img plus STATE_FILES; a FIFO value makes a fifo, which
    mkfs.ext4 -d keeps), 2 = PERSIST."""
    with tempfile.TemporaryDirectory(dir=ctx.dir) as tmp:
        tmp = Path(tmp)
        content = tmp / "state"
        (content / "slots").mkdir(parents=True)
        for name, img in slots.items():
            shutil.copy2(img, content / "slots" / f"{name}.img")
        for rel, data in state_files.items():
            (content / rel).parent.mkdir(parents=True, exist_ok=True)
            if data is FIFO:
                os.mkfifo(content / rel)
            else:
                (content / rel).write_bytes(data)
        state_img = tmp / "state.ext4"
        h.mkfs_ext4_dir(state_img, "STATE", content, h.align(h.dir_size(content) + 16 * h.MiB,
                                                             h.MiB))
        persist = tmp / "persist.ext4"
        h.mkfs_ext4_dir(persist, "PERSIST", None, 32 * h.MiB)
        return h.gpt_disk(ctx.dir / "disk.img", [("state", state_img), ("persist", persist)])


def boot(ctx: Context, disk: Path, script: str, initrd: Path | None = None,
         files: dict[str, Path] | None = None) -> h.BootResult:
    n = len(ctx.boots) + 1
    size = h.align(sum(p.stat().st_size for p in (files or {}).values()) + 16 * h.MiB, h.MiB)
    ctl = h.build_control_disk(ctx.dir / f"ctl{n}.img", AB_PRELUDE + script, files=files,
                               size=size)
    r = h.boot(ctx.kernel, initrd or ctx.initrd, [disk, ctl], ctx.dir / f"boot{n}.log",
               append=APPEND, timeout=150)
    ctx.boots.append(r)
    return r


def expect_fallback_from_a(ctx: Context, r: h.BootResult, step: str, what: str) -> None:
    """Slot a failed at STEP naming a fifo, and b (proven) booted in the same boot."""
    report = expect_booted(ctx, r, "b", "B", what)
    expect_log(ctx, r, rf"slot a failed, falling back: step {step}: .*is a fifo", what)
    ctx.expect(any(f.get("slot") == "a" and f.get("step") == step
                   for f in report.get("fallbacks", [])),
               f"{what}: boot.json lists no fallback from a at {step}: {report.get('fallbacks')}")
    st = expect_status(ctx, r, "s")
    health, _, reason = slot_health(st, "a")
    ctx.expect(health == "bad" and "fifo" in reason, f"{what}: a is {health}: {reason!r}")
    ctx.expect(journal_has(st, "a", "failed", step),
               f"{what}: the journal does not name {step}: {st.get('journal')}")


@scenario("hostile-fifo-record-boots")
def fifo_record_boots(ctx):
    """A fifo at imageinit/state: the record is unusable (defaults, a warning naming the fifo),
    the boot goes on, the attempt is recorded as a regular file in the fifo's place."""
    disk = state_disk(ctx, {"a": ctx.image(slot_id="A")}, {"imageinit/state": FIFO})
    r = boot(ctx, disk, BASIC_CHECKS + NODEV_CHECK + r"""
check record-is-a-file test -f /run/imageinit/state/imageinit/state
check record-not-a-fifo not test -p /run/imageinit/state/imageinit/state
status_json s
finish
""")
    expect_booted(ctx, r, "a", "A", "boot with a fifo record")
    expect_log(ctx, r, r"boot-state record.*'imageinit/state' is a fifo, not a regular file",
               "the record warning")
    st = expect_status(ctx, r, "s")
    ctx.expect(journal_has(st, "a", "attempt"),
               f"the attempt of a was not recorded: {st.get('journal')}")


@scenario("hostile-fifo-roothash-falls-back")
def fifo_roothash_falls_back(ctx):
    """slots/a.img.roothash is a fifo beside a good a.img.verity: a fails at the verity step and
    the proven b boots in the same boot."""
    a = ctx.dir / "a.img"
    shutil.copy2(ctx.image(slot_id="A"), a)
    verity_format(a)
    files = {"slots/a.img.verity": Path(f"{a}.verity").read_bytes(),
             "slots/a.img.roothash": FIFO, **record_files(ctx)}
    disk = state_disk(ctx, {"a": a, "b": ctx.image(slot_id="B")}, files)
    r = boot(ctx, disk, BASIC_CHECKS + NODEV_CHECK + "status_json s\nfinish\n",
             initrd=dm_initrd(ctx))
    expect_fallback_from_a(ctx, r, "verity", "fifo root hash")


@scenario("hostile-fifo-spec-falls-back")
def fifo_spec_falls_back(ctx):
    """a's /etc/imageinit/fstab is a fifo: a fails at read-spec, the proven b boots in the same
    boot."""
    disk = state_disk(ctx, {"a": fifo_image(ctx, "A", "etc/imageinit/fstab"),
                            "b": ctx.image(slot_id="B")}, record_files(ctx))
    r = boot(ctx, disk, BASIC_CHECKS + NODEV_CHECK + "status_json s\nfinish\n")
    expect_fallback_from_a(ctx, r, "read-spec", "fifo spec")


@scenario("hostile-fifo-kernel-falls-back")
def fifo_kernel_falls_back(ctx):
    """a's /boot/vmlinuz is a fifo: a fails at kexec-load, the proven b boots in the same boot;
    there `imageinit check` and `install` refuse that image (nothing written)."""
    fk = fifo_image(ctx, "A", "boot/vmlinuz")
    disk = state_disk(ctx, {"a": fk, "b": ctx.image(slot_id="B")}, record_files(ctx))
    r = boot(ctx, disk, BASIC_CHECKS + NODEV_CHECK + r"""
status_json s
check check-refuses-fifo-kernel not imageinit check /run/testctl/fk.img
check install-refuses-fifo-kernel not imageinit install /run/testctl/fk.img
finish
""", files={"fk.img": fk})
    expect_fallback_from_a(ctx, r, "kexec-load", "fifo kernel")
    expect_log(ctx, r, r"slot kernel: '/boot/vmlinuz' is a fifo", "check of the fifo kernel")
    expect_log(ctx, r, r"failed the check; nothing was written", "install of the fifo kernel")
