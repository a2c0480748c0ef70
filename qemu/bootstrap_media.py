"""What the bootstrap scenarios build and inspect on the host (issue 16): the bootstrap medium
(initrd/mkbootstrap), a blank target disk, its OVMF run with disk copies taken at random moments
(QEMU `stop`, copy, `cont`: power cuts without killing QEMU), and the invariant every copy must
satisfy, read from the disk file with mtools and debugfs: the boot loader is on the ESP only
with everything else complete."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import host
import images
import vm
from disks import copy_partition, partitions, state_file

MiB = host.MiB
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
DONE = "imageinit-bootstrap: done"
STARTED = "imageinit-bootstrap: installing onto"
# A direct kernel boot of the medium's initramfs onto /dev/vda.
MEDIUM_APPEND = "rdinit=/bootstrap-init imageinit.bootstrap=/dev/vda"


def build_medium(ctx, image: Path, append: str = "", extra: tuple[str, ...] = ()) -> Path:
    """initrd/mkbootstrap for IMAGE; EXTRA: more mkbootstrap options (--encrypt-persist...)."""
    out = ctx.dir / "medium.img"
    host.run([host.REPO / "initrd" / "mkbootstrap", "--kver", ctx.kernel.kver,
              "--moddir", ctx.kernel.modroot, "--kernel", ctx.kernel.vmlinuz,
              "--binary", ctx.binary, "--output", out, "--compress-level", "3",
              "--append", f"console=ttyS0 panic=-1 printk.time=1 {append}".strip(),
              "--device-cmdline", vm.DEFAULT_APPEND, *extra, image])
    return out


def blank_disk(path: Path, size: int = 1024 * MiB) -> Path:
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def capture_cuts(log_path: Path, mon_path: Path, disk: Path, out_dir: Path, rng: random.Random,
                 captures: list, deadline: float) -> None:
    """Power cuts without killing QEMU: at random moments of the bootstrap, stop the machine
    (QEMU drains the block layer), copy the disk file, continue. Each copy is exactly what a
    QEMU kill at that moment would leave on the disk file; the run itself goes on."""
    try:
        mon = vm.Monitor(mon_path, deadline)
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
            if STARTED in text:
                break
            time.sleep(0.2)
        while time.monotonic() < deadline and len(captures) < 60:
            time.sleep(rng.uniform(0.2, 2.0))
            text = log_path.read_text(errors="replace")
            if DONE in text or "FAILED" in text:
                break
            mon.cmd("stop")
            copy = out_dir / f"cut{len(captures) + 1}.img"
            subprocess.run(["cp", "--sparse=always", disk, copy], check=True)
            mon.cmd("cont")
            captures.append(copy)
    except (OSError, ConnectionError):
        pass  # QEMU ended (powered off): no more moments to capture


def medium_boot(ctx, target: Path, medium: Path, timeout: float = 400,
                cuts: list | None = None, rng: random.Random | None = None,
                qemu_args: tuple[str, ...] = ()) -> vm.BootResult:
    """OVMF with the blank target (vda) and the medium (vdb): the firmware finds nothing to
    boot on the target and starts the medium, which installs and powers off. With CUTS, disk
    copies at random moments of the bootstrap are appended to it (capture_cuts). QEMU_ARGS:
    extra devices (a TPM)."""
    n = len(ctx.boots) + 1
    log_path = ctx.dir / f"boot{n}.log"

    def take_cuts(mon_path: Path, deadline: float) -> None:
        capture_cuts(log_path, mon_path, target, ctx.dir, rng, cuts, deadline)

    r = vm.boot(ctx.kernel, None, [target, medium], log_path, timeout=timeout, memory=1024,
                qemu_args=qemu_args,
                firmware=vm.ovmf_vars(ctx.dir / f"OVMF_VARS{n}.fd"),
                on_monitor=take_cuts if cuts is not None else None)
    ctx.boots.append(r)
    return r


def esp_file(disk: Path, start: int, path: str) -> bytes | None:
    r = subprocess.run(["mtype", "-i", f"{disk}@@{start * 512}", "::/" + path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=MTOOLS_ENV)
    return r.stdout if r.returncode == 0 else None


def state_file_on(disk: Path, part: dict, path: str, work: Path) -> bytes | None:
    """PATH on the state partition PART of a disk file (copied out into WORK to read it)."""
    img = copy_partition(disk, part, work / "state.part")
    try:
        return state_file(img, path)
    finally:
        img.unlink()


def check_invariant(disk: Path, image: Path, initrd: bytes, kernel: bytes,
                    work: Path) -> tuple[bool, str]:
    """(bootable, problem): bootable when the loader is on the ESP; then everything else must
    be complete (problem names what is not)."""
    parts = partitions(disk)
    if len(parts) != 3:
        return False, ""
    loader = esp_file(disk, parts[0]["start"], "EFI/BOOT/BOOTX64.EFI")
    if loader is None:
        return False, ""
    problems = []
    if esp_file(disk, parts[0]["start"], "imageinit/vmlinuz") != kernel:
        problems.append("ESP kernel incomplete")
    if esp_file(disk, parts[0]["start"], "imageinit/initrd.img") != initrd:
        problems.append("ESP initramfs incomplete")
    if not esp_file(disk, parts[0]["start"], "loader/entries/imageinit.conf"):
        problems.append("no boot entry")
    if state_file_on(disk, parts[1], "/slots/a.img", work) != image.read_bytes():
        problems.append("slot a incomplete")
    record = state_file_on(disk, parts[1], "/imageinit/state", work) or b""
    if b"primary a" not in record:
        problems.append("no record")
    return True, ", ".join(problems)


def image_with_kernel(ctx, slot_id: str, initrd_args: tuple[str, ...] = ()) -> Path:
    return images.slot_image_with_kernel(ctx.binary, ctx.kernel, ctx.dir / f"{slot_id}.img",
                                         slot_id=slot_id, initrd_args=initrd_args)


def boot_files(ctx, image: Path) -> tuple[bytes, bytes]:
    """(initrd.img, vmlinuz) of IMAGE's /boot: what the ESP must hold."""
    staged = ctx.dir / "stage"
    shutil.rmtree(staged, ignore_errors=True)
    host.run(["unsquashfs", "-q", "-n", "-d", staged, image, "boot/vmlinuz", "boot/initrd.img"])
    return ((staged / "boot" / "initrd.img").read_bytes(),
            (staged / "boot" / "vmlinuz").read_bytes())


def image_initrd(ctx, image: Path) -> Path:
    """The image's own /boot/initrd.img (what bootstrap puts on the ESP), as a file: a direct
    boot of the installed disk (the firmware path adds a minute under emulation)."""
    out = ctx.dir / f"{image.stem}-initrd.img"
    out.write_bytes(boot_files(ctx, image)[0])
    return out


def medium_initrd(ctx, medium: Path) -> Path:
    """The medium's initramfs, from its ESP (a direct kernel boot of the medium)."""
    initrd = ctx.dir / "medium-initrd.img"
    initrd.write_bytes(esp_file(medium, 2048, "initrd.img"))
    return initrd
