"""The basic QEMU boot scenarios: each image format boots, temporary and persistent paths,
module options, failures inside the initramfs, a late or missing state device, the demo's update
story. Each is one function taking a testkit.Context; it fails by raising ScenarioFailure
(ctx.expect...). Each asserts on specific markers, so each can fail.

A boot's test steps are a run.sh on the control disk (see GUEST_PRELUDE in guest_script.py:
`check NAME CMD...`, `file_is`, `is_mounted`, `fstype_of`, `finish`). A "reboot" is another
QEMU run on the same disk file with a new control disk.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import demo_story
import host
import images
import vm
from guest_script import BASIC_CHECKS
from testkit import Context, json_values, scenario


def root_fstype(r: vm.BootResult) -> str | None:
    roots = [m for m in r.mounts() if len(m) > 2 and m[1] == "/"]
    return roots[-1][2] if roots else None


# ---------------------------------------------------------------------------------------------
# Each image format boots


def boot_format(ctx: Context, fmt: str) -> None:
    disk = ctx.disk({"a": ctx.image(fmt=fmt, slot_id="A")})
    r = ctx.boot(disk, BASIC_CHECKS + """
check slot-id file_is /etc/slot-id A
check persist-mounted is_mounted /run/imageinit/persist
finish
""")
    ctx.expect_pass(r)
    ctx.expect(root_fstype(r) == fmt, f"root is {root_fstype(r)!r}, expected {fmt!r}")
    report = r.boot_json()
    ctx.expect(report is not None, "no parsable /run/imageinit/boot.json")
    ctx.expect("a" in json_values(report, "slot"), f"boot.json does not name slot a: {report}")


@scenario("boot-erofs")
def boot_erofs(ctx):
    boot_format(ctx, "erofs")


@scenario("boot-squashfs")
def boot_squashfs(ctx):
    boot_format(ctx, "squashfs")


@scenario("boot-ext4")
def boot_ext4(ctx):
    boot_format(ctx, "ext4")


@scenario("no-spec-boots")
def no_spec_boots(ctx):
    """An image without /etc/imageinit/fstab boots with the default spec."""
    disk = ctx.disk({"a": ctx.image(slot_id="A", spec=None)})
    r = ctx.boot(disk, BASIC_CHECKS + """
check slot-id file_is /etc/slot-id A
check no-spec-in-image test ! -e /etc/imageinit/fstab
finish
""")
    ctx.expect_pass(r)


# ---------------------------------------------------------------------------------------------
# Temporary paths reset at every boot


@scenario("tmpfs-reset")
def tmpfs_reset(ctx):
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
check tmp-is-tmpfs test "$(fstype_of /tmp)" = tmpfs
check tmp-empty test -z "$(ls -A /tmp)"
echo boot1 > /tmp/marker
check tmp-writable file_is /tmp/marker boot1
finish
""")
    ctx.expect_pass(r, "boot 1")
    r = ctx.boot(disk, """
check tmp-is-tmpfs test "$(fstype_of /tmp)" = tmpfs
check tmp-empty-again test ! -e /tmp/marker
finish
""")
    ctx.expect_pass(r, "boot 2")


@scenario("overlay-temporary-reset")
def overlay_temporary_reset(ctx):
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
check etc-is-overlay test "$(fstype_of /etc)" = overlay
check etc-shows-image file_is /etc/from-image.conf "image etc"
echo changed > /etc/from-image.conf
echo new > /etc/new.conf
check etc-writable file_is /etc/new.conf new
check etc-modified file_is /etc/from-image.conf changed
finish
""")
    ctx.expect_pass(r, "boot 1")
    r = ctx.boot(disk, """
check etc-is-overlay test "$(fstype_of /etc)" = overlay
check change-gone file_is /etc/from-image.conf "image etc"
check new-file-gone test ! -e /etc/new.conf
finish
""")
    ctx.expect_pass(r, "boot 2")


# ---------------------------------------------------------------------------------------------
# Persistent paths


@scenario("persistent-survives-reboot")
def persistent_survives_reboot(ctx):
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
check persist-mounted is_mounted /run/imageinit/persist
check persist-nodev opts_have /run/imageinit/persist nodev
check persist-nosuid opts_have /run/imageinit/persist nosuid
check bind-mounted is_mounted /var/lib/test
check srv-is-overlay test "$(fstype_of /srv)" = overlay
check srv-lower-visible file_is /srv/from-image.txt "lower layer from image"
echo data1 > /var/lib/test/written.txt
echo persisted > /srv/new.txt
echo modified > /srv/from-image.txt
check bind-on-persist file_is /run/imageinit/persist/shared/var/lib/test/written.txt data1
check overlay-upper-on-persist file_is /run/imageinit/persist/shared/srv/new.txt persisted
finish
""")
    ctx.expect_pass(r, "boot 1")
    r = ctx.boot(disk, """
check bind-kept file_is /var/lib/test/written.txt data1
check overlay-new-file-kept file_is /srv/new.txt persisted
check overlay-change-kept file_is /srv/from-image.txt modified
finish
""")
    ctx.expect_pass(r, "boot 2")


@scenario("persist-first-boot-seeding")
def persist_first_boot_seeding(ctx):
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
check seeded-from-image file_is /var/lib/test/seeded.txt "seed from image"
check seed-on-persist file_is /run/imageinit/persist/shared/var/lib/test/seeded.txt "seed from image"
check slot-scope-seeded file_is /var/lib/slotconf/conf.txt "default configuration"
check slot-scope-on-persist test -f /run/imageinit/persist/slots/a/var/lib/slotconf/conf.txt
check no-seed-leftovers test -z "$(ls -A /run/imageinit/persist/.seed 2>/dev/null)"
echo changed > /var/lib/test/seeded.txt
finish
""")
    ctx.expect_pass(r, "boot 1")
    r = ctx.boot(disk, """
check not-seeded-again file_is /var/lib/test/seeded.txt changed
finish
""")
    ctx.expect_pass(r, "boot 2")


@scenario("no-persist-degraded")
def no_persist_degraded(ctx):
    disk = ctx.disk({"a": ctx.image()}, persist=False)
    r = ctx.boot(disk, """
check persist-not-mounted not is_mounted /run/imageinit/persist
echo temp > /var/lib/test/x
check persistent-path-writable file_is /var/lib/test/x temp
check root-still-ro opts_have / ro
finish
""")
    ctx.expect_pass(r)
    report = r.boot_json()
    ctx.expect(report is not None, "no parsable boot.json")
    degraded = json_values(report, "degraded")
    ctx.expect(True in degraded or "degraded" in json_values(report, "status"),
               f"boot.json does not say degraded: {report}")


@scenario("persist-none-cmdline")
def persist_none_cmdline(ctx):
    """imageinit.persist=none: the PERSIST partition exists but is not used."""
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
check persist-not-mounted not is_mounted /run/imageinit/persist
echo temp > /var/lib/test/x
check persistent-path-writable file_is /var/lib/test/x temp
finish
""", append="imageinit.persist=none")
    ctx.expect_pass(r)


@scenario("module-options-cmdline")
def module_options_cmdline(ctx):
    """MODULE.PARAM=VALUE on the kernel command line reaches the module imageinit inserts, as
    with modprobe: loop.max_loop=3 (the default is 0) shows in sysfs in the booted system."""
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
check loop-option-applied file_is /sys/module/loop/parameters/max_loop 3
finish
""", append="loop.max_loop=3")
    ctx.expect_pass(r)


@scenario("compressed-modules-boot")
def compressed_modules_boot(ctx):
    """A kernel whose modules are xz-compressed (Debian from trixie on): mkinitrd stores them
    plain (the archive is compressed as a whole) and indexes the .ko paths; imageinit loads
    them. The tree is the test kernel's, every module the default initramfs carries xz'd."""
    src = Path(ctx.kernel.modroot) / "lib" / "modules" / ctx.kernel.kver
    root = ctx.dir / "xzmods"
    dst = root / "lib" / "modules" / ctx.kernel.kver
    shutil.rmtree(root, ignore_errors=True)
    listing = host.run(["sh", "-c", f"zstd -dc '{ctx.initrd}' | cpio -t --quiet"]).stdout.split()
    carried = [p.split(f"lib/modules/{ctx.kernel.kver}/", 1)[1] for p in listing
               if p.endswith(".ko")]
    ctx.expect(len(carried) > 10, f"the default initramfs carries {len(carried)} modules")
    for rel in carried:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        with open(dst / (rel + ".xz"), "wb") as out:
            subprocess.run(["xz", "-1", "-c", src / rel], stdout=out, check=True)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (src / f).exists():
            shutil.copy(src / f, dst / f)
    host.run(["depmod", "-b", root, ctx.kernel.kver])
    ctx.initrd = ctx.dir / "initrd-xz.img"
    ctx.initrd.unlink(missing_ok=True)
    host.run([host.REPO / "initrd" / "mkinitrd", "--kver", ctx.kernel.kver, "--moddir", root,
              "--binary", ctx.binary, "--output", ctx.initrd])
    inside = host.run(["sh", "-c", f"zstd -dc '{ctx.initrd}' | cpio -t --quiet"]).stdout.split()
    ctx.expect(not any(p.endswith((".xz", ".zst", ".gz")) for p in inside),
               "a compressed module file in the initramfs")
    ctx.expect(sum(p.endswith(".ko") for p in inside) == len(carried),
               "not every module made it into the initramfs")
    disk = ctx.disk({"a": ctx.image()})
    r = ctx.boot(disk, """
check ext4-loaded test -d /sys/module/ext4
check virtio-blk-loaded test -d /sys/module/virtio_blk
finish
""")
    ctx.expect_pass(r)


# ---------------------------------------------------------------------------------------------
# Failures inside the initramfs


@scenario("bad-spec-fails")
def bad_spec_fails(ctx):
    """Only slot a, and its spec has an error on line 3: the slot fails with "fstab:3: ...",
    no candidate is left, imageinit prints a summary and reboots (QEMU exits: -no-reboot)."""
    disk = ctx.disk({"a": ctx.image(spec=images.BAD_SPEC)})
    r = ctx.boot(disk, "finish\n", timeout=90)
    ctx.expect_failed_boot(r, "bad spec")
    lines = r.log.splitlines()
    at = next((i for i, l in enumerate(lines) if f"fstab:{images.BAD_SPEC_LINE}:" in l), None)
    ctx.expect(at is not None, f"no 'fstab:{images.BAD_SPEC_LINE}:' error on the console")
    ctx.expect(any("reboot: Restarting system" in l for l in lines[at:]),
               "no reboot after the failure summary (emergency policy without imageinit.shell)")


@scenario("persist-required-missing-fails")
def persist_required_missing_fails(ctx):
    """imageinit.persist.required and no PERSIST partition: no degraded boot, a failure."""
    disk = ctx.disk({"a": ctx.image()}, persist=False)
    r = ctx.boot(disk, "finish\n", append="imageinit.persist.required", timeout=90)
    ctx.expect_failed_boot(r, "persist required")
    # imageinit's own failure line; the kernel's echo of the command line ("Kernel command
    # line: ... imageinit.persist.required") must not count.
    ctx.expect(re.search(r"imageinit: step find-persist failed: persistent partition "
                         r"'LABEL=PERSIST' not found and imageinit\.persist\.required is set",
                         r.log),
               "no 'step find-persist failed: ... imageinit.persist.required is set' line")


@scenario("state-device-late")
def state_device_late(ctx):
    """The state disk is hot-plugged once imageinit says it waits for it: it must pick it up."""
    disk = ctx.disk({"a": ctx.image()})
    hp = vm.Hotplug(disk=disk)
    r = ctx.boot(None, """
check slot-id file_is /etc/slot-id A
finish
""", append="imageinit.timeout=30", hotplug=hp)
    ctx.expect(hp.done_at is not None, "the disk was never hot-plugged")
    lines = r.log.splitlines()
    waiting = re.compile(r"imageinit: waiting up to \d+ s for state partition 'LABEL=STATE'")
    wait_at = next((i for i, l in enumerate(lines) if waiting.search(l)), None)
    vdb_at = next((i for i, l in enumerate(lines) if "[vdb]" in l), None)
    ctx.expect(wait_at is not None, "imageinit never said it waits for the state partition")
    ctx.expect(vdb_at is not None and wait_at is not None and vdb_at > wait_at,
               "the state disk did not appear while imageinit waited (hot-plug not effective)")
    ctx.expect_pass(r)


@scenario("state-device-never")
def state_device_never(ctx):
    """No state disk at all, imageinit.timeout=3: failure path within the deadline."""
    deadline = 3
    r = ctx.boot(None, "finish\n", append=f"imageinit.timeout={deadline}", timeout=90)
    ctx.expect_failed_boot(r, "no state device")
    lines = r.log.splitlines()
    at = next((i for i, l in enumerate(lines) if "imageinit: step wait-state failed: state "
               "partition 'LABEL=STATE' did not appear before the deadline" in l), None)
    ctx.expect(at is not None, "no 'step wait-state failed: ... did not appear before the "
                               "deadline' line")
    # The wait starts after module loading and coldplug, whose length depends on the host's
    # load: measure from the last step that finished before it (kernel timestamps).
    start = None
    for line in lines[:at]:
        if re.search(r"imageinit: step \S+ done|Run /init as init process", line):
            start = host.printk_time(line) or start
    t = next((host.printk_time(l) for l in lines[at:] if host.printk_time(l) is not None), None)
    # Without timestamps the deadline cannot be checked: that is a failure, not a skip.
    ctx.expect(start is not None and t is not None,
               "no kernel timestamps around the wait (printk.time=1 lost?): deadline unchecked")
    if start is not None and t is not None:
        ctx.expect(t - start <= deadline + 2,
                   f"gave up {t - start:.1f} s after the wait began (deadline {deadline} s)")


# ---------------------------------------------------------------------------------------------
# Updates, boot counting and fallback (the story qemu/demo tells)


@scenario("update-rollback-story")
def update_rollback_story(ctx):
    """v1 -> install v2 -> tried -> mark-good; install v3 never proven -> back to v2; a
    corrupted v3 fails in the initramfs -> same-boot fallback to v2."""
    problems = demo_story.tell(ctx.kernel, ctx.initrd, ctx.binary, ctx.dir,
                               say=lambda s: None, results=ctx.boots)
    ctx.expect(not problems, "; ".join(problems))
