"""Device boot scenarios (issue 9): UEFI firmware (OVMF) -> GRUB on the disk's ESP -> kernel +
imageinit initramfs -> slot, and slot-owned kernels reached through kexec (contract §7).

The disk comes from qemu/make-disk, the script a device builder uses. Firmware boots are slow
under TCG, so there are two: B's kernel reached through kexec, then B's kernel corrupted (the
same boot falls back to A; the first boot of that disk shows A through firmware + GRUB too).
"""

from __future__ import annotations

from pathlib import Path

import host
import images
import vm
from testkit import firmware_boot, scenario


def make_disk(ctx, slots: dict[str, Path], name: str = "device.img") -> Path:
    out = ctx.dir / name
    args = [host.QEMU_DIR / "make-disk", "--kernel", ctx.kernel.vmlinuz, "--initrd", ctx.initrd,
            "--output", out, "--append", vm.DEFAULT_APPEND, "--timeout", "0"]
    for slot, img in slots.items():
        args += ["--slot", f"{slot}={img}"]
    host.run(args)
    return out


STATE_RECORD = "/run/imageinit/state/imageinit/state"


@scenario("device-firmware-kexec")
def device_firmware_kexec(ctx):
    """1: OVMF -> GRUB (ESP) -> imageinit boots slot A; B, carrying Debian's cloud kernel, is
    installed. 2: B is tried: imageinit kexecs into B's kernel with imageinit.slot=b, B runs and
    is marked good; an image with a corrupted kernel is installed into A. 3: A's kexec-load fails
    and the same boot falls back to B, with the reason in the journal."""
    cloud = images.fetch_second_kernel()
    ctx.expect(cloud.kver != ctx.kernel.kver, "the second kernel is the same as the first")
    b = images.slot_image_with_kernel(ctx.binary, cloud, ctx.dir / "b-kernel.img")
    bad = images.slot_image_with_kernel(ctx.binary, cloud, ctx.dir / "bad-kernel.img",
                                        slot_id="C", corrupt_kernel=True)
    disk = make_disk(ctx, {"a": ctx.image()})
    r = firmware_boot(ctx, disk, """
check slot-a file_is /etc/slot-id A
check no-kexec not grep -q imageinit.kexec= /proc/cmdline
check install-b imageinit install /run/testctl/b.img --tries 2
finish
""", files={"b.img": b})
    ctx.expect_pass(r, "boot 1 (firmware + GRUB into slot A)")
    ctx.expect("Run /init as init process" in r.log, "no kernel start on the console")

    r = firmware_boot(ctx, disk, f"""
cat /proc/cmdline
check slot-b file_is /etc/slot-id B
check kexec-cmdline grep -q "imageinit.slot=b imageinit.kexec=b" /proc/cmdline
check cloud-kernel sh -c 'uname -r | grep -qx {cloud.kver}'
check mark-good imageinit mark-good
check install-bad imageinit install /run/testctl/bad.img --tries 2
finish
""", files={"bad.img": bad})
    ctx.expect_pass(r, "boot 2 (B through kexec)")
    ctx.expect("kexec_core: Starting new kernel" in r.log or r.log.count("Linux version") >= 2,
               "no kexec on the console")

    r = firmware_boot(ctx, disk, f"""
check fell-back-to-b file_is /etc/slot-id B
check b-through-kexec grep -q "imageinit.slot=b imageinit.kexec=b" /proc/cmdline
echo "TEST: record begin"; cat {STATE_RECORD}; echo "TEST: record end"
check journal-reason grep -q kexec-load {STATE_RECORD}
finish
""")
    ctx.expect_pass(r, "boot 3 (A's corrupted kernel: same-boot fallback)")
    ctx.expect("kexec_file_load" in r.log, "the fallback reason does not name kexec_file_load")
