"""Device boot scenarios (issue 9): UEFI firmware (OVMF) -> GRUB on the disk's ESP -> kernel +
imageinit initramfs -> slot, and slot-owned kernels reached through kexec (contract §7).

The disk comes from qemu/make-disk, the script a device builder uses. Firmware boots are slow
under TCG, so there are two: B's kernel reached through kexec, then B's kernel corrupted (the
same boot falls back to A; the first boot of that disk shows A through firmware + GRUB too).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import harness as h
from scenarios import scenario

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")
CLOUD_META = "linux-image-cloud-amd64"


def fetch_second_kernel() -> h.Kernel:
    """Debian's cloud flavour, unpacked like qemu/fetch-kernel does (a different kernel)."""
    cache = h.QEMU_DIR / "cache" / "kernel-cloud"
    # Overrides IMAGEINIT_KERNEL_CACHE when the caller set it (dict(**environ, KEY=...) raised).
    env = {**__import__("os").environ, "IMAGEINIT_KERNEL_CACHE": str(cache)}
    script = (h.QEMU_DIR / "fetch-kernel").read_text().replace("meta=linux-image-amd64",
                                                               f"meta={CLOUD_META}")
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(script)
    out = h.run(["bash", f.name], env=env, stderr=subprocess.PIPE).stdout
    Path(f.name).unlink()
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return h.Kernel(kv["KVER"], Path(kv["VMLINUZ"]), Path(kv["MODROOT"]))


def slot_image_with_kernel(ctx, kernel: h.Kernel, out: Path, slot_id: str = "B",
                           corrupt_kernel: bool = False, initrd_args: tuple[str, ...] = ()) -> Path:
    """A squashfs slot image carrying /boot/vmlinuz and /boot/initrd.img (imageinit for KERNEL,
    built with mkinitrd's INITRD_ARGS, e.g. --with-tpm)."""
    suffix = "".join(a.replace("-", "") for a in initrd_args)
    initrd = h.build_initrd(ctx.binary, kernel, h.WORK / f"initrd-{kernel.kver}{suffix}.img",
                            list(initrd_args))
    rootfs = h.build_rootfs(ctx.binary)
    with tempfile.TemporaryDirectory(dir=ctx.dir) as tmp:
        stage = Path(tmp) / "root"
        shutil.copytree(rootfs, stage, symlinks=True)
        (stage / "etc" / "slot-id").write_text(slot_id + "\n")
        (stage / "etc" / "imageinit").mkdir(parents=True, exist_ok=True)
        (stage / "etc" / "imageinit" / "fstab").write_text(h.DEFAULT_SPEC)
        (stage / "boot").mkdir(exist_ok=True)
        data = bytearray(kernel.vmlinuz.read_bytes())
        if corrupt_kernel:  # the setup header and the start of the kernel: not a bzImage any more
            data[0:64 * 1024] = b"\0" * (64 * 1024)
        (stage / "boot" / "vmlinuz").write_bytes(bytes(data))
        shutil.copy2(initrd, stage / "boot" / "initrd.img")
        h.run(["mksquashfs", stage, out, "-comp", "zstd", "-noappend", "-quiet", "-all-root",
               "-no-progress"])
    return out


def make_disk(ctx, slots: dict[str, Path], name: str = "device.img") -> Path:
    out = ctx.dir / name
    args = [h.QEMU_DIR / "make-disk", "--kernel", ctx.kernel.vmlinuz, "--initrd", ctx.initrd,
            "--output", out, "--append", h.DEFAULT_APPEND, "--timeout", "0"]
    for slot, img in slots.items():
        args += ["--slot", f"{slot}={img}"]
    h.run(args)
    return out


def firmware_boot(ctx, disk: Path, script: str, timeout: float = 300,
                  files: dict[str, Path] | None = None,
                  qemu_args: tuple[str, ...] = ()) -> h.BootResult:
    """OVMF + the disk (no -kernel): the firmware starts GRUB from the ESP. QEMU_ARGS: extra
    devices (a TPM)."""
    n = len(ctx.boots) + 1
    ctl = h.build_control_disk(ctx.dir / f"ctl{n}.img", script, files=files)
    vars_copy = ctx.dir / f"OVMF_VARS{n}.fd"
    shutil.copy2(OVMF_VARS, vars_copy)
    log_path = ctx.dir / f"boot{n}.log"
    log_path.unlink(missing_ok=True)
    cmd = ["timeout", "-k", "5", str(int(timeout)), "qemu-system-x86_64",
           "-accel", h.probe_accel(ctx.kernel), "-m", "1024", "-nodefaults", "-vga", "none",
           "-no-reboot", "-display", "none", "-monitor", "none", "-serial", f"file:{log_path}",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *qemu_args,
           "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
           "-drive", f"if=pflash,format=raw,file={vars_copy}",
           "-drive", f"file={disk},if=virtio,format=raw",
           "-drive", f"file={ctl},if=virtio,format=raw"]
    import time
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    if p.stdout.strip():
        text += "\n[qemu] " + p.stdout.strip() + "\n"
    r = h.BootResult(rc=p.returncode, log=text, seconds=time.monotonic() - t0,
                     log_path=log_path, timed_out=p.returncode == h.TIMEOUT_CODE)
    ctx.boots.append(r)
    return r


STATE_RECORD = "/run/imageinit/state/imageinit/state"


@scenario("device-firmware-kexec")
def device_firmware_kexec(ctx):
    """1: OVMF -> GRUB (ESP) -> imageinit boots slot A; B, carrying Debian's cloud kernel, is
    installed. 2: B is tried: imageinit kexecs into B's kernel with imageinit.slot=b, B runs and
    is marked good; an image with a corrupted kernel is installed into A. 3: A's kexec-load fails
    and the same boot falls back to B, with the reason in the journal."""
    cloud = fetch_second_kernel()
    ctx.expect(cloud.kver != ctx.kernel.kver, "the second kernel is the same as the first")
    b = slot_image_with_kernel(ctx, cloud, ctx.dir / "b-kernel.img")
    bad = slot_image_with_kernel(ctx, cloud, ctx.dir / "bad-kernel.img", slot_id="C",
                                 corrupt_kernel=True)
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
