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
import re
import shutil
import tempfile
from pathlib import Path

import harness as h

PACKAGES = "systemd,systemd-sysv,udev,dbus,openssh-server"
SUITE = "bookworm"
DIR = h.WORK / "debian"
SPEC = h.REPO / "docs" / "examples" / "debian-systemd.fstab"
UNITS = [h.REPO / "systemd" / "imageinit-mark-good.service",
         h.REPO / "systemd" / "imageinit-reboot-unproven.service"]
TEST_UNIT = h.GUEST / "imageinit-test.service"


def mirror() -> str:
    """IMAGEINIT_DEBIAN_MIRROR, else the first Debian URI apt uses here, else deb.debian.org."""
    if os.environ.get("IMAGEINIT_DEBIAN_MIRROR"):
        return os.environ["IMAGEINIT_DEBIAN_MIRROR"]
    for src in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if src.exists():
            m = re.search(r"^(?:URIs:|deb)\s+(\S+/debian)\s", src.read_text(), re.M)
            if m:
                return m.group(1)
    return "http://deb.debian.org/debian"


def debootstrap_tree() -> Path:
    """The Debian root, built once (debootstrap needs root and the Debian mirror)."""
    root, stamp = DIR / "root", DIR / "root.key"
    key = f"{SUITE} minbase {PACKAGES}"
    with h._build_lock:
        if root.exists() and stamp.exists() and stamp.read_text() == key:
            return root
        DIR.mkdir(parents=True, exist_ok=True)
        new = DIR / "root.new"
        shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        h.log(f"debootstrap {SUITE} (minbase + {PACKAGES}) from {mirror()}: a few minutes, once")
        h.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, new, mirror()])
        # apt's downloaded packages are not part of an image.
        for deb in (new / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        new.rename(root)
        stamp.write_text(key)
        return root


def vendor_tree(binary: Path, out: Path, slot_id: str) -> None:
    """Layer 2: imageinit, its units (enabled), the mount spec, and the harness's test unit."""
    # The libraries it links come from Debian's own packages in layer 1 (the same release as
    # the build host); checked here so a missing one fails the build, not the boot.
    base = debootstrap_tree()
    for lib in h.shared_libs(binary):
        if not any((base / d / lib.name).exists() for d in ("usr/lib/x86_64-linux-gnu",
                                                             "lib/x86_64-linux-gnu", "lib64")):
            raise RuntimeError(f"the Debian tree lacks {lib.name}, which imageinit needs")
    (out / "usr/sbin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, out / "usr/sbin/imageinit")
    h.run(["strip", "--strip-unneeded", out / "usr/sbin/imageinit"])
    (out / "etc/imageinit").mkdir(parents=True, exist_ok=True)
    shutil.copy2(SPEC, out / "etc/imageinit/fstab")
    (out / "etc/slot-id").write_text(slot_id + "\n")
    units = out / "usr/lib/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    wants = out / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in UNITS + [TEST_UNIT]:
        shutil.copy2(unit, units / unit.name)
    for unit in ["imageinit-mark-good.service", TEST_UNIT.name]:
        (wants / unit).symlink_to(f"/usr/lib/systemd/system/{unit}")
    # The harness owns the serial console: a getty there may hang up the test unit's output.
    (out / "etc/systemd/system/serial-getty@ttyS0.service").symlink_to("/dev/null")
    test = out / "usr/lib/imageinit-test"
    test.mkdir(parents=True, exist_ok=True)
    shutil.copy2(h.GUEST / "init", test / "init")
    os.chmod(test / "init", 0o755)
    shutil.copy2(h.build_rootfs(binary) / "usr/bin/qemu-exit", out / "usr/bin/qemu-exit")


def build_oci(binary: Path, oci: Path, slot_id: str) -> None:
    """Two layers written by umoci: unpack, fill the bundle's rootfs, repack (Debian 12's
    `umoci insert` writes tars without an end marker, a umoci bug; repack does not)."""
    base = debootstrap_tree()
    ref = f"{oci}:debian"
    with tempfile.TemporaryDirectory(dir=DIR) as tmp:
        bundle = Path(tmp) / "bundle"
        h.run(["umoci", "init", "--layout", oci])
        h.run(["umoci", "new", "--image", ref])
        h.run(["umoci", "unpack", "--image", ref, bundle])
        rootfs = bundle / "rootfs"
        h.run(["cp", "-a", f"{base}/.", f"{rootfs}/"])
        # A vendor's base layer: no per-device identity baked in.
        for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        (rootfs / "etc/machine-id").write_text("")
        h.run(["umoci", "repack", "--refresh-bundle", "--image", ref, bundle])
        vendor_tree(binary, rootfs, slot_id)
        h.run(["umoci", "repack", "--image", ref, bundle])


def build_debian_image(binary: Path, slot_id: str = "DEB") -> Path:
    """The composed erofs slot image (linted by `imageinit check`), cached on its inputs."""
    build = binary.parent.parent  # BUILD/src/imageinit
    compose = build / "src" / "compose" / "imageinit-compose"
    if not compose.exists():
        h.run(["ninja", "-C", str(build), "src/compose/imageinit-compose"])
    base = debootstrap_tree()
    key = h.file_digest(binary, compose, SPEC, TEST_UNIT, h.GUEST / "init", *UNITS,
                        Path(__file__), extra=(DIR / "root.key").read_text() + slot_id)
    out = DIR / f"debian-{slot_id}.img"
    stamp = out.with_name(out.name + ".key")
    with h._build_lock:
        if out.exists() and stamp.exists() and stamp.read_text() == key:
            return out
        with tempfile.TemporaryDirectory(dir=DIR) as tmp:
            oci = Path(tmp) / "oci"
            build_oci(binary, oci, slot_id)
            env = dict(os.environ, SOURCE_DATE_EPOCH="0")
            r = h.run([str(compose), "--cache", str(h.WORK / "compose-cache"), "--check-with",
                       str(binary), "--ref", "debian", str(oci), str(out)], env=env)
            h.log(f"composed {out.name}: " + r.stdout.strip().splitlines()[-1])
        stamp.write_text(key)
        assert base.exists()
        return out
