"""Building blocks of the QEMU boot tests: kernel, initramfs, guest images, disks, one boot.

Everything is built as plain files under qemu/work/ (no root, no loop devices): images with
mksquashfs / mkfs.erofs / mkfs.ext4 -d, GPT disks with sfdisk + dd conv=notrunc. A boot is one
run of qemu-system-x86_64 under `timeout`; its verdict comes from the guest through
isa-debug-exit (33 = pass) *and* a "TEST: PASS" line on the serial log: QEMU exits 0 on a
panic or when killed, so 0 never counts as success (shared/QEMU-NOTES.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

QEMU_DIR = Path(__file__).resolve().parent
REPO = QEMU_DIR.parent
WORK = Path(os.environ.get("IMAGEINIT_QEMU_WORK", QEMU_DIR / "work"))
GUEST = QEMU_DIR / "guest"

PASS_CODE = 33  # guest wrote 0x10 to port 0xf4
FAIL_CODE = 35  # guest wrote 0x11
TIMEOUT_CODE = 124  # coreutils timeout killed QEMU

MiB = 1024 * 1024

_build_lock = threading.RLock()  # image builds are quick: one at a time


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """Run a build command; on failure raise with its output (builds must be quiet when fine)."""
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("text", True)
    try:
        return subprocess.run([str(c) for c in cmd], **kw)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"command failed ({e.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{e.stdout or ''}") from None


def file_digest(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Kernel and binary


@dataclass
class Kernel:
    kver: str
    vmlinuz: Path
    modroot: Path


def fetch_kernel() -> Kernel:
    out = run([QEMU_DIR / "fetch-kernel"], stderr=subprocess.PIPE).stdout
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return Kernel(kv["KVER"], Path(kv["VMLINUZ"]), Path(kv["MODROOT"]))


def build_binary(build_dir: Path) -> Path:
    """meson setup (if needed) + ninja; returns build_dir/src/imageinit."""
    if not (build_dir / "build.ninja").exists():
        log(f"meson setup {build_dir}")
        run(["meson", "setup", build_dir, REPO])
    run(["ninja", "-C", build_dir, "src/imageinit"])
    return build_dir / "src" / "imageinit"


def shared_libs(binary: Path) -> list[Path]:
    """The libraries (and the dynamic loader) that a dynamically linked binary needs."""
    out = subprocess.run(["ldd", str(binary)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def install_binary(binary: Path, root: Path, dest: str) -> None:
    """Copy binary to root/dest (stripped when strip exists) with its shared libraries."""
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-unneeded", str(target)], stderr=subprocess.DEVNULL)
    for lib in shared_libs(binary):
        t = root / str(lib).lstrip("/")
        t.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib.resolve(), t)


# ---------------------------------------------------------------------------------------------
# Initramfs


def tree_digest(d: Path) -> str:
    """A digest of every file's name and content under d."""
    files = sorted(p for p in Path(d).rglob("*") if p.is_file())
    return file_digest(*files, extra=" ".join(str(p.relative_to(d)) for p in files))


def build_initrd(binary: Path, kernel: Kernel, out: Path, extra_args: list[str] = ()) -> Path:
    """initrd/mkinitrd, cached on the binary, the script, the arguments and the content of a
    --hooks directory (an edited hook must reach the next boot)."""
    args = list(extra_args)
    hooks = [tree_digest(Path(args[i + 1])) for i, a in enumerate(args[:-1]) if a == "--hooks"]
    key = file_digest(binary, REPO / "initrd" / "mkinitrd",
                      extra=kernel.kver + " ".join(args) + " ".join(hooks))
    stamp = out.with_name(out.name + ".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    res = run([REPO / "initrd" / "mkinitrd", "--kver", kernel.kver, "--moddir", kernel.modroot,
               "--binary", binary, "--output", out, *extra_args])
    log(res.stdout.strip())
    stamp.write_text(key)
    return out


# ---------------------------------------------------------------------------------------------
# Guest images

# The test mount spec: one entry of every kind (DESIGN.md section 5).
DEFAULT_SPEC = """\
# imageinit test mount spec
tmpfs                    /tmp               tmpfs    mode=1777,size=16m            0 0
overlay                  /etc               overlay  x-imageinit.upper=tmpfs       0 0
persist:/var/lib/test    /var/lib/test      none     bind                          0 0
persist:/srv             /srv               overlay  x-imageinit.upper=persist     0 0
persist:/var/lib/slotconf /var/lib/slotconf none     bind,x-imageinit.scope=slot   0 0
"""

# Line 3 is malformed (unknown upper kind): imageinit must say "fstab:3: ...".
BAD_SPEC = """\
# imageinit test mount spec with an error on line 3
tmpfs    /tmp   tmpfs    mode=1777,size=16m           0 0
overlay  /etc   overlay  x-imageinit.upper=nowhere    0 0
"""
BAD_SPEC_LINE = 3

MOUNT_POINTS = ["proc", "sys", "dev", "run", "tmp", "etc", "var/lib/test", "srv",
                "var/lib/slotconf", "mnt", "root"]


def build_rootfs(binary: Path) -> Path:
    """The common guest root: busybox-static + applets, qemu-exit, the test init, imageinit."""
    key = file_digest(binary, GUEST / "init", GUEST / "qemu-exit.c", Path(__file__),
                      extra=shutil.which("busybox") or "")
    root = WORK / "rootfs"
    stamp = WORK / "rootfs.key"
    with _build_lock:
        if root.exists() and stamp.exists() and stamp.read_text() == key:
            return root
        if root.exists():
            shutil.rmtree(root)
        for d in MOUNT_POINTS + ["bin", "sbin", "usr/bin", "usr/sbin"]:
            (root / d).mkdir(parents=True, exist_ok=True)
        bb = Path(shutil.which("busybox") or "/bin/busybox")
        shutil.copy2(bb, root / "bin" / "busybox")
        applets = run([bb, "--list-full"]).stdout.split()
        for a in applets:
            p = root / a
            if p.exists() or p.is_symlink() or a.endswith("/busybox"):
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.symlink_to(os.path.relpath(root / "bin" / "busybox", p.parent))
        (root / "sbin" / "init").unlink(missing_ok=True)
        shutil.copy2(GUEST / "init", root / "sbin" / "init")
        os.chmod(root / "sbin" / "init", 0o755)
        run(["gcc", "-static", "-O2", "-o", root / "usr" / "bin" / "qemu-exit",
             GUEST / "qemu-exit.c"])
        install_binary(binary, root, "/usr/bin/imageinit")
        etc = root / "etc"
        (etc / "os-release").write_text('ID=imageinit-test\nNAME="imageinit test image"\n')
        (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (etc / "group").write_text("root:x:0:\n")
        # Content of persistent paths in the image: seeds the persistent bind on first use and
        # is the lower layer of the persistent overlay.
        (root / "var/lib/test/seeded.txt").write_text("seed from image\n")
        (root / "srv/from-image.txt").write_text("lower layer from image\n")
        (root / "var/lib/slotconf/conf.txt").write_text("default configuration\n")
        (etc / "from-image.conf").write_text("image etc\n")
        stamp.write_text(key)
        return root


@dataclass(frozen=True)
class ImageVariant:
    fmt: str = "squashfs"  # squashfs | erofs | ext4
    slot_id: str = "A"  # content of /etc/slot-id: tells which image booted
    spec: str | None = DEFAULT_SPEC  # None: the image carries no /etc/imageinit/fstab
    broken_init: bool = False  # /sbin/init missing: the slot must fail in the initramfs
    padding_kib: int = 0  # extra incompressible file, to make images of a given size
    # Health checks: (path under /etc/imageinit/health.d, shell script) pairs (contract §13).
    health: tuple = ()

    def name(self) -> str:
        spec = "nospec" if self.spec is None else hashlib.sha256(self.spec.encode()).hexdigest()[:8]
        parts = [self.slot_id, spec, self.fmt]
        if self.broken_init:
            parts.append("noinit")
        if self.padding_kib:
            parts.append(f"pad{self.padding_kib}")
        if self.health:
            parts.append("health" + hashlib.sha256(repr(self.health).encode()).hexdigest()[:8])
        return "-".join(parts)


def build_image(binary: Path, v: ImageVariant) -> Path:
    with _build_lock:
        return _build_image(binary, v)


def _build_image(binary: Path, v: ImageVariant) -> Path:
    rootfs = build_rootfs(binary)
    key = (WORK / "rootfs.key").read_text()
    out = WORK / "images" / f"{v.name()}.img"
    stamp = out.with_name(out.name + ".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        stage = Path(tmp) / "root"
        shutil.copytree(rootfs, stage, symlinks=True)
        (stage / "etc" / "slot-id").write_text(v.slot_id + "\n")
        if v.spec is not None:
            (stage / "etc" / "imageinit").mkdir(parents=True, exist_ok=True)
            (stage / "etc" / "imageinit" / "fstab").write_text(v.spec)
        if v.broken_init:
            (stage / "sbin" / "init").unlink()
        if v.padding_kib:
            (stage / "padding.bin").write_bytes(os.urandom(v.padding_kib * 1024))
        for rel, script in v.health:
            check = stage / "etc" / "imageinit" / "health.d" / rel
            check.parent.mkdir(parents=True, exist_ok=True)
            check.write_text(script)
            check.chmod(0o755)
        tmp_out = Path(tmp) / "image"
        if v.fmt == "squashfs":
            # Debian's 6.1 kernel has CONFIG_SQUASHFS_ZSTD=y (checked in its config).
            run(["mksquashfs", stage, tmp_out, "-comp", "zstd", "-noappend", "-quiet",
                 "-all-root", "-no-progress"])
        elif v.fmt == "erofs":
            # That kernel's erofs has lz4 but no LZMA (QEMU-NOTES.md).
            run(["mkfs.erofs", "-zlz4hc", "--all-root", "-T0", tmp_out, stage])
        elif v.fmt == "ext4":
            # 4 KiB blocks: dm-verity needs them, and ext4 slots must work the same with it.
            size = dir_size(stage) * 13 // 10 + 4 * MiB
            run(["mkfs.ext4", "-q", "-b", "4096", "-L", f"slot-{v.slot_id}", "-E",
                 "root_owner=0:0", "-O", "^has_journal", "-d", stage, tmp_out,
                 str(size // 4096)])
        else:
            raise ValueError(f"unknown image format {v.fmt!r}")
        shutil.move(tmp_out, out)
    stamp.write_text(key)
    return out


def build_composed_image(binary: Path, slot_id: str) -> Path:
    """The five-layer OCI image of tests/compose/make-five-layer-oci, composed to erofs by
    imageinit-compose (linted by imageinit check). Its host-agent layer also carries what the
    harness needs to judge a boot: the test steps as an init script, qemu-exit, imageinit with its
    libraries, and /etc/slot-id. Cached on everything that goes into it."""
    with _build_lock:
        return _build_composed_image(binary, slot_id)


def _build_composed_image(binary: Path, slot_id: str) -> Path:
    build = binary.parent.parent  # BUILD/src/imageinit
    compose = build / "src" / "compose" / "imageinit-compose"
    if not compose.exists():
        run(["ninja", "-C", str(build), "src/compose/imageinit-compose"])
    maker = REPO / "tests" / "compose" / "make-five-layer-oci"
    key = file_digest(binary, compose, maker, REPO / "tests" / "compose" / "ocilayout.py",
                      GUEST / "init", Path(__file__), extra=slot_id)
    out = WORK / "images" / f"composed-{slot_id}.img"
    stamp = out.with_suffix(".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tree = Path(tmp) / "agent"
        init = tree / "etc" / "init.d" / "S99e2e-test"
        init.parent.mkdir(parents=True)
        shutil.copy2(GUEST / "init", init)
        (tree / "etc" / "slot-id").write_text(slot_id + "\n")
        (tree / "usr" / "bin").mkdir(parents=True)
        shutil.copy2(build_rootfs(binary) / "usr" / "bin" / "qemu-exit", tree / "usr" / "bin")
        install_binary(binary, tree, "/usr/sbin/imageinit")
        oci = Path(tmp) / "oci"
        run([str(maker), str(oci), "--agent-tree", str(tree)])
        env = dict(os.environ, SOURCE_DATE_EPOCH="0")
        r = run([str(compose), "--cache", str(WORK / "compose-cache"), "--check-with", str(binary),
                 str(oci), str(out)], env=env)
        log(f"composed {out.name}: " + r.stdout.strip().splitlines()[-1])
    stamp.write_text(key)
    return out


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
        total += 4096
    return total


# ---------------------------------------------------------------------------------------------
# Disks

LINUX_FS_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def mkfs_ext4_dir(out: Path, label: str, content: Path | None, size: int,
                  journal: bool = True) -> None:
    args = ["mkfs.ext4", "-q", "-F", "-L", label, "-b", "4096", "-E", "root_owner=0:0"]
    if not journal:
        args += ["-O", "^has_journal"]
    if content is not None:
        args += ["-d", content]
    run(args + [out, str(size // 4096)])


def build_disk(out: Path, slots: dict[str, Path], persist: bool = True,
               state_spare: int = 48 * MiB, persist_size: int = 64 * MiB,
               state_label: str = "STATE", persist_label: str = "PERSIST") -> Path:
    """GPT disk file: 1 = state (ext4 LABEL=STATE, PARTLABEL=state, holding slots/NAME.img),
    2 = persist (ext4 LABEL=PERSIST, PARTLABEL=persist), unless persist=False."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp = Path(tmp)
        content = tmp / "state"
        (content / "slots").mkdir(parents=True)
        for name, img in slots.items():
            os.link(img, content / "slots" / f"{name}.img") if same_fs(img, content) else \
                shutil.copy2(img, content / "slots" / f"{name}.img")
        state_size = align(dir_size(content) + state_spare, MiB)
        state_img = tmp / "state.ext4"
        mkfs_ext4_dir(state_img, state_label, content, state_size)
        parts = [("state", state_img)]
        if persist:
            persist_img = tmp / "persist.ext4"
            mkfs_ext4_dir(persist_img, persist_label, None, persist_size)
            parts.append(("persist", persist_img))
        return gpt_disk(out, parts)


def gpt_disk(out: Path, parts: list[tuple[str, Path]]) -> Path:
    """A GPT disk file whose partitions (PARTLABEL name, from 1 MiB on, each MiB-aligned) hold the
    given filesystem images; sfdisk on a plain file and dd conv=notrunc, no loop device or root.
    Written beside OUT and renamed, so a half-built disk never carries the final name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    layout, offsets, start = ["label: gpt"], [], MiB
    for name, img in parts:
        size = align(img.stat().st_size, MiB)
        layout.append(f"start={start // 512}, size={size // 512}, type={LINUX_FS_GUID}, "
                      f'name="{name}"')
        offsets.append(start)
        start += size
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        f.truncate(start + MiB)  # room for the backup GPT
    run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", tmp],
        input="\n".join(layout) + "\n")
    for (_name, img), off in zip(parts, offsets):
        run(["dd", f"if={img}", f"of={tmp}", "bs=1M", f"seek={off // MiB}",
             "conv=notrunc,sparse", "status=none"])
    os.replace(tmp, out)
    return out


def build_control_disk(out: Path, script: str, files: dict[str, Path] = None,
                       size: int = 8 * MiB) -> Path:
    """ext4 LABEL=TESTCTL holding run.sh (the test steps) and optional files."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        content = Path(tmp) / "ctl"
        content.mkdir()
        (content / "run.sh").write_text(GUEST_PRELUDE + script)
        for name, path in (files or {}).items():
            shutil.copy2(path, content / name)
        # No journal (it would take 4 MiB of a small disk) and 10% + 4 MiB of room for metadata.
        size = max(size, align(dir_size(content) * 11 // 10 + 4 * MiB, MiB))
        mkfs_ext4_dir(out, "TESTCTL", content, size, journal=False)
    return out


def same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


# Helpers every run.sh starts with. `check NAME CMD...` records a result; `finish` gives the
# verdict to the harness (sync first: qemu-exit ends the VM at once).
GUEST_PRELUDE = r"""#!/bin/sh
# Generated by qemu/harness.py: the test steps of one boot.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
FAILED=0
check() {
    name=$1; shift
    if "$@"; then echo "TEST: ok $name"; else echo "TEST: FAIL $name"; FAILED=1; fi
}
# file_is PATH TEXT: the file exists and holds exactly TEXT (plus a newline).
file_is() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
is_mounted() { grep -q "^[^ ]* $1 " /proc/mounts; }
fstype_of() { awk -v t="$1" '$2 == t {f = $3} END {print f}' /proc/mounts; }
mount_opts() { awk -v t="$1" '$2 == t {o = $4} END {print o}' /proc/mounts; }
opts_have() { mount_opts "$1" | tr , '\n' | grep -qx "$2"; }
not() { ! "$@"; }
finish() {
    sync
    if [ "$FAILED" = 0 ]; then echo "TEST: PASS"; qemu-exit 0x10
    else echo "TEST: FAIL"; qemu-exit 0x11; fi
}
"""


# ---------------------------------------------------------------------------------------------
# Booting

DEFAULT_APPEND = "console=ttyS0 panic=-1 loglevel=7 printk.time=1"

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
        text = self.section("boot.json").strip()
        # The console may interleave kernel lines; keep from the first { to the last }.
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < 0:
            return None
        try:
            return json.loads(text[start:end + 1])
        except json.JSONDecodeError:
            return None

    def mounts(self) -> list[list[str]]:
        return [line.split() for line in self.section("mounts").splitlines() if line.strip()]

    def booted_slot_id(self) -> str | None:
        m = re.search(r"TEST: booted slot-id=(\S+)", self.log)
        return m.group(1) if m else None

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.splitlines()[-n:])


def boot(kernel: Kernel, initrd: Path, disks: list[Path], log_path: Path,
         append: str = "", timeout: float = 90, hotplug: Hotplug | None = None,
         kill_after: float | None = None, memory: int = 512,
         console_input: list[tuple[str, str]] | None = None, cpus: int = 1,
         qemu_args: tuple[str, ...] = (), reboot: bool = False) -> BootResult:
    """One boot. disks are attached as virtio disks in order (the control disk is one of them).
    kill_after: SIGKILL QEMU after that many seconds (a power cut). console_input: (marker,
    text) pairs: once marker appears on the serial console (counted from the previous one),
    text is typed into it (a passphrase prompt). qemu_args: extra devices and options.
    reboot: a guest reset restarts the machine in the same QEMU (no -no-reboot), so device
    state that survives a reset (a watchdog's reboot flag) reaches the next boot; the serial
    log then holds every boot of that run."""
    accel = probe_accel(kernel)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    cmd = ["timeout", "-k", "5", str(int(timeout)), "qemu-system-x86_64",
           "-accel", accel, "-m", str(memory), "-smp", str(cpus), "-nodefaults", "-vga", "none",
           *([] if reboot else ["-no-reboot"]), "-display", "none",
           *_serial_args(log_path, console_input),
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *qemu_args,
           "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
           "-append", f"{DEFAULT_APPEND} {append}".strip()]
    for d in disks:
        cmd += ["-drive", f"file={d},if=virtio,format=raw"]
    mon_dir = None
    if hotplug:
        mon_dir = tempfile.mkdtemp(prefix="qmon")
        mon = Path(mon_dir) / "mon.sock"
        cmd += ["-monitor", f"unix:{mon},server=on,wait=off"]
    else:
        cmd += ["-monitor", "none"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    killed = False
    typist = None
    if console_input:
        typist = threading.Thread(target=_type_into_console, daemon=True,
                                  args=(proc, log_path, console_input, t0, timeout))
        typist.start()
    try:
        if hotplug:
            _do_hotplug(proc, hotplug, log_path, mon, t0, timeout)
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                # Power cut: SIGKILL the whole group (timeout and QEMU) at once.
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
        out, _ = proc.communicate()
        if typist:
            typist.join(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if mon_dir:
            shutil.rmtree(mon_dir, ignore_errors=True)
    seconds = time.monotonic() - t0
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    if out and out.strip():
        text += "\n[qemu] " + out.strip().replace("\n", "\n[qemu] ") + "\n"
        with open(log_path, "a") as f:
            f.write("\n[qemu] " + out.strip() + "\n")
    rc = proc.returncode if not killed else -9
    return BootResult(rc=rc, log=text, seconds=seconds, log_path=log_path,
                      timed_out=rc == TIMEOUT_CODE, killed=killed)


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
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(mon))
    s.settimeout(max(1.0, deadline - time.monotonic()))
    received = b""

    def prompt() -> bool:
        """Reads until the monitor's next "(qemu) " prompt: the previous command is done."""
        nonlocal received
        while b"(qemu) " not in received:
            try:
                data = s.recv(65536)
            except OSError:
                return False
            if not data:
                return False
            received += data
        received = received.split(b"(qemu) ", 1)[1]
        return True

    def cmd(line: str) -> bool:
        s.sendall((line + "\n").encode())
        return prompt()

    if (prompt() and cmd(f"drive_add 0 if=none,id=late0,file={hp.disk},format=raw")
            and cmd("device_add virtio-blk-pci,drive=late0,id=late0dev")):
        hp.done_at = time.monotonic() - t0
    s.close()
