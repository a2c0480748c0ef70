"""The QEMU runner: one boot is one run of qemu-system-x86_64 under `timeout`, by direct kernel
boot or through OVMF firmware; its verdict comes from the guest through isa-debug-exit (33 =
pass) *and* a "TEST: PASS" line on the serial log: QEMU exits 0 on a panic or when killed, so 0
never counts (shared/QEMU-NOTES.md). Power cuts, console input, hot-plug over the monitor."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from host import json_object, log
from images import Kernel

PASS_CODE = 33  # guest wrote 0x10 to port 0xf4
FAIL_CODE = 35  # guest wrote 0x11
TIMEOUT_CODE = 124  # coreutils timeout killed QEMU

DEFAULT_APPEND = "console=ttyS0 panic=-1 loglevel=7 printk.time=1"

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")

_accel_lock = threading.Lock()
_accel: str | None = None


def probe_accel(kernel: Kernel) -> str:
    """kvm if a guest kernel gets through boot with it, else tcg. Once per run.

    The probe boots the kernel without an initramfs: it must reach "VFS: Unable to mount root"
    (printed only after the whole kernel init). On these machines /dev/kvm cannot run a stock
    kernel (QEMU-NOTES.md): the probe then hangs or pauses and `timeout` ends it."""
    global _accel
    with _accel_lock:
        if _accel:
            return _accel
        forced = os.environ.get("IMAGEINIT_QEMU_ACCEL")
        if forced:
            _accel = forced
            log(f"accel: {forced} (IMAGEINIT_QEMU_ACCEL)")
            return _accel
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            _accel = "tcg"
            log("accel: tcg (no usable /dev/kvm)")
            return _accel
        with tempfile.TemporaryDirectory() as tmp:
            serial = Path(tmp) / "serial.log"
            t0 = time.monotonic()
            subprocess.run(["timeout", "-k", "3", "20", "qemu-system-x86_64", "-accel", "kvm",
                            "-m", "256", "-nodefaults", "-vga", "none", "-no-reboot",
                            "-display", "none", "-monitor", "none", "-serial", f"file:{serial}",
                            "-kernel", str(kernel.vmlinuz),
                            "-append", "console=ttyS0 panic=-1 root=/dev/nonexistent"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            text = serial.read_text(errors="replace") if serial.exists() else ""
            ok = "Unable to mount root" in text or "Kernel panic" in text
            _accel = "kvm" if ok else "tcg"
            log(f"accel: {_accel} (kvm probe {'reached' if ok else 'did not reach'} the end of "
                f"kernel init in {time.monotonic() - t0:.1f} s)")
        return _accel


@dataclass
class Hotplug:
    """Attach a disk through the QEMU monitor as soon as `after` appears on the console: by
    default the line imageinit prints when it starts waiting for the state partition, so the disk
    comes while /init waits, whatever the host's speed (no fixed delay)."""
    disk: Path
    after: str = "imageinit: waiting up to "
    done_at: float | None = None  # seconds since QEMU start, filled in


@dataclass
class BootResult:
    rc: int
    log: str
    seconds: float
    log_path: Path
    timed_out: bool = False
    killed: bool = False

    @property
    def passed(self) -> bool:
        return (self.rc == PASS_CODE and "TEST: PASS" in self.log
                and "TEST: FAIL" not in self.log)

    def section(self, name: str) -> str:
        m = re.search(rf"TEST: {name} begin\n(.*?)TEST: {name} end", self.log, re.S)
        return m.group(1) if m else ""

    def boot_json(self) -> dict | None:
        return json_object(self.section("boot.json").strip())

    def status(self, name: str) -> dict:
        """The `status_json NAME` output of the boot, decoded ({} if there is none)."""
        return json_object(self.section(f"status {name}").strip()) or {}

    def mounts(self) -> list[list[str]]:
        return [line.split() for line in self.section("mounts").splitlines() if line.strip()]

    def booted_slot_id(self) -> str | None:
        m = re.search(r"TEST: booted slot-id=(\S+)", self.log)
        return m.group(1) if m else None

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.splitlines()[-n:])


class Monitor:
    """The QEMU human monitor on a unix socket: one command at a time, each waiting for the
    next "(qemu)" prompt (the previous command is done)."""

    def __init__(self, path: Path, deadline: float, timeout: float = 30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
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

    def close(self) -> None:
        self.sock.close()


def boot(kernel: Kernel, initrd: Path | None, disks: list[Path], log_path: Path,
         append: str = "", timeout: float = 90, hotplug: Hotplug | None = None,
         kill_after: float | None = None, memory: int = 512,
         console_input: list[tuple[str, str]] | None = None, cpus: int = 1,
         qemu_args: tuple[str, ...] = (), reboot: bool = False,
         cut_at: tuple[str, float] | None = None, lock: str | None = None,
         firmware: Path | None = None,
         on_monitor: Callable[[Path, float], None] | None = None) -> BootResult:
    """One boot. disks are attached as virtio disks in order (the control disk is one of them).
    kill_after: SIGKILL QEMU after that many seconds (a power cut); cut_at=(MARKER, DELAY):
    DELAY seconds after MARKER appears on the serial log. lock: hold that flock(2) lock while
    QEMU runs. console_input: (marker, text) pairs: once marker appears on the serial console
    (counted from the previous one), text is typed into it (a passphrase prompt). qemu_args:
    extra devices and options. reboot: a guest reset restarts the machine in the same QEMU (no
    -no-reboot), so device state that survives a reset (a watchdog's reboot flag) reaches the
    next boot; the serial log then holds every boot of that run. firmware: OVMF with this copy of
    its variables starts the disks' boot loader (no kernel, initrd or append). on_monitor(PATH,
    DEADLINE) runs beside QEMU with its monitor socket at PATH."""
    accel = probe_accel(kernel)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    cmd = ["timeout", "-k", "5", str(int(timeout)), "qemu-system-x86_64",
           "-accel", accel, "-m", str(memory), "-smp", str(cpus), "-nodefaults", "-vga", "none",
           *([] if reboot else ["-no-reboot"]), "-display", "none",
           *_serial_args(log_path, console_input),
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *qemu_args]
    if firmware:
        cmd += ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,file={firmware}"]
    else:
        cmd += ["-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
                "-append", f"{DEFAULT_APPEND} {append}".strip()]
    for d in disks:
        cmd += ["-drive", f"file={d},if=virtio,format=raw"]
    mon_dir = None
    if hotplug or on_monitor:
        mon_dir = tempfile.mkdtemp(prefix="qmon")
        mon = Path(mon_dir) / "mon.sock"
        cmd += ["-monitor", f"unix:{mon},server=on,wait=off"]
    else:
        cmd += ["-monitor", "none"]
    lock_fd = None
    if lock:
        lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    killed = False
    # (thread, how long to wait for it once QEMU has ended)
    helpers = []
    if console_input:
        helpers.append((threading.Thread(target=_type_into_console, daemon=True,
                                         args=(proc, log_path, console_input, t0, timeout)), 10))
    if on_monitor:
        helpers.append((threading.Thread(target=on_monitor, daemon=True,
                                         args=(mon, t0 + timeout)), 60))
    for t, _ in helpers:
        t.start()
    try:
        if hotplug:
            _do_hotplug(proc, hotplug, log_path, mon, t0, timeout)
        if cut_at is not None:
            killed = _cut_at_marker(proc, log_path, *cut_at)
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                # Power cut: SIGKILL the whole group (timeout and QEMU) at once.
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
        out, _ = proc.communicate()
        for t, wait in helpers:
            t.join(timeout=wait)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if mon_dir:
            shutil.rmtree(mon_dir, ignore_errors=True)
        if lock_fd is not None:
            os.close(lock_fd)
    seconds = time.monotonic() - t0
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    if out and out.strip():
        text += "\n[qemu] " + out.strip().replace("\n", "\n[qemu] ") + "\n"
        with open(log_path, "a") as f:
            f.write("\n[qemu] " + out.strip() + "\n")
    rc = proc.returncode if not killed else -9
    return BootResult(rc=rc, log=text, seconds=seconds, log_path=log_path,
                      timed_out=rc == TIMEOUT_CODE, killed=killed)


def ovmf_vars(out: Path) -> Path:
    """A fresh copy of OVMF's variable store for one firmware boot."""
    shutil.copy2(OVMF_VARS, out)
    return out


def _cut_at_marker(proc, log_path: Path, marker: str, delay: float) -> bool:
    """SIGKILLs QEMU DELAY seconds after MARKER appears on the serial log (a power cut); False
    when QEMU ended before."""
    cut_at = None
    while proc.poll() is None:
        if cut_at is None and log_path.exists():
            if marker in log_path.read_text(errors="replace"):
                cut_at = time.monotonic() + delay
        if cut_at is not None and time.monotonic() >= cut_at:
            os.killpg(proc.pid, signal.SIGKILL)  # the power cut
            return True
        time.sleep(0.01)
    return False


def _serial_args(log_path: Path, console_input) -> list[str]:
    if not console_input:
        return ["-serial", f"file:{log_path}"]
    # A socket chardev takes input. wait=on: QEMU starts only once the typist is connected, and
    # the typist writes the log (a chardev logfile repeats characters the socket could not take).
    sock = log_path.with_suffix(".sock")
    sock.unlink(missing_ok=True)
    return ["-chardev", f"socket,id=ser0,path={sock},server=on,wait=on", "-serial", "chardev:ser0"]


def _type_into_console(proc, log_path: Path, console_input, t0: float, timeout: float) -> None:
    sock_path = log_path.with_suffix(".sock")
    deadline = t0 + timeout
    s = None
    while s is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(sock_path))
        except OSError:
            s = None
            time.sleep(0.1)
    if s is None:
        return
    s.settimeout(0.1)
    seen, pending, log_text = 0, list(console_input), ""
    with open(log_path, "ab") as log_file:
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
                if not data:
                    break  # QEMU exited
                log_file.write(data)
                log_file.flush()
                log_text += data.decode(errors="replace")
            except socket.timeout:
                pass
            except OSError:
                break
            if pending:
                at = log_text.find(pending[0][0], seen)
                if at >= 0:
                    seen = at + len(pending[0][0])
                    s.sendall(pending.pop(0)[1].encode())
    s.close()


def _do_hotplug(proc, hp: Hotplug, log_path: Path, mon: Path, t0: float, timeout: float):
    deadline = t0 + timeout
    # Poll the serial log file (QEMU writes it; there is no event to wait on) for the line.
    while time.monotonic() < deadline and proc.poll() is None:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        if hp.after in text:
            break
        time.sleep(0.05)
    else:
        return
    try:
        m = Monitor(mon, deadline, timeout=max(1.0, deadline - time.monotonic()))
        m.cmd(f"drive_add 0 if=none,id=late0,file={hp.disk},format=raw")
        m.cmd("device_add virtio-blk-pci,drive=late0,id=late0dev")
        m.close()
    except (OSError, ConnectionError):
        return
    hp.done_at = time.monotonic() - t0
