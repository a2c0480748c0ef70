"""What a test boot runs, built as plain files under qemu/work/ and cached by content: the kernel,
imageinit, the initramfs (mkinitrd or dracut with our module), the busybox guest root and the
slot images made of it (squashfs, erofs, ext4), and the composed five-layer OCI image."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from host import (GUEST, MiB, QEMU_DIR, REPO, WORK, build_lock, dir_size, file_digest, log, run,
                  tree_digest)

# ---------------------------------------------------------------------------------------------
# Kernel and binary


@dataclass
class Kernel:
    kver: str
    vmlinuz: Path
    modroot: Path


def fetch_kernel(script: Path = QEMU_DIR / "fetch-kernel", env: dict | None = None) -> Kernel:
    out = run(["bash", script], env=env, stderr=subprocess.PIPE).stdout
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return Kernel(kv["KVER"], Path(kv["VMLINUZ"]), Path(kv["MODROOT"]))


def fetch_second_kernel(meta: str = "linux-image-cloud-amd64") -> Kernel:
    """Debian's cloud flavour, unpacked like qemu/fetch-kernel does (a different kernel)."""
    cache = QEMU_DIR / "cache" / "kernel-cloud"
    # Overrides IMAGEINIT_KERNEL_CACHE when the caller set it (dict(**environ, KEY=...) raised).
    env = {**os.environ, "IMAGEINIT_KERNEL_CACHE": str(cache)}
    script = (QEMU_DIR / "fetch-kernel").read_text().replace("meta=linux-image-amd64",
                                                             f"meta={meta}")
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(script)
    try:
        return fetch_kernel(Path(f.name), env)
    finally:
        Path(f.name).unlink()


def build_binary(build_dir: Path) -> Path:
    """meson setup (if needed) + ninja; returns build_dir/src/imageinit."""
    if not (build_dir / "build.ninja").exists():
        log(f"meson setup {build_dir}")
        run(["meson", "setup", build_dir, REPO])
    run(["ninja", "-C", build_dir, "src/imageinit"])
    return build_dir / "src" / "imageinit"


def build_compose(binary: Path) -> Path:
    """imageinit-compose of the build that BINARY (BUILD/src/imageinit) comes from."""
    build = binary.parent.parent
    compose = build / "src" / "compose" / "imageinit-compose"
    if not compose.exists():
        run(["ninja", "-C", str(build), "src/compose/imageinit-compose"])
    return compose


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


DRACUT_MODULE = REPO / "dracut-module" / "90imageinit"


def dracut_with_module(binary: Path, out: Path, args: list, env: dict | None = None,
                       timeout: float | None = None, host_config: bool = True,
                       trust: Path | None = None) -> Path:
    """dracut ARGS writing OUT, with dracut-module/90imageinit of this repository (not installed
    system-wide: a symlinked copy of /usr/lib/dracut as dracutbasedir) and BINARY as imageinit.
    host_config=False: neither the host's dracut.conf nor its dracut.conf.d, only (with TRUST, a
    certificate) a dracut.conf.d file naming it as a distribution would: imageinit_trust=GLOB."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        if not host_config:
            (Path(tmp) / "none").mkdir()
            args = [*args, "--conf", "/dev/null", "--confdir", f"{tmp}/none"]
            if trust:
                (Path(tmp) / "trust.d").mkdir()
                shutil.copy(trust, Path(tmp) / "trust.d" / "vendor.pem")
                (Path(tmp) / "none" / "90-trust.conf").write_text(
                    f'imageinit_trust="{tmp}/trust.d/*.pem"\n')
        base = Path(tmp) / "dracut"
        run(["cp", "-as", "/usr/lib/dracut/.", f"{base}/"])
        (base / "modules.d" / "90imageinit").symlink_to(DRACUT_MODULE)
        env = dict(os.environ, **(env or {}), dracutbasedir=str(base),
                   IMAGEINIT_BINARY=str(binary))
        cmd = ["dracut", *args, Path(tmp) / "initrd.img"]
        if timeout:
            cmd = ["timeout", str(int(timeout)), *cmd]
        run(cmd, env=env, timeout=timeout + 100 if timeout else None)
        shutil.move(Path(tmp) / "initrd.img", out)
    return out


def build_dracut_initrd(binary: Path, kernel: Kernel, hooks: Path, systemd: bool,
                        trust: Path | None = None) -> Path:
    """dracut --no-hostonly with our module and the hooks in HOOKS, the test kernel's modules,
    and neither the host's dracut.conf nor its hostonly guesses; with or without systemd;
    trusting the certificate TRUST (issue 18)."""
    flavour = ("systemd" if systemd else "nosystemd") + ("-trust" if trust else "")
    key = file_digest(binary, *sorted(DRACUT_MODULE.iterdir()), *([trust] if trust else []),
                      extra=kernel.kver + flavour + tree_digest(hooks))
    out = WORK / f"dracut-{flavour}.img"
    stamp = out.with_name(out.name + ".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    modules = "dracut-systemd imageinit" if systemd else "base udev-rules imageinit"
    args = ["-q", "--force", "--no-hostonly", "--no-hostonly-cmdline", "--no-early-microcode",
            "--kver", kernel.kver, "--kmoddir", kernel.modroot / "lib" / "modules" / kernel.kver,
            "-m", modules, "--compress", "zstd", *([] if systemd else ["--omit", "systemd"])]
    dracut_with_module(binary, out, args, env={"IMAGEINIT_HOOKS_DIR": str(hooks)},
                       host_config=False, trust=trust)
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
    with build_lock:
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


def stage_rootfs(binary: Path, stage: Path, slot_id: str, spec: str | None = DEFAULT_SPEC) -> Path:
    """A copy of the guest root at STAGE with /etc/slot-id and (unless None) the mount spec."""
    shutil.copytree(build_rootfs(binary), stage, symlinks=True)
    (stage / "etc" / "slot-id").write_text(slot_id + "\n")
    if spec is not None:
        (stage / "etc" / "imageinit").mkdir(parents=True, exist_ok=True)
        (stage / "etc" / "imageinit" / "fstab").write_text(spec)
    return stage


def make_fs(stage: Path, out: Path, fmt: str = "squashfs", label: str = "slot",
            quiet: bool = False) -> Path:
    """The slot image of the tree STAGE, owned by root, in format FMT."""
    if fmt == "squashfs":
        # Debian's 6.1 kernel has CONFIG_SQUASHFS_ZSTD=y (checked in its config).
        run(["mksquashfs", stage, out, "-comp", "zstd", "-noappend", "-quiet", "-all-root",
             "-no-progress"])
    elif fmt == "erofs":
        # That kernel's erofs has lz4 but no LZMA (QEMU-NOTES.md).
        run(["mkfs.erofs", "-zlz4hc", "--all-root", "-T0", *(["--quiet"] if quiet else []),
             out, stage])
    elif fmt == "ext4":
        # 4 KiB blocks: dm-verity needs them, and ext4 slots must work the same with it.
        size = dir_size(stage) * 13 // 10 + 4 * MiB
        run(["mkfs.ext4", "-q", "-b", "4096", "-L", label, "-E", "root_owner=0:0", "-O",
             "^has_journal", "-d", stage, out, str(size // 4096)])
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return out


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
    with build_lock:
        return _build_image(binary, v)


def _build_image(binary: Path, v: ImageVariant) -> Path:
    build_rootfs(binary)
    key = (WORK / "rootfs.key").read_text()
    out = WORK / "images" / f"{v.name()}.img"
    stamp = out.with_name(out.name + ".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        stage = stage_rootfs(binary, Path(tmp) / "root", v.slot_id, v.spec)
        if v.broken_init:
            (stage / "sbin" / "init").unlink()
        if v.padding_kib:
            (stage / "padding.bin").write_bytes(os.urandom(v.padding_kib * 1024))
        for rel, script in v.health:
            check = stage / "etc" / "imageinit" / "health.d" / rel
            check.parent.mkdir(parents=True, exist_ok=True)
            check.write_text(script)
            check.chmod(0o755)
        tmp_out = make_fs(stage, Path(tmp) / "image", v.fmt, label=f"slot-{v.slot_id}")
        shutil.move(tmp_out, out)
    stamp.write_text(key)
    return out


def slot_image_with_kernel(binary: Path, kernel: Kernel, out: Path, slot_id: str = "B",
                           corrupt_kernel: bool = False, initrd_args: tuple[str, ...] = ()) -> Path:
    """A squashfs slot image carrying /boot/vmlinuz and /boot/initrd.img (imageinit for KERNEL,
    built with mkinitrd's INITRD_ARGS, e.g. --with-tpm)."""
    suffix = "".join(a.replace("-", "") for a in initrd_args)
    initrd = build_initrd(binary, kernel, WORK / f"initrd-{kernel.kver}{suffix}.img",
                          list(initrd_args))
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        stage = stage_rootfs(binary, Path(tmp) / "root", slot_id)
        (stage / "boot").mkdir(exist_ok=True)
        data = bytearray(kernel.vmlinuz.read_bytes())
        if corrupt_kernel:  # the setup header and the start of the kernel: not a bzImage any more
            data[0:64 * 1024] = b"\0" * (64 * 1024)
        (stage / "boot" / "vmlinuz").write_bytes(bytes(data))
        shutil.copy2(initrd, stage / "boot" / "initrd.img")
        make_fs(stage, out)
    return out


def build_composed_image(binary: Path, slot_id: str) -> Path:
    """The five-layer OCI image of tests/compose/make-five-layer-oci, composed to erofs by
    imageinit-compose (linted by imageinit check). Its host-agent layer also carries what the
    harness needs to judge a boot: the test steps as an init script, qemu-exit, imageinit with its
    libraries, and /etc/slot-id. Cached on everything that goes into it."""
    with build_lock:
        return _build_composed_image(binary, slot_id)


def agent_tree(binary: Path, tree: Path, slot_id: str) -> Path:
    """The host-agent layer's extra tree: the test steps as an init script, qemu-exit, imageinit
    with its libraries and /etc/slot-id (what the harness needs to judge a boot)."""
    init = tree / "etc" / "init.d" / "S99e2e-test"
    init.parent.mkdir(parents=True)
    shutil.copy2(GUEST / "init", init)
    (tree / "etc" / "slot-id").write_text(slot_id + "\n")
    (tree / "usr" / "bin").mkdir(parents=True)
    shutil.copy2(build_rootfs(binary) / "usr" / "bin" / "qemu-exit", tree / "usr" / "bin")
    install_binary(binary, tree, "/usr/sbin/imageinit")
    return tree


FIVE_LAYER_OCI = REPO / "tests" / "compose" / "make-five-layer-oci"


def _build_composed_image(binary: Path, slot_id: str) -> Path:
    compose = build_compose(binary)
    key = file_digest(binary, compose, FIVE_LAYER_OCI, REPO / "tests" / "compose" / "ocilayout.py",
                      GUEST / "init", Path(__file__), extra=slot_id)
    out = WORK / "images" / f"composed-{slot_id}.img"
    stamp = out.with_suffix(".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tree = agent_tree(binary, Path(tmp) / "agent", slot_id)
        oci = Path(tmp) / "oci"
        run([str(FIVE_LAYER_OCI), str(oci), "--agent-tree", str(tree)])
        env = dict(os.environ, SOURCE_DATE_EPOCH="0")
        r = run([str(compose), "--cache", str(WORK / "compose-cache"), "--check-with", str(binary),
                 str(oci), str(out)], env=env)
        log(f"composed {out.name}: " + r.stdout.strip().splitlines()[-1])
    stamp.write_text(key)
    return out
