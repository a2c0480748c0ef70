"""Bootstrap scenarios (issue 16): a blank disk installed from a bootstrap medium
(initrd/mkbootstrap) under UEFI firmware, then booted from the disk alone; and power cuts at
random moments of a bootstrap, each followed by a cheap check of the invariant on the disk file:
the boot loader is on the ESP only if everything else is complete.

IMAGEINIT_BOOTSTRAP_CUTS=N sets the number of cuts (default 10; the longer campaign, e.g. 100,
is the same scenario: `IMAGEINIT_BOOTSTRAP_CUTS=100 qemu/run-tests bootstrap-power-cuts`).
The medium, the target disk and the invariant check: bootstrap_media.py.
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

import host
import vm
from bootstrap_media import (DONE, MEDIUM_APPEND, blank_disk, boot_files, build_medium,
                             check_invariant, image_initrd, image_with_kernel, medium_boot,
                             medium_initrd)
from disks import partitions
from integrity_images import PERSIST_CHECKS, unlock_ms
from testkit import firmware_boot, scenario


@scenario("bootstrap-install-boot-update")
def bootstrap_install_boot_update(ctx):
    """1: OVMF boots the medium; it installs onto the blank disk (PERSIST LUKS2 with
    --encrypt-persist: a key file on STATE) and powers off; meanwhile the disk is copied at
    random moments (power cuts, capture_cuts) and each copy must satisfy the invariant: the
    loader is there only with everything else complete. 2: the medium runs again on an
    unbootable copy and completes it. 3: the disk alone (firmware -> systemd-boot -> the image's
    kernel and initramfs) boots slot a, PERSIST unlocked by STATE's key file; a file is written
    to PERSIST; an update is installed. 4: the update boots from slot b, unlocks PERSIST, finds
    the file, and is marked good."""
    seed = int(os.environ.get("IMAGEINIT_BOOTSTRAP_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    # The images' initramfs must unlock PERSIST: device-mapper and libcryptsetup (--with-dm).
    a = image_with_kernel(ctx, "A", ("--with-dm",))
    b = image_with_kernel(ctx, "B", ("--with-dm",))
    medium = build_medium(ctx, a, extra=("--encrypt-persist",))
    disk = blank_disk(ctx.dir / "device.img")
    cuts: list[Path] = []
    r = medium_boot(ctx, disk, medium, cuts=cuts, rng=rng)
    ctx.expect(DONE in r.log, f"bootstrap did not finish (QEMU exit {r.rc}): "
               + " | ".join(r.log.splitlines()[-6:]))
    ctx.expect(not r.timed_out, "the medium did not power off after the bootstrap")
    m = re.search(r"bootstrap: done: .* \((\d+\.\d) s\)", r.log)
    host.log(f"bootstrap-install-boot-update: medium run {r.seconds:.1f} s, "
             f"imageinit bootstrap {m.group(1) if m else '?'} s, {len(cuts)} cuts (seed {seed})")

    initrd_bytes, kernel_bytes = boot_files(ctx, a)
    work = ctx.dir / "inspect"
    work.mkdir(exist_ok=True)
    ctx.expect(len(cuts) >= 10, f"only {len(cuts)} power cuts were taken (10 wanted)")
    outcomes, resumable = [], None
    for n, cut in enumerate(cuts, 1):
        bootable, problem = check_invariant(cut, a, initrd_bytes, kernel_bytes, work)
        ctx.expect(not problem, f"cut {n} (seed {seed}): the disk has its boot loader but "
                   f"{problem} (kept: {cut})")
        outcomes.append("B" if bootable else ("p" if partitions(cut) else "-"))
        if not bootable and partitions(cut):
            resumable, kept = cut, n
        else:
            cut.unlink()
    host.log(f"bootstrap-install-boot-update: cuts (-: blank, p: partitioned, B: bootable): "
             f"{''.join(outcomes)}")
    ctx.expect(resumable is not None, "no cut fell between the partitioning and the loader")
    for cut in cuts:
        if cut != resumable:
            cut.unlink(missing_ok=True)

    r = vm.boot(ctx.kernel, medium_initrd(ctx, medium), [resumable, medium],
                ctx.dir / "resume.log", append=MEDIUM_APPEND, timeout=400, memory=1024)
    ctx.boots.append(r)
    ctx.expect(DONE in r.log, f"the rerun on cut {kept} did not complete the disk: "
               + " | ".join(r.log.splitlines()[-6:]))
    ctx.expect("resume an unfinished bootstrap" in r.log, "the rerun did not resume")
    bootable, problem = check_invariant(resumable, a, initrd_bytes, kernel_bytes, work)
    ctx.expect(bootable and not problem, f"the resumed disk is not complete: {problem}")
    resumable.unlink()

    r = firmware_boot(ctx, disk, PERSIST_CHECKS + """
check slot-a file_is /etc/slot-id A
check default-entry sh -c 'grep -q printk.time=1 /proc/cmdline && ! grep -q imageinit.slot= /proc/cmdline'
check not-the-medium sh -c '! grep -q rdinit /proc/cmdline'
check persist-mounted is_mounted /run/imageinit/persist
echo kept > /var/lib/test/bootstrap-marker
check marker-written file_is /var/lib/test/bootstrap-marker kept
check install-b imageinit install /run/testctl/b.img --tries 2
finish
""", files={"b.img": b})
    ctx.expect_pass(r, "boot 3 (the installed disk through firmware + systemd-boot)")
    u = unlock_ms(r.log)
    ctx.expect(u is not None and u[0].startswith("state key imageinit/persist.key"),
               f"boot 3: PERSIST was not unlocked by bootstrap's key file ({u})")
    # The reboot into the update: the same kernel and initramfs as on the ESP, started
    # directly (the firmware path was just shown; it adds a minute under emulation).
    r = ctx.boot(disk, PERSIST_CHECKS + """
check slot-b file_is /etc/slot-id B
check marker-kept file_is /var/lib/test/bootstrap-marker kept
check mark-good imageinit mark-good
finish
""", initrd=image_initrd(ctx, a), timeout=150)
    ctx.expect_pass(r, "boot 4 (the update from slot b)")


@scenario("bootstrap-power-cuts")
def bootstrap_power_cuts(ctx):
    """A reference bootstrap measures when the work starts and ends; then N runs, each killed
    at a random moment of that window (seeded, printed), each followed by the invariant check on
    the disk file. A run continues the disk the previous cut left unbootable (a rerun must
    complete it); once a disk is bootable the next run starts on a blank one. A last run
    completes the disk, which then holds everything (the install scenario boots such a disk)."""
    cuts = int(os.environ.get("IMAGEINIT_BOOTSTRAP_CUTS", "10"))
    seed = int(os.environ.get("IMAGEINIT_BOOTSTRAP_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    a = image_with_kernel(ctx, "A")
    medium = build_medium(ctx, a)
    # Direct kernel boot of the medium's initramfs: the firmware adds nothing to what is cut.
    initrd = medium_initrd(ctx, medium)
    work = ctx.dir / "inspect"
    work.mkdir(exist_ok=True)
    initrd_bytes, kernel_bytes = boot_files(ctx, a)

    def run(disk: Path, n: int, kill_after: float | None) -> vm.BootResult:
        r = vm.boot(ctx.kernel, initrd, [disk, medium], ctx.dir / f"cut{n}.log",
                    append=MEDIUM_APPEND, timeout=240, memory=1024, kill_after=kill_after)
        ctx.boots.append(r)
        return r

    ref = run(blank_disk(ctx.dir / "ref.img"), 0, None)
    ctx.expect(DONE in ref.log, "the reference bootstrap did not finish")
    # bootstrap-init prints the kernel's uptime when it starts and when it is done: the window
    # of the work, shifted by what the host saw before the kernel ran.
    u = [float(m.group(1)) for m in re.finditer(r"\(uptime (\d+\.\d+)\)", ref.log)]
    ctx.expect(len(u) >= 2, "no uptime on bootstrap-init's start and done lines")
    offset = max(0.0, ref.seconds - u[-1] - 0.5)
    window = (u[0] + offset, u[-1] + offset)
    host.log(f"bootstrap-power-cuts: seed {seed}, reference run {ref.seconds:.1f} s, cuts in "
             f"{window[0]:.1f}..{window[1]:.1f} s")
    ok, problem = check_invariant(ctx.dir / "ref.img", a, initrd_bytes, kernel_bytes, work)
    ctx.expect(ok and not problem, f"the finished reference disk is not complete: {problem}")

    disk = blank_disk(ctx.dir / "cut.img")
    outcomes = []
    for n in range(1, cuts + 1):
        at = rng.uniform(*window)
        r = run(disk, n, at)
        bootable, problem = check_invariant(disk, a, initrd_bytes, kernel_bytes, work)
        outcomes.append(f"{at:.1f}s:{'bootable' if bootable else 'not-bootable'}")
        ctx.expect(not problem, f"cut {n} at {at:.1f} s (seed {seed}): the disk has its boot "
                   f"loader but {problem}")
        ctx.expect("FAILED" not in r.log.replace("FAILED sysroot", ""),
                   f"run {n}: bootstrap failed: " + " | ".join(r.log.splitlines()[-4:]))
        if bootable:  # complete: the next cut starts from a blank disk again, so that every cut
            disk = blank_disk(disk)  # lands in real work, not in a rerun that writes nothing
    host.log("bootstrap-power-cuts: " + " ".join(outcomes))
    r = run(disk, cuts + 1, None)
    ctx.expect(DONE in r.log, "the run after the cuts did not complete the disk: "
               + " | ".join(r.log.splitlines()[-6:]))
    bootable, problem = check_invariant(disk, a, initrd_bytes, kernel_bytes, work)
    ctx.expect(bootable and not problem, f"after the last run the disk is not complete: {problem}")
