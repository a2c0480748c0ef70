"""Bootstrap with a TPM2-sealed PERSIST, booted through GRUB (issues 16 and 18): one scenario,
two QEMU runs on one disk and one swtpm state, to keep the CI time small.

1. OVMF + swtpm boot a medium made with `--bootloader grub --encrypt-persist=tpm2`: it installs
   onto the blank disk (slot a with verity sidecars, PERSIST LUKS2 with a key sealed to slot a's
   measurement), prints the recovery key once and powers off. On the host: no key file on STATE,
   an `imageinit-tpm2` token and two key slots in PERSIST's header (the format key is gone).
2. The disk alone: firmware -> GRUB (bootstrap's grub.cfg) -> the image's kernel and initramfs ->
   slot a; PERSIST unlocked by the TPM; a file written to a persistent path.
3. On the host, after that power-off, the printed recovery key opens PERSIST and the file is on
   it: persistence shown without a third boot (the host has no device-mapper, so the volume key
   is dumped with the recovery key and the ext4 inside decrypted in Python).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import host
from bootstrap_media import (DONE, blank_disk, build_medium, esp_file, image_with_kernel,
                             medium_boot, state_file_on)
from disks import partitions
from integrity_images import PERSIST_CHECKS, unlock_ms, xts_crypt
from swtpm import Swtpm
from testkit import firmware_boot, scenario

RECOVERY = re.compile(r"PERSIST recovery key[^\n]*\n\s*\n\s*([0-9a-f]{4}(?:-[0-9a-f]{4}){7})\s")


def with_tpm(tpm_state, run):
    """RUN(qemu_args) with an swtpm on TPM_STATE for that one QEMU process."""
    t = Swtpm(tpm_state, for_qemu=True)
    try:
        return run(t.qemu_args())
    finally:
        t.stop()


def persist_header(ctx, disk, part) -> tuple[str, Path]:
    """(luksDump, path of PERSIST copied out of DISK): the host reads the header without
    device-mapper."""
    out = ctx.dir / "persist.part"
    host.run(["dd", f"if={disk}", f"of={out}", "bs=512", f"skip={part['start']}",
           f"count={part['size']}", "status=none"])
    dump = host.run(["cryptsetup", "luksDump", out]).stdout
    return dump, out


def persist_file(ctx, persist: Path, recovery: str, path: str) -> bytes | None:
    """PATH inside the LUKS2 PERSIST, opened with the recovery key: the volume key dumped by
    cryptsetup, the data segment decrypted (aes-xts-plain64, 512-byte sectors, as
    os::luks_format makes it), the file read from the ext4 with debugfs."""
    vk_file = ctx.dir / "vk"
    host.run(["cryptsetup", "luksDump", "--batch-mode", "--dump-volume-key", "--volume-key-file",
           vk_file, "--key-file", "-", persist], input=recovery)
    vk = vk_file.read_bytes()
    vk_file.unlink()
    dump = host.run(["cryptsetup", "luksDump", persist]).stdout
    offset = int(re.search(r"Data segments:\s+0: crypt\s+offset: (\d+) \[bytes\]", dump).group(1))
    plain = ctx.dir / "persist.ext4"
    with open(persist, "rb") as f, open(plain, "wb") as out:
        f.seek(offset)
        xts_crypt(f, out, vk, decrypt=True)
    got = ctx.dir / "persist-file"
    got.unlink(missing_ok=True)
    subprocess.run(["debugfs", "-R", f"dump {path} {got}", plain], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    plain.unlink()
    if not got.exists():
        return None
    data = got.read_bytes()
    got.unlink()
    return data


@scenario("bootstrap-grub-tpm2-persist")
def bootstrap_grub_tpm2_persist(ctx):
    if not shutil.which("swtpm"):
        ctx.expect(False, "swtpm is not installed (tests/install-deps)")
    t0 = time.monotonic()
    # The image's own initramfs unlocks PERSIST on the device: TPM2 + device-mapper.
    a = image_with_kernel(ctx, "A", ("--with-tpm",))
    # A small PERSIST: quick to make in the guest and to decrypt on the host (step 3).
    medium = build_medium(ctx, a, extra=("--bootloader", "grub", "--encrypt-persist=tpm2",
                                         "--persist-size", "32M"))
    disk = blank_disk(ctx.dir / "device.img")
    tpm_state = ctx.dir / "tpm"
    prepared = time.monotonic() - t0

    # 1. The medium installs under the firmware, with the TPM.
    r = with_tpm(tpm_state, lambda q: medium_boot(ctx, disk, medium, qemu_args=q))
    ctx.expect(DONE in r.log, f"bootstrap did not finish (QEMU exit {r.rc}): "
               + " | ".join(r.log.splitlines()[-6:]))
    ctx.expect(not r.timed_out, "the medium did not power off after the bootstrap")
    total = re.search(r"bootstrap: done: .* \((\d+\.\d) s\)", r.log)
    seal = re.search(r"PERSIST sealed to the TPM2 \((\d+\.\d) s\)", r.log)
    rec = RECOVERY.search(r.log)
    ctx.expect(seal is not None, "the bootstrap log does not say PERSIST was sealed to the TPM")
    ctx.expect(rec is not None, "the bootstrap printed no recovery key")
    ctx.expect(r.log.count(rec.group(1)) == 1, "the recovery key was printed more than once")
    host.log(f"bootstrap-grub-tpm2-persist: medium run {r.seconds:.1f} s, imageinit bootstrap "
          f"{total.group(1) if total else '?'} s, of which TPM2 enrolment {seal.group(1)} s")

    # On the host: what the disk holds.
    parts = partitions(disk)
    ctx.expect(len(parts) == 3, f"the disk has {len(parts)} partitions, not 3")
    work = ctx.dir / "inspect"
    work.mkdir(exist_ok=True)
    ctx.expect(state_file_on(disk, parts[1], "/imageinit/persist.key", work) is None,
               "a key file for PERSIST was left on STATE")
    ctx.expect(state_file_on(disk, parts[1], "/slots/a.img.roothash", work),
               "slot a has no verity root hash (the TPM seals to it)")
    ctx.expect(esp_file(disk, parts[0]["start"], "loader/loader.conf") is None,
               "systemd-boot's menu is on the ESP: --bootloader grub was not used")
    dump, persist = persist_header(ctx, disk, parts[2])
    persist.unlink()
    ctx.expect("imageinit-tpm2" in dump, "PERSIST's header has no imageinit-tpm2 token")
    keyslots = re.findall(r"^\s+(\d+): luks2", dump, re.M)
    ctx.expect(len(keyslots) == 2, f"PERSIST has key slots {keyslots}: the sealed key and the "
               "recovery key expected (the key that formatted it destroyed)")

    # 2. The disk alone: firmware -> GRUB -> slot a, PERSIST unsealed by the TPM.
    r = with_tpm(tpm_state, lambda q: firmware_boot(ctx, disk, PERSIST_CHECKS + """
check through-grub grep -q BOOT_IMAGE=/imageinit/vmlinuz /proc/cmdline
check slot-a file_is /etc/slot-id A
echo sealed > /var/lib/test/tpm-marker
check marker-written file_is /var/lib/test/tpm-marker sealed
finish
""", qemu_args=q))
    ctx.expect_pass(r, "boot 2 (the installed disk through firmware + GRUB)")
    u = unlock_ms(r.log)
    ctx.expect(u is not None and u[0].startswith("TPM2 (slot a)"),
               f"boot 2: PERSIST was not unlocked by the TPM ({u})")
    boot_seconds = r.seconds

    # 3. After that power-off, on the host: the recovery key opens PERSIST, the file is there.
    _, persist = persist_header(ctx, disk, parts[2])
    marker = persist_file(ctx, persist, rec.group(1), "/shared/var/lib/test/tpm-marker")
    persist.unlink()
    ctx.expect(marker == b"sealed\n", f"the file written in boot 2 is not on PERSIST ({marker})")
    host.log(f"bootstrap-grub-tpm2-persist: TPM unlock {u[1]} ms under TCG; firmware + GRUB boot "
          f"{boot_seconds:.1f} s; preparation {prepared:.1f} s; scenario "
          f"{time.monotonic() - t0:.1f} s")
