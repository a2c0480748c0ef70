"""QEMU scenario for issue 17: the demo disk booted with an initramfs that the installed Debian
packages built (tests/packaging/run-package-test passes each flavour with --initrd: the one of
imageinit-mkinitrd's kernel hook and the one of `dracut --add imageinit`).
Registered into testkit.SCENARIOS (qemu/catalog.py)."""

from __future__ import annotations

from guest_script import BASIC_CHECKS
from testkit import json_values, scenario


@scenario("installed-initramfs")
def installed_initramfs(ctx):
    """root=imageinit selects the dracut module in a dracut initramfs; imageinit as PID 1 of
    the minimal one ignores it (not an imageinit.* key). Without --initrd: the harness's own."""
    disk = ctx.disk({"a": ctx.image(slot_id="A"), "b": ctx.image(slot_id="B")})
    r = ctx.boot(disk, BASIC_CHECKS + """
check slot-id file_is /etc/slot-id A
check persist-mounted is_mounted /run/imageinit/persist
check tmp-is-tmpfs test "$(fstype_of /tmp)" = tmpfs
finish
""", timeout=180, append="root=imageinit rd.shell=0 rd.emergency=reboot")
    ctx.expect_pass(r)
    report = r.boot_json()
    ctx.expect(report is not None, "no parsable /run/imageinit/boot.json")
    ctx.expect("a" in json_values(report, "slot"), f"boot.json does not name slot a: {report}")
