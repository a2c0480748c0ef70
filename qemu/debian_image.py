"""A real distribution for the boot tests (issue 14): Debian 12 with systemd, built from Debian's
packages with debootstrap, layered into an OCI image by umoci (a tool nobody here wrote),
composed by imageinit-compose into an erofs slot image.

Layers: 1. the debootstrap tree (minbase + systemd, systemd-sysv, udev, dbus, openssh-server),
as a vendor ships it: no SSH host keys and an empty machine-id, so every device gets its own;
2. the vendor's part: imageinit, its systemd units (enabled), the mount spec
docs/examples/debian-systemd.fstab, and the harness's test unit (qemu/guest/imageinit-test.service
running qemu/guest/init) with qemu-exit. Everything is cached under qemu/work/debian/ by content:
the debootstrap tree (minutes, once), the OCI layout and the composed image (seconds to a minute).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import disks
import host
import images

PACKAGES = "systemd,systemd-sysv,udev,dbus,openssh-server"
SUITE = "bookworm"
DIR = host.WORK / "debian"
SPEC = host.REPO / "docs" / "examples" / "debian-systemd.fstab"
UNITS = [host.REPO / "systemd" / "imageinit-mark-good.service",
         host.REPO / "systemd" / "imageinit-reboot-unproven.service"]
TEST_UNIT = host.GUEST / "imageinit-test.service"
BENCH_UNIT = host.GUEST / "imageinit-bench.service"
# The benchmark's image carries a fixed identity, so that no variant pays for a first boot
# (an empty machine-id makes systemd run its first-boot setup; sshd needs host keys).
BENCH_MACHINE_ID = "0123456789abcdef0123456789abcdef"


# Installs PACKAGES into the tree ($1) in a private mount namespace with apt's shared caches
# ($2: archives/ and lists/ of tests/debian-base) mounted, as the package test does.
APT_IN_ROOT = r"""
r=$1 cache=$2; shift 2
mount -t proc proc "$r/proc"
mount -t sysfs sys "$r/sys"
mount --rbind /dev "$r/dev"
mount --bind "$cache/archives" "$r/var/cache/apt/archives"
mount --bind "$cache/lists" "$r/var/lib/apt/lists"
in_root() {
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}
install="apt-get install -y -q --no-install-recommends $*"
in_root sh -c "$install" || in_root sh -c "apt-get update -q && $install"
"""


def debootstrap_tree() -> Path:
    """The Debian root: the minbase root shared with the package test (tests/debian-base, one
    debootstrap for both), with PACKAGES installed by apt in a chroot. Built once; needs root
    and the Debian mirror."""
    root, stamp = DIR / "root", DIR / "root.key"
    with host.build_lock:
        base = Path(host.run([host.REPO / "tests" / "debian-base"], stderr=None).stdout.strip())
        key = f"{base.name} + apt-get install {PACKAGES}"
        if root.exists() and stamp.exists() and stamp.read_text() == key:
            return root
        DIR.mkdir(parents=True, exist_ok=True)
        new = DIR / "root.new"
        shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        new.mkdir()
        t0 = time.monotonic()
        host.log(f"Debian root: {base.name} + apt-get install {PACKAGES} (a few minutes, once)")
        host.run(["tar", "-C", new, "-xf", base])
        for deb in (new / "var/cache/apt/archives").glob("*.deb"):  # downloads are no content
            deb.unlink()
        # apt needs the build host's resolver; the image keeps the file debootstrap left.
        resolv = new / "etc/resolv.conf"
        kept = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
        resolv.unlink(missing_ok=True)
        shutil.copy2("/etc/resolv.conf", resolv)
        host.run(["unshare", "-m", "--propagation", "private", "--", "bash", "-euc", APT_IN_ROOT,
                  "_", new, base.parent, *PACKAGES.split(",")])
        resolv.unlink()
        if kept is not None:
            resolv.write_bytes(kept)
        for leftover in (new / "var/cache/apt").glob("*.bin"):  # nor are apt's caches
            leftover.unlink()
        new.rename(root)
        stamp.write_text(key)
        host.log(f"Debian root ready in {time.monotonic() - t0:.0f} s")
        return root


def vendor_tree(binary: Path, out: Path, slot_id: str, bench: bool = False) -> None:
    """Layer 2: imageinit, its units (enabled), the mount spec, and the harness's test unit (or,
    for qemu/bench, the benchmark's unit and a fixed identity)."""
    # The libraries it links come from Debian's own packages in layer 1 (the same release as
    # the build host); checked here so a missing one fails the build, not the boot.
    base = debootstrap_tree()
    for lib in images.shared_libs(binary):
        if not any((base / d / lib.name).exists() for d in ("usr/lib/x86_64-linux-gnu",
                                                             "lib/x86_64-linux-gnu", "lib64")):
            raise RuntimeError(f"the Debian tree lacks {lib.name}, which imageinit needs")
    (out / "usr/sbin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, out / "usr/sbin/imageinit")
    host.run(["strip", "--strip-unneeded", out / "usr/sbin/imageinit"])
    (out / "etc/imageinit").mkdir(parents=True, exist_ok=True)
    shutil.copy2(SPEC, out / "etc/imageinit/fstab")
    (out / "etc/slot-id").write_text(slot_id + "\n")
    units = out / "usr/lib/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    wants = out / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    harness_unit = BENCH_UNIT if bench else TEST_UNIT
    for unit in UNITS + [harness_unit]:
        shutil.copy2(unit, units / unit.name)
    for unit in ["imageinit-mark-good.service", harness_unit.name]:
        (wants / unit).symlink_to(f"/usr/lib/systemd/system/{unit}")
    if bench:
        (out / "etc/machine-id").write_text(BENCH_MACHINE_ID + "\n")
        (out / "etc/ssh").mkdir(parents=True, exist_ok=True)
        host.run(["ssh-keygen", "-A", "-f", out])
    # The harness owns the serial console: a getty there may hang up the test unit's output.
    (out / "etc/systemd/system/serial-getty@ttyS0.service").symlink_to("/dev/null")
    test = out / "usr/lib/imageinit-test"
    test.mkdir(parents=True, exist_ok=True)
    shutil.copy2(host.GUEST / "init", test / "init")
    os.chmod(test / "init", 0o755)
    shutil.copy2(images.build_rootfs(binary) / "usr/bin/qemu-exit", out / "usr/bin/qemu-exit")


def build_oci(binary: Path, oci: Path, slot_id: str, bench: bool = False) -> None:
    """Two layers written by umoci: unpack, fill the bundle's rootfs, repack (Debian 12's
    `umoci insert` writes tars without an end marker, a umoci bug; repack does not)."""
    base = debootstrap_tree()
    ref = f"{oci}:debian"
    with tempfile.TemporaryDirectory(dir=DIR) as tmp:
        bundle = Path(tmp) / "bundle"
        host.run(["umoci", "init", "--layout", oci])
        host.run(["umoci", "new", "--image", ref])
        host.run(["umoci", "unpack", "--image", ref, bundle])
        rootfs = bundle / "rootfs"
        host.run(["cp", "-a", f"{base}/.", f"{rootfs}/"])
        # A vendor's base layer: no per-device identity baked in.
        for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        (rootfs / "etc/machine-id").write_text("")
        host.run(["umoci", "repack", "--refresh-bundle", "--image", ref, bundle])
        vendor_tree(binary, rootfs, slot_id, bench)
        host.run(["umoci", "repack", "--image", ref, bundle])


def build_debian_image(binary: Path, slot_id: str = "DEB", fmt: str = "erofs",
                       bench: bool = False) -> Path:
    """The composed slot image (erofs, or squashfs: what dmsquash-live reads; linted by
    `imageinit check`), cached on its inputs. bench: qemu/bench's image (vendor_tree)."""
    compose = images.build_compose(binary)
    base = debootstrap_tree()
    key = host.file_digest(binary, compose, SPEC, TEST_UNIT, BENCH_UNIT, host.GUEST / "init",
                           *UNITS, Path(__file__),
                           extra=(DIR / "root.key").read_text() + slot_id + fmt + str(bench))
    name = f"debian-{slot_id}" + ("-bench" if bench else "") + ("" if fmt == "erofs" else f".{fmt}")
    out = DIR / f"{name}.img"
    stamp = out.with_name(out.name + ".key")
    with host.build_lock:
        if out.exists() and stamp.exists() and stamp.read_text() == key:
            return out
        with tempfile.TemporaryDirectory(dir=DIR) as tmp:
            oci = Path(tmp) / "oci"
            t0 = time.monotonic()
            build_oci(binary, oci, slot_id, bench)
            host.log(f"umoci wrote the OCI image in {time.monotonic() - t0:.0f} s")
            env = dict(os.environ, SOURCE_DATE_EPOCH="0")
            r = host.run([str(compose), "--format", fmt, "--cache",
                          str(host.WORK / "compose-cache"), "--check-with", str(binary),
                          "--ref", "debian", str(oci), str(out)], env=env)
            host.log(f"composed {out.name}: " + r.stdout.strip().splitlines()[-1])
        stamp.write_text(key)
        assert base.exists()
        return out


def debian_initrd(binary: Path, kernel: images.Kernel) -> Path:
    """The minimal initramfs that boots the Debian image: with the shipped hooks (machine-id,
    SSH host keys, growing PERSIST), their shell and resize2fs."""
    return images.build_initrd(binary, kernel, host.WORK / "initrd-debian.img",
                               ["--with-shell", "--hooks", str(host.REPO / "hooks"),
                                "--install", "resize2fs"])


def debian_disk(out: Path, image: Path) -> Path:
    """A disk with IMAGE in slot a, room on the state partition for an update of its size, and
    a 256 MiB PERSIST (the journal, /home, /root)."""
    return disks.build_disk(out, {"a": image}, persist_size=256 * host.MiB,
                            state_spare=image.stat().st_size + 48 * host.MiB)
