"""QEMU scenarios of issue 14: a real Debian 12 with systemd (qemu/debian_image.py), composed
from real OCI layers. debian-systemd boots it through the minimal initramfs with the shipped
hooks, powers it off through systemd, boots it again, then lets the shipped
imageinit-reboot-unproven.service reboot it. Checks: systemd reaches `running` with no failed
unit; machine-id, SSH host keys, /var (the journal's boot list grows), /home and /root persist;
/etc resets; the shipped mark-good unit proves the slot; every shutdown is clean (no "Failed
unmounting" line, a clean e2fsck of STATE and PERSIST afterwards). debian-dracut boots the same
image through a systemd dracut initramfs with the imageinit module.

Registered into scenarios.SCENARIOS (scenarios.py imports this module at its end).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import debian_image
import harness as h
from scenarios import Context, scenario

# TCG boots of a whole systemd distribution are slow, and a shared machine slower still.
TIMEOUT = 600
MEMORY = 1024

# Steps of every boot: wait for the boot to finish, report the state of systemd and the values
# that must persist, then power off through systemd (a real shutdown, whose log is checked).
REPORT = r"""
state=$(systemctl is-system-running --wait 2>&1)
echo "TEST: system-state $state"
check system-running test "$state" = running
echo "TEST: failed begin"; systemctl --failed --no-legend --plain; echo "TEST: failed end"
check no-failed-units test -z "$(systemctl --failed --no-legend --plain)"
check ssh-active systemctl is-active --quiet ssh
check mark-good-unit systemctl is-active --quiet imageinit-mark-good
check root-is-erofs test "$(fstype_of /)" = erofs
check var-is-overlay test "$(fstype_of /var)" = overlay
echo "TEST: machine-id $(cat /etc/machine-id)"
echo "TEST: ssh-key $(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2)"
echo "TEST: boots $(journalctl --list-boots --no-pager 2>/dev/null | grep -c .)"
echo "TEST: analyze $(systemd-analyze 2>&1 | head -1)"
echo "TEST: status begin"; imageinit status --json; echo "TEST: status end"
"""

POWEROFF = r"""
sync
if [ "$FAILED" = 0 ]; then echo "TEST: PASS"; else echo "TEST: FAIL"; fi
systemctl poweroff
exec sleep infinity
"""


REBOOT_UNPROVEN = r"""
systemctl is-system-running --wait >/dev/null
d=/run/systemd/system
mkdir -p $d/imageinit-mark-good.service.d $d/imageinit-reboot-unproven.service.d
printf '[Service]\nEnvironment=IMAGEINIT_REBOOT_GRACE=3\n' > $d/imageinit-reboot-unproven.service.d/grace.conf
exits() {
    printf '[Service]\nExecStart=\nExecStart=/bin/sh -c "exit %s"\n' "$1" > $d/imageinit-mark-good.service.d/test.conf
    systemctl daemon-reload
}
exits 1
systemctl restart imageinit-mark-good
i=0; while [ $i -lt 60 ] && ! journalctl -b -u imageinit-reboot-unproven | grep -q 'no reboot'; do sleep 1; i=$((i + 1)); done
journalctl -b -u imageinit-reboot-unproven --no-pager | tail -3
check exit-1-no-reboot sh -c "journalctl -b -u imageinit-reboot-unproven | grep -q 'mark-good failed (1): no reboot'"
exits 3
sync
if [ "$FAILED" = 0 ]; then echo "TEST: PASS"; else echo "TEST: FAIL"; fi
systemctl restart imageinit-mark-good
exec sleep infinity
"""


def value(r: h.BootResult, name: str) -> str:
    m = re.search(rf"TEST: {name} (\S+)", r.log)
    return m.group(1) if m else ""


def partition(disk: Path, n: int, out: Path) -> Path:
    """Partition N of a GPT disk file, copied out (for e2fsck on the host)."""
    table = json.loads(h.run(["sfdisk", "-J", disk]).stdout)["partitiontable"]
    p = table["partitions"][n - 1]
    h.run(["dd", f"if={disk}", f"of={out}", "bs=512", f"skip={p['start']}",
           f"count={p['size']}", "status=none"])
    return out


def expect_clean_poweroff(ctx: Context, r: h.BootResult, disk: Path, what: str) -> None:
    """The guest passed its steps and systemd powered it off cleanly."""
    failed = [l for l in r.log.splitlines() if l.startswith("TEST: FAIL ")]
    ctx.expect("TEST: PASS" in r.log and not failed,
               f"{what}: guest steps failed: {failed or 'no verdict'} (QEMU exit {r.rc}, "
               f"{r.seconds:.0f} s)")
    ctx.expect(r.rc == 0 and "reboot: Power down" in r.log,
               f"{what}: no clean power-off (QEMU exit {r.rc})")
    bad = [l for l in r.log.splitlines() if re.search(r"Failed unmounting|FAILED", l)]
    ctx.expect(not bad, f"{what}: the shutdown log has failures: {bad[:4]}")
    with tempfile.TemporaryDirectory(dir=ctx.dir) as tmp:
        for n, label in ((1, "STATE"), (2, "PERSIST")):
            img = partition(disk, n, Path(tmp) / f"{label}.ext4")
            fsck = h.run(["e2fsck", "-fn", img], check=False)
            ctx.expect(fsck.returncode == 0,
                       f"{what}: e2fsck -fn of {label} after power-off: {fsck.stdout[-600:]}")


@scenario("debian-systemd")
def debian_systemd(ctx):
    """Debian 12 + systemd from real OCI layers: running, no failed unit, persistence and
    resets across a reboot, clean shutdowns."""
    image = debian_image.build_debian_image(ctx.binary)
    hooks = h.REPO / "hooks"
    ctx.initrd = h.build_initrd(ctx.binary, ctx.kernel, h.WORK / "initrd-debian.img",
                                ["--with-shell", "--hooks", str(hooks), "--install", "resize2fs"])
    disk = h.build_disk(ctx.dir / "disk.img", {"a": image}, persist_size=256 * h.MiB)

    def boot(script: str) -> h.BootResult:
        n = len(ctx.boots) + 1
        ctl = h.build_control_disk(ctx.dir / f"ctl{n}.img", script)
        r = h.boot(ctx.kernel, ctx.initrd, [disk, ctl], ctx.dir / f"boot{n}.log",
                   append="printk.devkmsg=on", timeout=TIMEOUT, memory=MEMORY)
        ctx.boots.append(r)
        return r

    r = boot(REPORT + r"""
echo "changed at run time" > /etc/reset-me
echo kept > /home/kept.txt
echo kept > /root/kept.txt
""" + POWEROFF)
    expect_clean_poweroff(ctx, r, disk, "boot 1")
    ctx.expect(r.booted_slot_id() == "DEB", f"boot 1 ran image {r.booted_slot_id()}")
    first = {k: value(r, k) for k in ("machine-id", "ssh-key", "boots")}
    ctx.expect(re.fullmatch(r"[0-9a-f]{32}", first["machine-id"]),
               f"boot 1: machine-id {first['machine-id']!r}")
    ctx.expect(first["ssh-key"].startswith("SHA256:"), f"boot 1: ssh key {first['ssh-key']!r}")

    r = boot(REPORT + r"""
check etc-reset test ! -e /etc/reset-me
check home-kept file_is /home/kept.txt kept
check root-kept file_is /root/kept.txt kept
""" + POWEROFF)
    expect_clean_poweroff(ctx, r, disk, "boot 2")
    second = {k: value(r, k) for k in ("machine-id", "ssh-key", "boots")}
    ctx.expect(second["machine-id"] == first["machine-id"],
               f"machine-id changed: {first['machine-id']} -> {second['machine-id']}")
    ctx.expect(second["ssh-key"] == first["ssh-key"],
               f"SSH host key changed: {first['ssh-key']} -> {second['ssh-key']}")
    ctx.expect(first["boots"].isdigit() and second["boots"] == str(int(first["boots"]) + 1),
               f"journalctl --list-boots: {first['boots']} then {second['boots']}")

    # The shipped units' failure path, wired as systemd runs it: mark-good (its ExecStart
    # replaced by a drop-in) exits 1 (a proven slot: no reboot), then 3 (a required check failed
    # on a trying slot: imageinit-reboot-unproven reboots after the grace period, 3 s here).
    r = boot(REBOOT_UNPROVEN)
    ctx.expect("TEST: PASS" in r.log and "TEST: FAIL" not in r.log,
               f"boot 3: guest steps failed (QEMU exit {r.rc})")
    ctx.expect(r.rc == 0 and "reboot: Restarting system" in r.log,
               f"boot 3: mark-good exiting 3 did not reboot the machine (QEMU exit {r.rc})")


@scenario("debian-dracut")
def debian_dracut(ctx):
    """The same Debian image through a systemd-based dracut initramfs with the imageinit module
    (root=imageinit): running, no failed unit, a clean power-off."""
    import scenarios_dracut  # noqa: PLC0415  (its dracut builder; imported late: it registers)
    image = debian_image.build_debian_image(ctx.binary)
    ctx.initrd = scenarios_dracut.build_dracut_initrd(ctx, h.REPO / "hooks", systemd=True)
    disk = h.build_disk(ctx.dir / "disk.img", {"a": image}, persist_size=256 * h.MiB)
    ctl = h.build_control_disk(ctx.dir / "ctl1.img", REPORT + POWEROFF)
    r = h.boot(ctx.kernel, ctx.initrd, [disk, ctl], ctx.dir / "boot1.log",
               append="root=imageinit rd.shell=0 rd.emergency=reboot printk.devkmsg=on",
               timeout=TIMEOUT, memory=MEMORY)
    ctx.boots.append(r)
    expect_clean_poweroff(ctx, r, disk, "dracut boot")
    ctx.expect(r.booted_slot_id() == "DEB", f"dracut boot ran image {r.booted_slot_id()}")
