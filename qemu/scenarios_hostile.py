"""QEMU scenarios of issue 19 (part 1): hostile files where imageinit reads. A fifo on the state
partition or in a slot image used to block PID 1's open(2) forever: no try counted, no fallback.
Now the record is unusable (defaults and a warning) and a slot with a fifo root hash, spec or
kernel fails in the initramfs, and the proven slot boots in the same boot.

Registered into testkit.SCENARIOS (qemu/catalog.py imports this module). A hang shows
as QEMU killed at the timeout, which fails the scenario. The slot image is also checked to be
mounted nodev (docs/security.md).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import images
from disks import FIFO, build_disk
from guest_script import BASIC_CHECKS
from integrity_images import dm_initrd, record_files, slot_copy, verity_files, verity_format
from testkit import (DEVKMSG_ON, Context, expect_booted, expect_log, expect_status, journal_has,
                     scenario, slot_health)
from vm import BootResult

NODEV_CHECK = "check root-nodev opts_have / nodev\n"


def fifo_image(ctx: Context, slot_id: str, rel: str) -> Path:
    """The default squashfs image with a fifo at REL (mksquashfs keeps fifos)."""
    out = ctx.dir / f"{slot_id}-fifo.img"
    with tempfile.TemporaryDirectory(dir=ctx.dir) as tmp:
        stage = images.stage_rootfs(ctx.binary, Path(tmp) / "root", slot_id)
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        os.mkfifo(target)
        images.make_fs(stage, out)
    return out


def state_disk(ctx: Context, slots: dict[str, Path], state_files: dict) -> Path:
    """The scenario's disk: SLOTS and STATE_FILES (a FIFO value makes a fifo) on the state
    partition, an empty PERSIST."""
    return build_disk(ctx.dir / "disk.img", slots, state_files=state_files)


def boot(ctx: Context, disk: Path, script: str, initrd: Path | None = None,
         files: dict[str, Path] | None = None) -> BootResult:
    """A hang shows as QEMU killed at the timeout (150 s)."""
    return ctx.boot(disk, script, append=DEVKMSG_ON, timeout=150, initrd=initrd, files=files)


def expect_fallback_from_a(ctx: Context, r: BootResult, step: str, what: str) -> None:
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
    a = slot_copy(ctx, "A", "a.img")
    verity_format(a)
    files = {**verity_files(a, "a", FIFO), **record_files(ctx)}
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
