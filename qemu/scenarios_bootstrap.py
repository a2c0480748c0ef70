"""Bootstrap scenarios (issue 16): a blank disk installed from a bootstrap medium
(initrd/mkbootstrap) under UEFI firmware, then booted from the disk alone; and power cuts at
random moments of a bootstrap, each followed by a cheap check of the invariant on the disk file:
the boot loader is on the ESP only if everything else is complete.

IMAGEINIT_BOOTSTRAP_CUTS=N sets the number of cuts (default 10; the longer campaign, e.g. 100,
is the same scenario: `IMAGEINIT_BOOTSTRAP_CUTS=100 qemu/run-tests bootstrap-power-cuts`).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import harness as h
from scenarios import scenario
from scenarios_device import OVMF_CODE, OVMF_VARS, firmware_boot, slot_image_with_kernel
from scenarios_integrity import PERSIST_CHECKS, unlock_ms

MiB = 1 << 20
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
DONE = "imageinit-bootstrap: done"
STARTED = "imageinit-bootstrap: installing onto"


def build_medium(ctx, image: Path, append: str = "", extra: tuple[str, ...] = ()) -> Path:
    """initrd/mkbootstrap for IMAGE; EXTRA: more mkbootstrap options (--encrypt-persist...)."""
    out = ctx.dir / "medium.img"
    h.run([h.REPO / "initrd" / "mkbootstrap", "--kver", ctx.kernel.kver,
           "--moddir", ctx.kernel.modroot, "--kernel", ctx.kernel.vmlinuz,
           "--binary", ctx.binary, "--output", out, "--compress-level", "3",
           "--append", f"console=ttyS0 panic=-1 printk.time=1 {append}".strip(),
           "--device-cmdline", h.DEFAULT_APPEND, *extra, image])
    return out


def blank_disk(path: Path, size: int = 1024 * MiB) -> Path:
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


class Monitor:
    """The QEMU human monitor on a unix socket: one command at a time, each waiting for the
    next "(qemu)" prompt."""

    def __init__(self, path: Path, deadline: float):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(30)
        self._until_prompt()

    def _until_prompt(self) -> None:
        buf = b""
        while not buf.endswith(b"(qemu) "):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("monitor closed")
            buf += chunk

    def cmd(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")
        self._until_prompt()


def capture_cuts(log_path: Path, mon_path: Path, disk: Path, out_dir: Path, rng: random.Random,
                 captures: list, deadline: float) -> None:
    """Power cuts without killing QEMU: at random moments of the bootstrap, stop the machine
    (QEMU drains the block layer), copy the disk file, continue. Each copy is exactly what a
    QEMU kill at that moment would leave on the disk file; the run itself goes on."""
    try:
        mon = Monitor(mon_path, deadline)
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
                qemu_args: tuple[str, ...] = ()) -> h.BootResult:
    """OVMF with the blank target (vda) and the medium (vdb): the firmware finds nothing to
    boot on the target and starts the medium, which installs and powers off. With CUTS, disk
    copies at random moments of the bootstrap are appended to it (capture_cuts). QEMU_ARGS:
    extra devices (a TPM)."""
    n = len(ctx.boots) + 1
    vars_copy = ctx.dir / f"OVMF_VARS{n}.fd"
    shutil.copy2(OVMF_VARS, vars_copy)
    log_path = ctx.dir / f"boot{n}.log"
    log_path.unlink(missing_ok=True)
    mon_dir = Path(tempfile.mkdtemp(prefix="qmon"))
    mon_path = mon_dir / "mon.sock"
    cmd = ["timeout", "-k", "5", str(int(timeout)), "qemu-system-x86_64",
           "-accel", h.probe_accel(ctx.kernel), "-m", "1024", "-nodefaults", "-vga", "none",
           "-no-reboot", "-display", "none", "-serial", f"file:{log_path}",
           "-monitor", f"unix:{mon_path},server=on,wait=off", *qemu_args,
           "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
           "-drive", f"if=pflash,format=raw,file={vars_copy}",
           "-drive", f"file={target},if=virtio,format=raw",
           "-drive", f"file={medium},if=virtio,format=raw"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    taker = None
    if cuts is not None:
        taker = threading.Thread(target=capture_cuts, daemon=True,
                                 args=(log_path, mon_path, target, ctx.dir, rng, cuts,
                                       t0 + timeout))
        taker.start()
    out, _ = proc.communicate()
    if taker:
        taker.join(timeout=60)
    shutil.rmtree(mon_dir, ignore_errors=True)
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    r = h.BootResult(rc=proc.returncode, log=text, seconds=time.monotonic() - t0,
                     log_path=log_path, timed_out=proc.returncode == h.TIMEOUT_CODE)
    ctx.boots.append(r)
    return r


def partitions(disk: Path) -> list:
    out = subprocess.run(["sfdisk", "-J", disk], stdout=subprocess.PIPE, text=True,
                         stderr=subprocess.DEVNULL)
    if out.returncode != 0:
        return []
    return json.loads(out.stdout)["partitiontable"]["partitions"]


def esp_file(disk: Path, start: int, path: str) -> bytes | None:
    r = subprocess.run(["mtype", "-i", f"{disk}@@{start * 512}", "::/" + path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=MTOOLS_ENV)
    return r.stdout if r.returncode == 0 else None


def state_file(disk: Path, part: dict, path: str, work: Path) -> bytes | None:
    img = work / "state.part"
    h.run(["dd", f"if={disk}", f"of={img}", "bs=512", f"skip={part['start']}",
           f"count={part['size']}", "status=none"])
    out = work / "dumped"
    out.unlink(missing_ok=True)
    subprocess.run(["debugfs", "-R", f"dump {path} {out}", img], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    img.unlink()
    if not out.exists():
        return None
    data = out.read_bytes()
    out.unlink()
    return data


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
    if state_file(disk, parts[1], "/slots/a.img", work) != image.read_bytes():
        problems.append("slot a incomplete")
    record = state_file(disk, parts[1], "/imageinit/state", work) or b""
    if b"primary a" not in record:
        problems.append("no record")
    return True, ", ".join(problems)


def image_with_kernel(ctx, slot_id: str, initrd_args: tuple[str, ...] = ()) -> Path:
    return slot_image_with_kernel(ctx, ctx.kernel, ctx.dir / f"{slot_id}.img", slot_id=slot_id,
                                  initrd_args=initrd_args)


def boot_files(ctx, image: Path) -> tuple[bytes, bytes]:
    staged = ctx.dir / "stage"
    shutil.rmtree(staged, ignore_errors=True)
    h.run(["unsquashfs", "-q", "-n", "-d", staged, image, "boot/vmlinuz", "boot/initrd.img"])
    return ((staged / "boot" / "initrd.img").read_bytes(),
            (staged / "boot" / "vmlinuz").read_bytes())


def direct_boot(ctx, disk: Path, initrd: Path, script: str,
                qemu_args: tuple[str, ...] = ()) -> h.BootResult:
    """The installed disk started with the ESP's kernel and INITRD directly (the firmware path
    adds a minute under emulation and is shown by another boot of the same scenario)."""
    n = len(ctx.boots) + 1
    ctl = h.build_control_disk(ctx.dir / f"ctl{n}.img", script)
    r = h.boot(ctx.kernel, initrd, [disk, ctl], ctx.dir / f"boot{n}.log", timeout=150,
               qemu_args=qemu_args)
    ctx.boots.append(r)
    return r


def image_initrd(ctx, image: Path) -> Path:
    """The image's own /boot/initrd.img (what bootstrap puts on the ESP), as a file."""
    out = ctx.dir / f"{image.stem}-initrd.img"
    out.write_bytes(boot_files(ctx, image)[0])
    return out


def medium_initrd(ctx, medium: Path) -> Path:
    initrd = ctx.dir / "medium-initrd.img"
    initrd.write_bytes(esp_file(medium, 2048, "initrd.img"))
    return initrd


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
    h.log(f"bootstrap-install-boot-update: medium run {r.seconds:.1f} s, "
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
    h.log(f"bootstrap-install-boot-update: cuts (-: blank, p: partitioned, B: bootable): "
          f"{''.join(outcomes)}")
    ctx.expect(resumable is not None, "no cut fell between the partitioning and the loader")
    for cut in cuts:
        if cut != resumable:
            cut.unlink(missing_ok=True)

    r = h.boot(ctx.kernel, medium_initrd(ctx, medium), [resumable, medium],
               ctx.dir / "resume.log", append="rdinit=/bootstrap-init imageinit.bootstrap=/dev/vda",
               timeout=400, memory=1024)
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
    r = direct_boot(ctx, disk, image_initrd(ctx, a), PERSIST_CHECKS + """
check slot-b file_is /etc/slot-id B
check marker-kept file_is /var/lib/test/bootstrap-marker kept
check mark-good imageinit mark-good
finish
""")
    ctx.expect_pass(r, "boot 4 (the update from slot b)")


@scenario("bootstrap-power-cuts")
def bootstrap_power_cuts(ctx):
    """A reference bootstrap measures when the work starts and ends; then N runs on one disk,
    each killed at a random moment of that window (seeded, printed), each followed by the
    invariant check on the disk file; a last run completes the disk, which then holds
    everything (the install scenario boots such a disk)."""
    cuts = int(os.environ.get("IMAGEINIT_BOOTSTRAP_CUTS", "10"))
    seed = int(os.environ.get("IMAGEINIT_BOOTSTRAP_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    a = image_with_kernel(ctx, "A")
    medium = build_medium(ctx, a)
    # Direct kernel boot of the medium's initramfs: the firmware adds nothing to what is cut.
    initrd = ctx.dir / "medium-initrd.img"
    initrd.write_bytes(esp_file(medium, 2048, "initrd.img"))
    work = ctx.dir / "inspect"
    work.mkdir(exist_ok=True)
    staged = ctx.dir / "stage"
    shutil.rmtree(staged, ignore_errors=True)
    h.run(["unsquashfs", "-q", "-n", "-d", staged, a, "boot/vmlinuz", "boot/initrd.img"])
    kernel_bytes = (staged / "boot" / "vmlinuz").read_bytes()
    initrd_bytes = (staged / "boot" / "initrd.img").read_bytes()
    append = "rdinit=/bootstrap-init imageinit.bootstrap=/dev/vda"

    def run(disk: Path, n: int, kill_after: float | None) -> h.BootResult:
        r = h.boot(ctx.kernel, initrd, [disk, medium], ctx.dir / f"cut{n}.log", append=append,
                   timeout=240, memory=1024, kill_after=kill_after)
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
    h.log(f"bootstrap-power-cuts: seed {seed}, reference run {ref.seconds:.1f} s, cuts in "
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
    h.log("bootstrap-power-cuts: " + " ".join(outcomes))
    r = run(disk, cuts + 1, None)
    ctx.expect(DONE in r.log, "the run after the cuts did not complete the disk: "
               + " | ".join(r.log.splitlines()[-6:]))
    bootable, problem = check_invariant(disk, a, initrd_bytes, kernel_bytes, work)
    ctx.expect(bootable and not problem, f"after the last run the disk is not complete: {problem}")
