"""QEMU scenarios for the factory reset (issue 16 part 3, docs/device-boot.md "Factory reset").
Registered into testkit.SCENARIOS (qemu/catalog.py imports this module).

The disks are inspected on the host after each boot without mounting anything: the state
partition's files with debugfs (slot image digest, record, request, persist.key), the LUKS2
persistent partition's keys with `cryptsetup open --test-passphrase` (no device-mapper needed)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
from pathlib import Path

import host
from disks import build_disk, copy_partition, state_file
from integrity_images import (MACHINE_KEY, PERSIST_CHECKS, dm_initrd, luks_partition,
                              record_files, unlock_ms)
from testkit import DEVKMSG_ON, scenario
from vm import BootResult

REQUEST = "imageinit/reset-request"


def state_mode(state: Path, rel: str) -> int | None:
    r = host.run(["debugfs", "-R", f"stat /{rel}", state])
    m = re.search(r"Mode:\s+([0-7]+)", r.stdout)
    return int(m.group(1), 8) if m else None


class DiskView:
    """What a boot left on the disk: the state partition's slot image, record and request."""

    def __init__(self, ctx, disk: Path, tag: str):
        self.state = copy_partition(disk, 1, ctx.dir / f"state-{tag}.ext4")
        # After a power cut the latest changes may sit in the ext4 journal only (the guest's
        # fsyncs committed them there); debugfs does not replay it, e2fsck does (on the copy).
        subprocess.run(["e2fsck", "-y", "-E", "journal_only", str(self.state)],
                       capture_output=True)
        self.slot_digest = hashlib.sha256(state_file(self.state, "slots/a.img") or b"").hexdigest()
        record = (state_file(self.state, "imageinit/state") or b"").decode(errors="replace")
        # The slots and the primary; the boot counter and the journal change every boot.
        self.slots = [l for l in record.splitlines() if l.startswith(("primary ", "slot "))]
        self.journal = [l for l in record.splitlines() if l.startswith("journal ")]
        self.request = state_file(self.state, REQUEST)


def expect_slots_kept(ctx, before: DiskView, after: DiskView) -> None:
    ctx.expect(after.slot_digest == before.slot_digest, "slots/a.img changed across the reset")
    ctx.expect(after.slots and after.slots == before.slots,
               f"the record's slots changed: {before.slots} -> {after.slots}")


def expect_reset_logged(ctx, r: BootResult, view: DiskView, kind: str) -> None:
    ctx.expect(re.search(rf"factory reset of PERSIST /dev/vda2 \({kind}\)", r.log) is not None,
               "no 'factory reset of PERSIST' line in the boot log")
    ctx.expect("factory reset of PERSIST" in json.dumps(r.boot_json() or {}),
               "boot.json does not mention the factory reset")
    ctx.expect(any("factory reset of PERSIST" in l for l in view.journal),
               "the record's journal does not mention the factory reset")
    ctx.expect(view.request is None, "the reset request is still on the state partition")


@scenario("reset-persist-ext4")
def reset_persist_ext4(ctx):
    """`imageinit reset` (+ --cancel), a reboot: the persistent data is gone, slots and record
    stay; then imageinit.reset=persist on the command line does the same for one boot."""
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
echo before-reset > /var/lib/test/kept.txt
echo persisted > /srv/new.txt
check reset-says-what imageinit reset
check reset-cancel imageinit reset --cancel
check request-cancelled not test -e /run/imageinit/state/imageinit/reset-request
check reset-again sh -c "imageinit reset | grep -q 'recreated empty'"
check request-written test -f /run/imageinit/state/imageinit/reset-request
finish
""")
    ctx.expect_pass(r, "boot 1 (request)")
    before = DiskView(ctx, disk, "1")
    ctx.expect(before.request == b"imageinit-reset-request 1\n", f"request: {before.request!r}")

    r = ctx.boot(disk, """
check persist-mounted is_mounted /run/imageinit/persist
check bind-data-gone not test -e /var/lib/test/kept.txt
check overlay-data-gone not test -e /srv/new.txt
check overlay-lower-back file_is /srv/from-image.txt "lower layer from image"
check status-journal sh -c "imageinit status | grep -q 'factory reset of PERSIST'"
echo after-reset > /var/lib/test/kept.txt
finish
""")
    ctx.expect_pass(r, "boot 2 (reset)")
    after = DiskView(ctx, disk, "2")
    expect_slots_kept(ctx, before, after)
    expect_reset_logged(ctx, r, after, "ext4")

    r = ctx.boot(disk, """
check cmdline-reset not test -e /var/lib/test/kept.txt
finish
""", append="imageinit.reset=persist")
    ctx.expect_pass(r, "boot 3 (imageinit.reset=persist)")
    expect_reset_logged(ctx, r, DiskView(ctx, disk, "3"), "ext4")


def key_opens(part: Path, key: bytes, tmp: Path) -> bool:
    kf = tmp / "try.key"
    kf.write_bytes(key)
    return subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-file", str(kf),
                           str(part)], capture_output=True).returncode == 0


@scenario("reset-persist-luks-power-cut")
def reset_persist_luks_power_cut(ctx):
    """LUKS2 PERSIST: `imageinit reset`, then a boot cut (QEMU killed) while the reset formats
    the partition, then a clean boot: the reset is completed, PERSIST is usable with the new key
    from STATE/imageinit/persist.key, the old machine key opens nothing, slots and record stay."""
    part = luks_partition(ctx, "persist", key=MACHINE_KEY)
    disk = build_disk(ctx.dir / "disk.img", {"a": ctx.image()}, persist=part,
                      state_files=record_files(ctx))
    initrd = dm_initrd(ctx, MACHINE_KEY)
    r = ctx.boot(disk, PERSIST_CHECKS + """
echo before-reset > /var/lib/test/kept.txt
check reset imageinit reset
finish
""", initrd=initrd, timeout=120)
    ctx.expect_pass(r, "boot 1 (request)")
    before = DiskView(ctx, disk, "1")

    # The power cut: as soon as the step begins formatting (its log line), QEMU is killed.
    r = ctx.boot(disk, "finish\n", append=DEVKMSG_ON, timeout=120, initrd=initrd,
                 cut_at=("reset-persist: luks-format", 0.0))
    ctx.expect(r.killed, "boot 2 was never cut (no 'reset-persist: luks-format' line?)")
    cut = DiskView(ctx, disk, "2")
    ctx.expect(cut.request is not None and b"started luks2" in cut.request,
               f"after the cut the request should record the begun reset: {cut.request!r}")

    r = ctx.boot(disk, PERSIST_CHECKS + """
check data-gone not test -e /var/lib/test/kept.txt
echo after-reset > /var/lib/test/kept.txt
check persist-writable file_is /var/lib/test/kept.txt after-reset
finish
""", initrd=initrd, timeout=120)
    ctx.expect_pass(r, "boot 3 (resumed reset)")
    after = DiskView(ctx, disk, "3")
    expect_slots_kept(ctx, before, after)
    expect_reset_logged(ctx, r, after, "luks2")
    ctx.expect("resuming a reset a power cut interrupted" in r.log, "the reset was not resumed")
    u = unlock_ms(r.log)
    ctx.expect(u is not None and u[0].startswith("state key imageinit/persist.key"),
               f"PERSIST was not unlocked by the per-device key: {u}")
    key = state_file(after.state, "imageinit/persist.key")
    ctx.expect(key is not None and len(key) == 64, "no 64-byte imageinit/persist.key")
    ctx.expect(state_mode(after.state, "imageinit/persist.key") == 0o400,
               "imageinit/persist.key is not mode 0400")
    with tempfile.TemporaryDirectory(dir=ctx.dir) as tmp:
        tmp = Path(tmp)
        p = copy_partition(disk, 2, tmp / "persist.luks")
        ctx.expect(not key_opens(p, MACHINE_KEY, tmp), "the old machine key still opens PERSIST")
        ctx.expect(key_opens(p, key, tmp), "imageinit/persist.key does not open PERSIST")
    print(f"  reset-persist-luks-power-cut: boots {', '.join(f'{b.seconds:.1f}' for b in ctx.boots)} s",
          flush=True)
