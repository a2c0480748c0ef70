"""QEMU scenarios for the TPM2-sealed persistent partition (issue 18 parts 2-3, docs/integrity.md
"TPM2"): a software TPM (swtpm) behind QEMU's tpm-crb, verity slots, a LUKS2 PERSIST whose key
is sealed to the slots' measurements. `tpm-kexec-slot-unseals` (at the end): a slot with its own
kernel unseals in the kexec'd boot. `tpm-sealed-persist`: four boots on the same disks and TPM
state, to keep the CI time small:

1. sealed to slot a (enroll-tpm on the host, against the same swtpm state): a unlocks with the
   TPM, a marker is written to PERSIST;
2. `imageinit install --verity B` into slot b (host, same TPM state and LUKS header): b boots
   and unlocks with the key sealed to its pre-computed measurement; the marker is there;
3. slot b overwritten behind imageinit's back with a foreign verity image: "TPM unseal failed",
   slot b fails, a boots in the same boot and unlocks;
4. the TPM's state deleted (a new TPM): "TPM unseal failed", the recovery key printed at
   enrolment is typed at the prompt, the marker is there.

The state and persistent partitions are separate whole-disk images here, so the host can
rewrite the state (the install, the foreign image) between boots while PERSIST keeps what the
guest wrote. Enrolment and install run on the host (the same code, through swtpm's socket
instead of /dev/tpmrm0): the guest image carries no libcryptsetup or tpm2-tss."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import guest_script
import host
import images
import vm
from disks import state_partition
from integrity_images import (MACHINE_KEY, PERSIST_CHECKS, luks_partition, unlock_ms,
                              verity_format)
from swtpm import Swtpm
from testkit import scenario


def host_imageinit(ctx, tpm_state: Path, persist: Path, args: list[str]) -> str:
    """The booted-OS command on the host, against the LUKS2 file and the swtpm state."""
    t = Swtpm(tpm_state, for_qemu=False)
    try:
        env = dict(os.environ, IMAGEINIT_PERSIST_DEVICE=str(persist),
                   IMAGEINIT_TPM=f"swtpm:host=127.0.0.1,port={t.port}")
        common = ["--state-dir", str(ctx.dir / "state"), "--run-dir", str(ctx.dir / "run"),
                  "--persist-dir", str(ctx.dir / "no-persist"), "--slot", "a"]
        # install mounts the image to check it: a private mount namespace.
        r = subprocess.run(["unshare", "-m", "--propagation", "private", str(ctx.binary),
                            *args, *common], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"imageinit {args[0]} on the host failed:\n{r.stdout}")
        return r.stdout
    finally:
        t.stop()


def tpm_boot(ctx, n: int, initrd: Path, persist: Path, tpm_state: Path, script: str,
             console=None, timeout: float = 150) -> vm.BootResult:
    t = Swtpm(tpm_state, for_qemu=True)
    try:
        ctl = guest_script.build_control_disk(ctx.dir / f"ctl{n}.img", script)
        state = state_partition(ctx.dir / f"state{n}.ext4", ctx.dir / "state")
        r = vm.boot(ctx.kernel, initrd, [state, persist, ctl],
                    ctx.dir / f"boot{n}.log", timeout=timeout, console_input=console,
                    qemu_args=t.qemu_args())
    finally:
        t.stop()
    ctx.boots.append(r)
    return r


def verity_image(ctx, slot_id: str, name: str) -> tuple[Path, str]:
    img = ctx.dir / "images" / f"{name}.img"
    img.parent.mkdir(exist_ok=True)
    shutil.copy2(ctx.image(slot_id=slot_id), img)
    return img, verity_format(img)


def put_slot(ctx, slot: str, img: Path, root: str) -> None:
    """Writes a slot's image and sidecars into the state directory (no enrolment)."""
    slots = ctx.dir / "state" / "slots"
    shutil.copy2(img, slots / f"{slot}.img")
    shutil.copy2(f"{img}.verity", slots / f"{slot}.img.verity")
    (slots / f"{slot}.img.roothash").write_text(root + "\n")


def sealed_to_proven_a(ctx, a_img: Path, a_root: str) -> tuple[Path, Path, str]:
    """The device both scenarios start from: slot a proven in the state directory, a LUKS2
    PERSIST with the machine key, enroll-tpm run against a new swtpm state. Returns PERSIST,
    the TPM state and enroll-tpm's output (the recovery key)."""
    (ctx.dir / "state" / "slots").mkdir(parents=True)
    (ctx.dir / "run").mkdir()
    put_slot(ctx, "a", a_img, a_root)
    host.run([ctx.binary, "mark-good", "--no-checks", "--state-dir", ctx.dir / "state",
              "--slot", "a"])
    persist = luks_partition(ctx, "persist", key=MACHINE_KEY)
    tpm_state = ctx.dir / "tpm"
    out = host_imageinit(ctx, tpm_state, persist,
                         ["enroll-tpm", "--key-file", str(ctx.dir / "key")])
    return persist, tpm_state, out


# After the hand-over PCR 15 holds "boot done" (the kernel's sysfs view of the sha256 bank).
BOOT_DONE_PCR15 = hashlib.sha256(
    b"\0" * 32 + hashlib.sha256(b"imageinit-boot-done").digest()).hexdigest()
MARKER_WRITE = PERSIST_CHECKS + f"""
check pcr15-boot-done sh -c "grep -qi {BOOT_DONE_PCR15} /sys/class/tpm/tpm0/pcr-sha256/15"
""" + """
echo sealed > /var/lib/test/tpm-marker
check marker-written file_is /var/lib/test/tpm-marker sealed
finish
"""
MARKER_KEPT = PERSIST_CHECKS + """
check marker-kept file_is /var/lib/test/tpm-marker sealed
finish
"""


@scenario("tpm-sealed-persist")
def tpm_sealed_persist(ctx):
    if not shutil.which("swtpm"):
        ctx.expect(False, "swtpm is not installed (tests/install-deps)")
    initrd = images.build_initrd(ctx.binary, ctx.kernel, host.WORK / "initrd-tpm.img",
                                 ["--with-tpm"])
    a_img, a_root = verity_image(ctx, "A", "a")
    b_img, b_root = verity_image(ctx, "B", "b")
    c_img, c_root = verity_image(ctx, "C", "foreign")
    persist, tpm_state, out = sealed_to_proven_a(ctx, a_img, a_root)
    m = re.search(r"\b([0-9a-f]{4}(?:-[0-9a-f]{4}){7})\b", out)
    ctx.expect(m is not None, f"enroll-tpm printed no recovery key:\n{out}")
    recovery = m.group(1)

    # 1. Sealed to slot a: a unlocks with the TPM (no key file in this initramfs).
    r = tpm_boot(ctx, 1, initrd, persist, tpm_state, MARKER_WRITE)
    ctx.expect_pass(r, "boot 1 (sealed to a)")
    u = unlock_ms(r.log)
    ctx.expect(u is not None and u[0].startswith("TPM2 (slot a)"),
               f"boot 1: PERSIST not unlocked by the TPM ({u})")
    print(f"  tpm-sealed-persist: TPM unlock under TCG: {u[0]} ({u[1]} ms)", flush=True)

    # 2. install into b enrols b's pre-computed measurement before the reboot.
    out = host_imageinit(ctx, tpm_state, persist, ["install", "--verity", str(b_img)])
    ctx.expect("sealed to the new image" in out, f"install did not enrol slot b:\n{out}")
    r = tpm_boot(ctx, 2, initrd, persist, tpm_state, MARKER_KEPT)
    ctx.expect_pass(r, "boot 2 (installed into b)")
    ctx.expect(r.booted_slot_id() == "B", f"boot 2 booted {r.booted_slot_id()}, expected B")
    u = unlock_ms(r.log)
    ctx.expect(u is not None and u[0].startswith("TPM2 (slot b)"),
               f"boot 2: slot b did not unlock with the TPM ({u})")

    # 3. A foreign image written into b behind imageinit's back never sees the data.
    put_slot(ctx, "b", c_img, c_root)
    r = tpm_boot(ctx, 3, initrd, persist, tpm_state, MARKER_KEPT)
    ctx.expect_pass(r, "boot 3 (foreign image in b)")
    ctx.expect("TPM unseal failed: no key is sealed to slot b" in r.log,
               "boot 3: no 'TPM unseal failed' for the foreign image")
    ctx.expect(r.booted_slot_id() == "A", f"boot 3 booted {r.booted_slot_id()}, expected A")
    ctx.expect("TEST: booted slot-id=C" not in r.log, "boot 3: the foreign image booted")

    # 4. A new TPM (state deleted): the recovery key typed at the prompt opens PERSIST.
    shutil.rmtree(tpm_state)
    r = tpm_boot(ctx, 4, initrd, persist, tpm_state, MARKER_KEPT,
                 console=[("Passphrase for", recovery + "\n")])
    ctx.expect_pass(r, "boot 4 (TPM cleared, recovery key)")
    ctx.expect("TPM unseal failed" in r.log, "boot 4: no 'TPM unseal failed'")
    m = re.search(r"unlocked as /dev/mapper/imageinit-persist \(passphrase, key slot \d+ "
                  r"\(argon2id\), (\d+) ms \(TPM unseal failed", r.log)
    ctx.expect(m is not None, "boot 4: not unlocked by the typed recovery key after the TPM")
    print(f"  tpm-sealed-persist: recovery key (argon2id) unlock under TCG: {m.group(1)} ms",
          flush=True)


@scenario("tpm-kexec-slot-unseals")
def tpm_kexec_slot_unseals(ctx):
    """docs/integrity.md, "A slot with its own kernel": slot a carries Debian's cloud kernel and
    an initramfs for it (--with-tpm). One QEMU run, two kernels: PID 1 of the first unseals with
    a's first key, loads a's kernel, extends PCR 15 with a's kexec measurement and kexecs; PID 1
    of a's kernel unseals PERSIST with a's kexec key (no recovery key, no degraded boot), and
    hands over with PCR 15 = extend(kexec(a), boot done)."""
    if not shutil.which("swtpm"):
        ctx.expect(False, "swtpm is not installed (tests/install-deps)")
    cloud = images.fetch_second_kernel()
    ctx.expect(cloud.kver != ctx.kernel.kver, "the second kernel is the same as the first")
    initrd = images.build_initrd(ctx.binary, ctx.kernel, host.WORK / "initrd-tpm.img",
                                 ["--with-tpm"])
    a_img = images.slot_image_with_kernel(ctx.binary, cloud, ctx.dir / "a-kernel.img",
                                          slot_id="A", initrd_args=("--with-tpm",))
    a_root = verity_format(a_img)
    persist, tpm_state, _ = sealed_to_proven_a(ctx, a_img, a_root)

    kexec = hashlib.sha256(f"imageinit-kexec:{a_root}".encode()).digest()
    pcr15 = hashlib.sha256(b"\0" * 32 + kexec).digest()
    pcr15 = hashlib.sha256(pcr15 + hashlib.sha256(b"imageinit-boot-done").digest()).hexdigest()
    script = PERSIST_CHECKS + f"""
check slot-a file_is /etc/slot-id A
check kexecd grep -q "imageinit.slot=a imageinit.kexec=a" /proc/cmdline
check cloud-kernel sh -c 'uname -r | grep -qx {cloud.kver}'
check pcr15-kexec-then-boot-done sh -c "grep -qi {pcr15} /sys/class/tpm/tpm0/pcr-sha256/15"
finish
"""
    r = tpm_boot(ctx, 1, initrd, persist, tpm_state, script, timeout=300)
    ctx.expect_pass(r, "boot (a through kexec)")
    unlocks = re.findall(r"unlocked as /dev/mapper/imageinit-persist \((.*?), (\d+) ms\)", r.log)
    ctx.expect(len(unlocks) == 2 and unlocks[0][0].startswith("TPM2 (slot a)"),
               f"the first PID 1 did not unseal with a's key: {unlocks}")
    ctx.expect(unlocks[-1][0].startswith("TPM2 (slot a, kexec'd)"),
               f"the kexec'd PID 1 did not unseal with a's kexec key: {unlocks}")
    ctx.expect("Type the recovery key" not in r.log, "a recovery prompt was shown")
    print(f"  tpm-kexec-slot-unseals: kexec'd TPM unlock under TCG: {unlocks[-1][0]} "
          f"({unlocks[-1][1]} ms)", flush=True)
