"""QEMU scenarios for signed slots (issue 18 part 1, docs/integrity.md "Signed slots").
Registered into testkit.SCENARIOS (qemu/catalog.py imports this module).

Test certificates are made on the host with openssl at the first run (WORK/sign-keys, kept so
the cached initramfs stays valid); root hashes are signed with `imageinit sign`, as a vendor
would. One boot: a wrongly signed primary and an unsigned fallback are refused in the same boot,
a signed slot boots, and in it install refuses a wrongly signed image with the disk unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import host
from disks import build_disk
from guest_script import BASIC_CHECKS
from integrity_images import (cert, record_files, slot_copy, trust_initrd, verity_format,
                              verity_slot)
from testkit import scenario

@scenario("sign-bad-slots-fall-back-install-refuses")
def sign_bad_slots(ctx):
    """One boot (QEMU time is scarce). The initramfs trusts `vendor` and `rotated` (a key
    rotation). Primary a is signed by an untrusted key, b (good) has verity but no signature:
    both fail in the same boot with the reason in the journal, and the recovery image, signed
    by `rotated`, boots. In it, installing an image signed by `other` is refused before a byte
    is written: every file of the state partition is the same afterwards."""
    files = {**verity_slot(ctx, "A", "a", "other"), **verity_slot(ctx, "B", "b", None),
             **verity_slot(ctx, "R", "recovery", "rotated"), **record_files(ctx)}
    slots = {n: ctx.dir / f"{n}.img" for n in ("a", "b", "recovery")}
    disk = build_disk(ctx.dir / "disk.img", slots, state_files=files)
    new = slot_copy(ctx, "N", "new.img")
    Path(f"{new}.roothash").write_text(verity_format(new) + "\n")
    host.run([ctx.binary, "sign", new, "--key", cert("other")[0], "--cert", cert("other")[1]])
    ctl_files = {f"new.img{ext}": Path(f"{new}{ext}")
                 for ext in ("", ".verity", ".roothash", ".roothash.p7s")}
    # The test image is busybox, without libcrypto (imageinit dlopens it; a booted Debian has it).
    ctl_files["libcrypto.so.3"] = Path(subprocess.run(
        ["sh", "-c", "ldconfig -p | awk '/libcrypto\\.so\\.3 .*x86-64/ {print $NF; exit}'"],
        check=True, capture_output=True, text=True).stdout.strip()).resolve()
    digest = "find /run/imageinit/state -type f | sort | xargs sha256sum"
    script = BASIC_CHECKS + rf"""
check slot-id file_is /etc/slot-id R
check trust-published test -s /run/imageinit/trust.pem
{digest} > /run/state-before
check install-refused sh -c "! LD_LIBRARY_PATH=/run/testctl imageinit install /run/testctl/new.img > /run/install.out 2>&1"
cat /run/install.out
check install-reason grep -q "signed by none of the 2 trusted certificate(s); nothing was written" /run/install.out
check disk-unchanged sh -c "{digest} | cmp - /run/state-before"
finish
"""
    r = ctx.boot(disk, script, files=ctl_files, ctl_size=48 * host.MiB,
                 initrd=trust_initrd(ctx, "vendor", "rotated"))
    ctx.expect_pass(r)
    ctx.expect(r.booted_slot_id() == "R", f"booted {r.booted_slot_id()}, expected R (recovery)")
    ctx.expect("root hash signed by '/CN=rotated'" in r.log, "the log does not name the signer")
    status = r.log.split("TEST: imageinit status begin")[-1]
    for reason in ("signature of slot a's root hash: signed by none of the 2 trusted",
                   "signature of slot b's root hash: missing"):
        ctx.expect(reason in r.log, f"the boot log does not say '{reason}'")
        ctx.expect(reason in status, f"the journal (imageinit status) does not say '{reason}'")
