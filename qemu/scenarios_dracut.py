"""QEMU scenarios for issue 5: initramfs hooks (minimal initramfs) and the dracut module, in a
systemd-based and a non-systemd dracut initramfs. Registered into testkit.SCENARIOS (qemu/catalog.py).

The test hooks (below) record their environment and what is mounted into /run, which moves into
the booted system; one rejects slot a (exit 100: same-boot fallback to recovery), one fails
(exit 3: a warning, the boot goes on). dracut boots are slow under TCG: three boots in all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import disks
import host
import images
from guest_script import BASIC_CHECKS
from integrity_images import cert, record_files, verity_slot
from testkit import Context, json_values, scenario
from vm import BootResult

SHIPPED_HOOKS = host.REPO / "hooks"

RECORD_HOOK = r"""#!/bin/sh
# Test hook: one line per run into /run/imageinit/hooktest/log.
d=/run/imageinit/hooktest
mkdir -p "$d"
echo "$IMAGEINIT_STAGE ${0##*/} slot=$IMAGEINIT_SLOT root=$IMAGEINIT_ROOT persist=$IMAGEINIT_PERSIST degraded=$IMAGEINIT_DEGRADED tmp-mounted=$(grep -c " $IMAGEINIT_ROOT/tmp " /proc/mounts)" >>"$d/log"
"""
REJECT_HOOK = r"""#!/bin/sh
# Test hook: an image whose /etc/slot-id says BAD must not boot.
[ "$(cat "$IMAGEINIT_ROOT/etc/slot-id")" != BAD ] || exit 100
"""
FAIL_HOOK = r"""#!/bin/sh
# Test hook: fails; the boot must go on with a warning.
echo "pre-pivot 90-fail slot=$IMAGEINIT_SLOT" >>/run/imageinit/hooktest/log
exit 3
"""
TEST_HOOKS = {
    "pre-mount/05-record": RECORD_HOOK,
    "pre-mount/50-reject-bad": REJECT_HOOK,
    "pre-pivot/05-record": RECORD_HOOK,
    "pre-pivot/90-fail": FAIL_HOOK,
    "pre-pivot/95-record": RECORD_HOOK,
}

HOOK_CHECKS = BASIC_CHECKS + r"""
check slot-id-is-recovery file_is /etc/slot-id R
check tmp-is-tmpfs test "$(fstype_of /tmp)" = tmpfs
check etc-is-overlay test "$(fstype_of /etc)" = overlay
check bind-mounted is_mounted /var/lib/test
check srv-is-overlay test "$(fstype_of /srv)" = overlay
check persist-nodev opts_have /run/imageinit/persist nodev
check machine-id-from-hook cmp -s /etc/machine-id /run/imageinit/persist/imageinit/hooks/machine-id/machine-id
echo "TEST: hooklog begin"; cat /run/imageinit/hooktest/log; echo "TEST: hooklog end"
echo "TEST: machine-id $(cat /etc/machine-id)"
echo "TEST: persist-kib $(df -k /run/imageinit/persist | awk 'NR == 2 {print $2}')"
"""


def hooks_dir(ctx: Context) -> Path:
    """The shipped hooks plus the test hooks, as one folder."""
    d = ctx.dir / "hooks"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(SHIPPED_HOOKS, d)
    for rel, text in TEST_HOOKS.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
        os.chmod(d / rel, 0o755)
    return d


def hook_disk(ctx: Context) -> Path:
    """Slot a is rejected by the test hook, recovery boots."""
    return ctx.disk({"a": ctx.image(slot_id="BAD"), "recovery": ctx.image(slot_id="R")})


def expect_hook_story(ctx: Context, r: BootResult, what: str) -> None:
    ctx.expect_pass(r, what)
    lines = r.section("hooklog").strip().splitlines()
    want = ["pre-mount 05-record slot=a", "pre-mount 05-record slot=recovery",
            "pre-pivot 05-record slot=recovery", "pre-pivot 90-fail slot=recovery",
            "pre-pivot 95-record slot=recovery"]
    got = [" ".join(l.split()[:3]) for l in lines]
    ctx.expect(got == want, f"{what}: hooks ran as {got}, expected {want}")
    env = lines[1]
    for part in ["root=/sysroot", "persist=/run/imageinit/persist", "degraded=0"]:
        ctx.expect(part in env, f"{what}: hook environment lacks {part}: {env}")
    ctx.expect("tmp-mounted=0" in lines[1], f"{what}: pre-mount ran after the mounts: {lines[1]}")
    ctx.expect("tmp-mounted=1" in lines[2], f"{what}: pre-pivot ran before the mounts: {lines[2]}")
    report = r.boot_json()
    ctx.expect(report is not None, f"{what}: no parsable boot.json")
    text = json.dumps(report)
    ctx.expect("rejected the slot" in text and "pre-mount" in text,
               f"{what}: boot.json has no fallback from slot a at pre-mount: {text[:600]}")
    ctx.expect("90-fail (slot recovery) failed: exit status 3" in text,
               f"{what}: boot.json has no warning for the failing hook")
    ctx.expect("recovery" in json_values(report, "slot"), f"{what}: boot.json slot: {text[:300]}")


@scenario("hooks-minimal-initramfs")
def hooks_minimal_initramfs(ctx):
    """Minimal initramfs --with-shell --hooks --install resize2fs: order, environment, reject
    and failure policy; machine-id kept across a reboot; the persistent ext4 grown once."""
    hooks = hooks_dir(ctx)
    initrd = images.build_initrd(ctx.binary, ctx.kernel, host.WORK / "initrd-hooks.img",
                                 ["--with-shell", "--hooks", str(hooks), "--install", "resize2fs"])
    ctx.initrd = initrd
    disk = hook_disk(ctx)
    shrink_persist(disk, 16 * host.MiB)
    r = ctx.boot(disk, HOOK_CHECKS + "finish\n")
    expect_hook_story(ctx, r, "boot 1")
    kib = int(r.log.split("TEST: persist-kib ")[1].split()[0])
    ctx.expect(kib > 40000, f"persistent filesystem not grown: {kib} KiB")
    first_id = r.log.split("TEST: machine-id ")[1].split()[0]
    r = ctx.boot(disk, "echo \"TEST: machine-id $(cat /etc/machine-id)\"\nfinish\n")
    ctx.expect_pass(r, "boot 2")
    again = r.log.split("TEST: machine-id ")[1].split()[0]
    ctx.expect(again == first_id, f"machine-id changed across boots: {first_id} -> {again}")


def shrink_persist(disk: Path, size: int) -> None:
    """Replace partition 2 (persist) by a SIZE ext4: a factory image smaller than its partition."""
    start = disks.partitions(disk)[1]["start"] * 512
    with tempfile.TemporaryDirectory(dir=disk.parent) as tmp:
        img = Path(tmp) / "p.ext4"
        disks.mkfs_ext4_dir(img, "PERSIST", None, size)
        host.run(["dd", f"if={img}", f"of={disk}", "bs=1M", f"seek={start // host.MiB}",
                  "conv=notrunc", "status=none"])


def signed_hook_disk(ctx: Context) -> Path:
    """hook_disk with signed slots for an initramfs that trusts `vendor` (issue 18): a (signed,
    rejected by the hook), b (proven, verity but unsigned: refused by its signature before any
    hook runs), recovery (signed) boots."""
    files = {**verity_slot(ctx, "BAD", "a", "vendor"), **verity_slot(ctx, "B", "b", None),
             **verity_slot(ctx, "R", "recovery", "vendor"), **record_files(ctx)}
    slots = {n: ctx.dir / f"{n}.img" for n in ("a", "b", "recovery")}
    return disks.build_disk(ctx.dir / "disk.img", slots, state_files=files)


def dracut_boot(ctx: Context, systemd: bool) -> None:
    """The hook story, in an initramfs whose dracut.conf trusts a certificate: PID 1 in dracut
    mode refuses the unsigned slot b as the minimal initramfs does."""
    hooks = hooks_dir(ctx)
    ctx.initrd = images.build_dracut_initrd(ctx.binary, ctx.kernel, hooks, systemd,
                                             trust=cert("vendor")[1])
    disk = signed_hook_disk(ctx)
    script = HOOK_CHECKS + "check trust-published test -s /run/imageinit/trust.pem\nfinish\n"
    r = ctx.boot(disk, script, timeout=180, append="root=imageinit rd.shell=0 rd.emergency=reboot")
    what = "systemd dracut" if systemd else "dracut without systemd"
    expect_hook_story(ctx, r, what)
    for line in ("signature of slot b's root hash: missing", "root hash signed by '/CN=vendor'"):
        ctx.expect(line in r.log, f"{what}: the boot log does not say \"{line}\"")


@scenario("dracut-systemd")
def dracut_systemd(ctx):
    dracut_boot(ctx, systemd=True)


@scenario("dracut-no-systemd")
def dracut_no_systemd(ctx):
    dracut_boot(ctx, systemd=False)


# Lines that only a shell on the console prints (dracut's debug shell, systemd's emergency mode
# with sulogin). None may appear after a total failure (issue 19, item 8).
SHELL_PROMPTS = ("Entering emergency mode", "Press Enter for maintenance",
                 "Give root password", "Dropping to debug shell", "sulogin", ":/# ")


def dracut_total_failure(ctx: Context, systemd: bool) -> None:
    """No bootable slot (a's image has no init) with only root=imageinit on the command line:
    dracut reboots by itself (QEMU exits through -no-reboot), no shell, no kernel panic."""
    hooks = hooks_dir(ctx)
    ctx.initrd = images.build_dracut_initrd(ctx.binary, ctx.kernel, hooks, systemd)
    disk = ctx.disk({"a": ctx.image(slot_id="A", broken_init=True)})
    r = ctx.boot(disk, "finish\n", timeout=240, append="root=imageinit")
    what = "systemd dracut" if systemd else "dracut without systemd"
    ctx.expect_failed_boot(r, what)
    ctx.expect("no init in the image" in r.log, f"{what}: imageinit's failure is not logged")
    shell = [p for p in SHELL_PROMPTS if p in r.log]
    ctx.expect(not shell, f"{what}: a shell was offered on the console: {shell}")
    if not systemd:
        ctx.expect("imageinit: no bootable slot and no shell" in r.log,
                   f"{what}: the module's emergency hook did not reboot")


@scenario("dracut-systemd-failure-reboots")
def dracut_systemd_failure_reboots(ctx):
    dracut_total_failure(ctx, systemd=True)


@scenario("dracut-no-systemd-failure-reboots")
def dracut_no_systemd_failure_reboots(ctx):
    dracut_total_failure(ctx, systemd=False)
