"""QEMU scenarios of issue 3: A/B slots with boot counting, same-boot fallback, the recovery
slot, the emergency policy, labels on several disks, partition slots, a forced slot,
slot-scoped persistent configuration, and power cuts.

Registered into testkit.SCENARIOS (qemu/catalog.py imports this module). Every
scenario asserts specific markers: the slot-id of the image that booted, boot.json, the
serial log, and the record as `imageinit status --json` prints it inside the guest (or as
debugfs reads it from the state partition on the host).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import disks
import host
import images
import power_cut
from testkit import (ab_boot, expect_booted, expect_log, expect_status, journal_has, scenario,
                     slot_health)

# ---------------------------------------------------------------------------------------------
# Helpers


def zeroed_copy(src: Path, out: Path) -> Path:
    """A file of zeros as long as src: an image that is "not a filesystem"."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        f.truncate(src.stat().st_size)
    return out


def truncated_copy(src: Path, out: Path, keep: float = 0.5) -> Path:
    """The first part of src: a squashfs whose superblock promises more than the file holds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    out.write_bytes(data[:int(len(data) * keep) // 4096 * 4096])
    return out


# ---------------------------------------------------------------------------------------------
# Install, try, confirm


@scenario("ab-install-mark-good")
def ab_install_mark_good(ctx):
    """A installs B from inside the guest; the reboot tries B (one try counted); mark-good
    makes B good and primary."""
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    b_img = ctx.image(slot_id="B")
    r = ab_boot(ctx, disk, """
check on-a slot_is a
check mark-good-a imageinit mark-good
check install-b imageinit install /run/testctl/b.img --tries 3
check b-written test -f /run/imageinit/state/slots/b.img
check no-tmp-left test ! -e /run/imageinit/state/slots/b.img.new
status_json after-install
finish
""", files={"b.img": b_img})
    expect_booted(ctx, r, "a", "A", "boot 1 (A)")
    st = expect_status(ctx, r, "after-install")
    ctx.expect(st.get("primary") == "b", f"after install, primary is {st.get('primary')}, not b")
    ctx.expect(slot_health(st, "b")[:2] == ("trying", 3),
               f"after install, b is {slot_health(st, 'b')}, expected trying with 3 tries")
    ctx.expect(slot_health(st, "a")[0] == "good", "after install, a is not good")

    r = ab_boot(ctx, disk, """
status_json before
check on-b slot_is b
check mark-good-b imageinit mark-good
status_json after
status_text
finish
""")
    report = expect_booted(ctx, r, "b", "B", "boot 2 (B)")
    ctx.expect("trying" in report.get("why", ""),
               f"boot.json does not say b was booted as trying: why={report.get('why')!r}")
    expect_log(ctx, r, r"imageinit: trying slot b \(primary, trying", "boot 2")
    st = expect_status(ctx, r, "before")
    ctx.expect(slot_health(st, "b")[:2] == ("trying", 2),
               f"before mark-good, b is {slot_health(st, 'b')}, expected trying with 2 left")
    st = expect_status(ctx, r, "after")
    ctx.expect(st.get("running") == "b" and st.get("primary") == "b",
               f"after mark-good: running {st.get('running')}, primary {st.get('primary')}")
    ctx.expect(slot_health(st, "b")[0] == "good", f"after mark-good, b is {slot_health(st, 'b')}")
    ctx.expect(slot_health(st, "a")[0] == "good", "after mark-good, a is no longer good")
    rec = disks.host_record(disk)
    ctx.expect("primary b\n" in rec and "slot b good\n" in rec,
               f"the record on the state partition does not say b good and primary:\n{rec}")


@scenario("ab-never-good")
def ab_never_good(ctx):
    """B installed with 2 tries is never marked good: two boots of B, then the third boot is
    back on A and `status` says why (journal: "boot attempts exhausted")."""
    tries = 2
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    r = ab_boot(ctx, disk, f"""
check install-b imageinit install /run/testctl/b.img --tries {tries}
finish
""", files={"b.img": ctx.image(slot_id="B")})
    expect_booted(ctx, r, "a", "A", "boot 1 (A installs B)")
    for n in range(tries):
        r = ab_boot(ctx, disk, "status_json s\nfinish\n")
        expect_booted(ctx, r, "b", "B", f"try {n + 1} of B")
        st = expect_status(ctx, r, "s")
        ctx.expect(slot_health(st, "b")[:2] == ("trying", tries - n - 1),
                   f"try {n + 1}: b is {slot_health(st, 'b')}, expected trying with "
                   f"{tries - n - 1} left")
    r = ab_boot(ctx, disk, "status_json s\nstatus_text\nfinish\n")
    expect_booted(ctx, r, "a", "A", f"boot {tries + 2} (tries used up)")
    expect_log(ctx, r, r"skipping slot b: .*boot attempts exhausted", "exhausted boot")
    st = expect_status(ctx, r, "s")
    ctx.expect(slot_health(st, "b") == ("bad", 0, "boot attempts exhausted"),
               f"b is {slot_health(st, 'b')}, expected bad: boot attempts exhausted")
    ctx.expect(journal_has(st, "b", "exhausted", "boot attempts exhausted"),
               f"the journal has no 'exhausted' entry for b: {st.get('journal')}")
    text = r.section("status-text")
    ctx.expect("boot attempts exhausted" in text, f"`imageinit status` does not say why:\n{text}")
    # The primary stays b (bad): the record says the update failed; the next boots go to a.
    ctx.expect(st.get("running") == "a", f"status says running {st.get('running')}")


# ---------------------------------------------------------------------------------------------
# Same-boot fallback


@scenario("ab-corrupt-fallback")
def ab_corrupt_fallback(ctx):
    """B installed, then zeroed (boot 2) or truncated (boot 3) on the state partition: the
    same boot falls back to A, and the journal says why."""
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    b_img = ctx.image(slot_id="B")
    b = "/run/imageinit/state/slots/b.img"
    damage = {"zeroed": f"dd if=/dev/zero of={b} bs=64k count=64 conv=notrunc 2>/dev/null",
              "truncated": f"truncate -s $(( $(stat -c %s {b}) / 2 / 4096 * 4096 )) {b}"}
    # What the failure reason must say for each kind of damage.
    why = {"zeroed": r"mount-image: .*no filesystem found",
           "truncated": r"mount-image: mount .*(Invalid argument|Input/output error)"}
    install_and = "check install-b imageinit install /run/testctl/b.img --tries 3\n" \
                  "check damage-b sh -c '{}'\nsync\n"
    r = ab_boot(ctx, disk, install_and.format(damage["zeroed"]) + "finish\n",
             files={"b.img": b_img})
    expect_booted(ctx, r, "a", "A", "boot 1 (A installs B, zeroes it)")
    for kind, then in (("zeroed", install_and.format(damage["truncated"])), ("truncated", "")):
        r = ab_boot(ctx, disk, "status_json s\nstatus_text\n" + then + "finish\n",
                 files={"b.img": b_img} if then else None)
        report = expect_booted(ctx, r, "a", "A", f"boot after B was {kind}")
        line = expect_log(ctx, r, r"imageinit: slot b failed, falling back", f"{kind} B")
        expect_log(ctx, r, r"imageinit: trying slot b \(primary, trying", f"{kind} B")
        fbs = report.get("fallbacks", [])
        ctx.expect(any(f.get("slot") == "b" for f in fbs),
                   f"boot.json lists no fallback from b: {fbs}")
        st = expect_status(ctx, r, "s")
        health, _, reason = slot_health(st, "b")
        ctx.expect(health == "bad", f"{kind} b is {health}, not bad")
        ctx.expect(re.search(why[kind], reason),
                   f"{kind} b: reason {reason!r} does not say why (console: {line})")
        ctx.expect(journal_has(st, "b", "failed", why[kind]),
                   f"{kind} b: the journal has no matching 'failed' entry: {st.get('journal')}")
        ctx.expect(journal_has(st, "a", "attempt"), "the journal has no attempt of a")


@scenario("ab-bad-spec-fallback")
def ab_bad_spec_fallback(ctx):
    """B's image carries a malformed mount spec: install refuses it (lint), so it is put in
    place behind install's back; the next boot fails B at read-spec with "fstab:3:" and
    falls back to A in the same boot."""
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    files = {"b.img": ctx.image(slot_id="B"),
             "bad.img": ctx.image(slot_id="B", spec=images.BAD_SPEC)}
    r = ab_boot(ctx, disk, """
check install-refuses-bad-spec not imageinit install /run/testctl/bad.img
check install-b imageinit install /run/testctl/b.img --tries 3
cp /run/testctl/bad.img /run/imageinit/state/slots/b.tmp
mv /run/imageinit/state/slots/b.tmp /run/imageinit/state/slots/b.img
sync
finish
""", files=files)
    expect_booted(ctx, r, "a", "A", "boot 1")
    expect_log(ctx, r, r"failed the check; nothing was written", "install of a bad spec")
    r = ab_boot(ctx, disk, "status_json s\nfinish\n")
    report = expect_booted(ctx, r, "a", "A", "boot after the bad-spec B")
    expect_log(ctx, r, rf"slot b failed, falling back: .*fstab:{images.BAD_SPEC_LINE}:", "bad spec")
    st = expect_status(ctx, r, "s")
    health, _, reason = slot_health(st, "b")
    ctx.expect(health == "bad" and f"fstab:{images.BAD_SPEC_LINE}:" in reason,
               f"b is {health}: {reason!r}, expected bad with fstab:{images.BAD_SPEC_LINE}:")
    ctx.expect(journal_has(st, "b", "failed", r"read-spec"),
               f"the journal does not name the read-spec step: {st.get('journal')}")
    ctx.expect(any(f.get("step") == "read-spec" for f in report.get("fallbacks", [])),
               f"boot.json fallbacks: {report.get('fallbacks')}")


@scenario("ab-recovery")
def ab_recovery(ctx):
    """B installed (trying, primary), then both B and A replaced by zeros on the state
    partition: the next boot fails B, then A, then boots slots/recovery.img."""
    a_img = ctx.image(slot_id="A")
    disk = ctx.disk({"a": a_img, "recovery": ctx.image(slot_id="R")})
    zero = zeroed_copy(a_img, ctx.dir / "zero.img")
    r = ab_boot(ctx, disk, """
check install-b imageinit install /run/testctl/b.img --tries 3
for s in a b; do
    cp /run/testctl/zero.img /run/imageinit/state/slots/$s.tmp
    mv /run/imageinit/state/slots/$s.tmp /run/imageinit/state/slots/$s.img
done
sync
finish
""", files={"b.img": ctx.image(slot_id="B"), "zero.img": zero})
    expect_booted(ctx, r, "a", "A", "boot 1")
    r = ab_boot(ctx, disk, "status_json s\nstatus_text\nfinish\n")
    report = expect_booted(ctx, r, "recovery", "R", "boot with A and B broken")
    failed = [f.get("slot") for f in report.get("fallbacks", [])]
    ctx.expect(failed == ["b", "a"], f"expected fallbacks from b then a, got {failed}")
    ctx.expect(not report.get("last_resort"), "recovery was booted as a last resort")
    st = expect_status(ctx, r, "s")
    ctx.expect(st.get("running") == "recovery", f"status: running {st.get('running')}")
    for s in ("a", "b"):
        ctx.expect(slot_health(st, s)[0] == "bad", f"{s} is {slot_health(st, s)}, not bad")
        ctx.expect(journal_has(st, s, "failed"), f"no 'failed' journal entry for {s}")


@scenario("ab-none-bootable")
def ab_none_bootable(ctx):
    """A zeroed, B truncated, no recovery: every slot fails (B only as a last resort), a
    summary line says so, and imageinit reboots: QEMU exits by itself (-no-reboot)."""
    a_img = ctx.image(slot_id="A")
    disk = ctx.disk({"a": zeroed_copy(a_img, ctx.dir / "a-zero.img"),
                     "b": truncated_copy(ctx.image(slot_id="B"), ctx.dir / "b-trunc.img")})
    # The kernel's default /dev/kmsg rate limit: the summary must still reach the kernel log.
    r = ab_boot(ctx, disk, "finish\n", timeout=90, devkmsg_on=False)
    ctx.expect_failed_boot(r, "nothing bootable")
    summary = expect_log(ctx, r, r"imageinit: BOOT FAILED: ", "emergency policy")
    expect_log(ctx, r, r"^\[\s*\d+\.\d+\] imageinit: BOOT FAILED: ", "the kernel log (not only the "
               "console)")
    for s in ("a", "b"):
        ctx.expect(f"slot {s} failed at" in summary, f"the summary does not name slot {s}: "
                                                    f"{summary}")
    expect_log(ctx, r, r"last resort", "emergency policy")
    expect_log(ctx, r, r"imageinit: rebooting in \d+ seconds", "emergency policy")
    # -no-reboot: the guest's reboot makes QEMU exit 0; the harness's timeout would give 124.
    ctx.expect(r.rc == 0 and not r.timed_out,
               f"QEMU did not exit by itself after the reboot (exit {r.rc}, {r.seconds:.0f} s)")
    # The failures are durable: the record on the state partition says both are bad.
    rec = disks.host_record(disk)
    ctx.expect(re.search(r"^slot a bad ", rec, re.M) and re.search(r"^slot b bad ", rec, re.M),
               f"the record does not mark a and b bad:\n{rec}")


# ---------------------------------------------------------------------------------------------
# Devices


@scenario("ab-persist-label-twice")
def ab_persist_label_twice(ctx):
    """A second disk (a "USB stick") also carries LABEL=PERSIST: the partition on the state
    partition's disk is used and the warning names the other device."""
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    stick_content = ctx.dir / "stick"
    (stick_content / "shared").mkdir(parents=True, exist_ok=True)
    (stick_content / "STICK").write_text("usb stick\n")
    stick = ctx.dir / "stick.img"
    disks.mkfs_ext4_dir(stick, "PERSIST", stick_content, 16 * host.MiB)
    # vda = boot disk, vdb = control disk, vdc = the stick
    r = ab_boot(ctx, disk, """
check persist-from-boot-disk test "$(awk '$2 == "/run/imageinit/persist" {print $1}' /proc/mounts)" = /dev/vda2
check not-the-stick test ! -e /run/imageinit/persist/STICK
check devkmsg-default-restored file_is /proc/sys/kernel/printk_devkmsg ratelimit
finish
""", extra_disks=(stick,), devkmsg_on=False)
    report = expect_booted(ctx, r, "a", "A", "boot with two PERSIST labels")
    line = expect_log(ctx, r, r"'LABEL=PERSIST' also matches", "two PERSIST labels")
    ctx.expect("/dev/vdc" in line and "using /dev/vda2" in line,
               f"the warning does not name the stick and the chosen partition: {line}")
    ctx.expect(any("/dev/vdc" in w for w in report.get("warnings", [])),
               "boot.json warnings do not name the stick")
    ctx.expect(not report.get("degraded"), "boot is degraded")


@scenario("ab-partition-slots")
def ab_partition_slots(ctx):
    """Slots on partitions (PARTLABEL=root-a / root-b), the record still on the state
    partition; then imageinit.slot=b forces B without counting a try."""
    a_img, b_img = ctx.image(slot_id="A"), ctx.image(slot_id="B")
    state = ctx.dir / "state.ext4"
    persist = ctx.dir / "persist.ext4"
    disks.mkfs_ext4_dir(state, "STATE", None, 16 * host.MiB)
    disks.mkfs_ext4_dir(persist, "PERSIST", None, 32 * host.MiB)
    disk = disks.gpt_disk(ctx.dir / "disk.img", [("state", state), ("persist", persist),
                                                 ("root-a", a_img), ("root-b", b_img)])
    slots = "imageinit.slot.a=PARTLABEL=root-a imageinit.slot.b=PARTLABEL=root-b"
    r = ab_boot(ctx, disk, """
check no-slot-files test ! -e /run/imageinit/state/slots/a.img
check mark-good imageinit mark-good
check install-to-partition-refused not imageinit install /run/testctl/b.img
status_json s
finish
""", append=slots, files={"b.img": b_img})
    report = expect_booted(ctx, r, "a", "A", "partition slot a")
    ctx.expect(report.get("image") == "/dev/vda3",
               f"boot.json image is {report.get('image')!r}, expected /dev/vda3 (root-a)")
    expect_log(ctx, r, r"writing partition slots is not supported", "install to a partition")
    st = expect_status(ctx, r, "s")
    ctx.expect(slot_health(st, "b")[0] is None, f"refused install touched b: {st['slots']}")

    r = ab_boot(ctx, disk, "status_json s\nfinish\n", append=f"{slots} imageinit.slot=b")
    report = expect_booted(ctx, r, "b", "B", "forced slot b")
    ctx.expect(report.get("image") == "/dev/vda4", f"image {report.get('image')!r}, not vda4")
    ctx.expect("forced" in report.get("why", ""), f"why: {report.get('why')!r}")
    st = expect_status(ctx, r, "s")
    ctx.expect(st.get("primary") == "a", f"forcing b changed the primary to {st.get('primary')}")
    ctx.expect("b" not in st.get("slots", {}), f"forcing b recorded a state for it: {st}")

    r = ab_boot(ctx, disk, "finish\n", append=slots)
    expect_booted(ctx, r, "a", "A", "unforced boot after the forced one")


# ---------------------------------------------------------------------------------------------
# Slot-scoped persistent configuration


@scenario("ab-slot-scope")
def ab_slot_scope(ctx):
    """x-imageinit.scope=slot: A's configuration is copied for B at install time; B's own
    change stays with B; after B fails (1 try, never marked good) A has its own version."""
    conf = "/var/lib/slotconf/conf.txt"
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    r = ab_boot(ctx, disk, f"""
echo "configured on A" > {conf}
check install-b imageinit install /run/testctl/b.img --tries 1
check seeded-on-persist file_is /run/imageinit/persist/slots/b{conf} "configured on A"
finish
""", files={"b.img": ctx.image(slot_id="B")})
    expect_booted(ctx, r, "a", "A", "boot 1 (A)")
    expect_log(ctx, r, r"seeded 1 slot-scoped persistent path", "install")
    r = ab_boot(ctx, disk, f"""
check b-sees-a-version file_is {conf} "configured on A"
echo "changed on B" > {conf}
check a-copy-untouched file_is /run/imageinit/persist/slots/a{conf} "configured on A"
finish
""")
    expect_booted(ctx, r, "b", "B", "boot 2 (B, trying)")
    r = ab_boot(ctx, disk, f"""
check a-has-its-own file_is {conf} "configured on A"
check b-copy-kept file_is /run/imageinit/persist/slots/b{conf} "changed on B"
finish
""")
    expect_booted(ctx, r, "a", "A", "boot 3 (B exhausted: back on A)")


# ---------------------------------------------------------------------------------------------
# Power cuts


@scenario("ab-power-cut")
def ab_power_cut(ctx):
    """10 random power cuts (during boot and during install), each followed by a clean boot
    that must come up on a or b with a decodable record and an intact sentinel tree."""
    camp = power_cut.Campaign(ctx.kernel, ctx.initrd, ctx.binary, ctx.dir,
                              iterations=int(os.environ.get("IMAGEINIT_POWER_CUTS", "10")),
                              seed=int(os.environ.get("IMAGEINIT_POWER_CUT_SEED", "1")),
                              say=lambda s: None, results=ctx.boots)
    summary = camp.run()
    (ctx.dir / "summary.txt").write_text(summary + "\n")
    ctx.expect(not camp.failures, "; ".join(camp.failures[:3]) + f" — {summary}")
