"""QEMU scenarios of issue 14: a real Debian 12 with systemd (qemu/debian_image.py), composed
from real OCI layers. debian-systemd boots it through the minimal initramfs with the shipped
hooks twice: slot a installs an update from inside and powers off through systemd; slot b is
proven by the shipped mark-good unit, then the shipped imageinit-reboot-unproven.service
reboots it. Checks: systemd reaches `running` with no failed unit; machine-id, SSH host keys,
/var (the journal's boot list grows), /home and /root persist; /etc resets; every shutdown is
clean (nothing but systemd-shutdown's expected lines about the state partition, a clean e2fsck
of STATE and PERSIST afterwards). debian-dracut boots the same image through a systemd dracut
initramfs with the imageinit module.

Registered into testkit.SCENARIOS (qemu/catalog.py imports this module).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import debian_image
import disks
import host
import images
from testkit import DEVKMSG_ON, Context, scenario
from vm import BootResult

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


# The shipped units' failure path, wired as systemd runs it, on a slot mark-good has proven:
# mark-good (its ExecStart replaced by a drop-in) exits 1 (a proven slot: the OnFailure= unit
# says "no reboot"), then 3 (a required check failed on a trying slot:
# imageinit-reboot-unproven reboots after the grace period, 3 s here).
REBOOT_UNPROVEN = r"""
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

# What systemd-shutdown's last loop still says after a clean shutdown: the state partition
# carries the running image's file, so the loop device under / keeps it busy until power-off.
# It is remounted read-only first (REMOUNTED_STATE; e2fsck checks it afterwards). Every other
# unmount failure, FAILED line or "target is busy" fails the scenario (docs/debian.md).
REMOUNTED_STATE = "Remounting '/run/imageinit/state' read-only"
EXPECTED_SHUTDOWN_LINES = [
    r"Failed to unmount /run/imageinit/state: Device or resource busy",
    r"Not all file systems unmounted, 1 left\.",
    r"Not all loop devices detached, 1 left\.",
    r"Cannot finalize remaining file systems, loop devices, continuing\.",
    r"Failed to finalize file systems, loop devices, ignoring\.",
]
SHUTDOWN_PROBLEM = re.compile(r"FAILED|[Ff]ail|target is busy|[Bb]usy|Not all|Cannot finalize")


def value(r: BootResult, name: str) -> str:
    m = re.search(rf"TEST: {name} (\S+)", r.log)
    return m.group(1) if m else ""


def status(r: BootResult, name: str) -> dict:
    """The `imageinit status --json` printed between "TEST: NAME begin" and "end", decoded."""
    return host.json_object(r.section(name)) or {}


def shutdown_problems(log: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """The lines from "TEST: PASS" on (the shutdown) that report a problem, minus exactly the
    expected ones of systemd-shutdown about the state partition and ALLOWED (patterns)."""
    tail = log[log.find("TEST: PASS"):]
    bad = []
    for line in tail.splitlines():
        if line.startswith("TEST: ") or not SHUTDOWN_PROBLEM.search(line):
            continue
        if not any(re.search(p, line) for p in [*EXPECTED_SHUTDOWN_LINES, *allowed]):
            bad.append(line.strip())
    return bad


def expect_clean_shutdown(ctx: Context, r: BootResult, disk: Path, what: str,
                          end: str = "reboot: Power down", allowed: tuple[str, ...] = ()) -> None:
    """The guest passed its steps, systemd shut down cleanly (nothing but the expected lines
    about the state partition), QEMU ended by END, and both file systems are clean."""
    failed = [l for l in r.log.splitlines() if l.startswith("TEST: FAIL")]
    ctx.expect("TEST: PASS" in r.log and not failed,
               f"{what}: guest steps failed: {failed or 'no verdict'} (QEMU exit {r.rc}, "
               f"{r.seconds:.0f} s)")
    ctx.expect(r.rc == 0 and end in r.log, f"{what}: QEMU did not end by {end!r} (exit {r.rc})")
    bad = shutdown_problems(r.log, allowed)
    ctx.expect(not bad, f"{what}: the shutdown log has failures: {bad[:4]}")
    if end == "reboot: Power down":
        ctx.expect(REMOUNTED_STATE in r.log,
                   f"{what}: systemd-shutdown did not remount the state partition read-only")
    with tempfile.TemporaryDirectory(dir=ctx.dir) as tmp:
        for n, label in ((1, "STATE"), (2, "PERSIST")):
            img = disks.copy_partition(disk, n, Path(tmp) / f"{label}.ext4")
            fsck = host.run(["e2fsck", "-fn", img], check=False)
            ctx.expect(fsck.returncode == 0,
                       f"{what}: e2fsck -fn of {label} after the shutdown: {fsck.stdout[-600:]}")


def slot(st: dict, name: str) -> tuple:
    s = st.get("slots", {}).get(name, {})
    return s.get("health"), s.get("tries_left", 0)


@scenario("debian-systemd")
def debian_systemd(ctx):
    """Debian 12 + systemd from real OCI layers, two boots: running with no failed unit; an
    update installed from inside, booted, proven by the shipped unit; identity, journal and
    users' files kept, /etc reset; clean shutdowns; the shipped units' reboot of an unproven
    slot."""
    image = debian_image.build_debian_image(ctx.binary)
    ctx.initrd = debian_image.debian_initrd(ctx.binary, ctx.kernel)
    disk = debian_image.debian_disk(ctx.dir / "disk.img", image)

    def boot(script: str, files: dict | None = None) -> BootResult:
        return ctx.boot(disk, script, append=DEVKMSG_ON, timeout=TIMEOUT, files=files,
                        memory=MEMORY)

    # Boot 1 (slot a, the first boot: the hooks make machine-id and the SSH host keys): files
    # that must persist or reset, then an update installed from inside. The update is the same
    # image (what matters here is the OS's path through install, reboot and mark-good; the A/B
    # scenarios install other images).
    r = boot(REPORT + r"""
echo "changed at run time" > /etc/reset-me
echo kept > /home/kept.txt
echo kept > /root/kept.txt
check install-b imageinit install /run/testctl/b.img --tries 3
echo "TEST: after-install begin"; imageinit status --json; echo "TEST: after-install end"
cd /
""" + POWEROFF, files={"b.img": image})
    expect_clean_shutdown(ctx, r, disk, "boot 1")
    ctx.expect((r.boot_json() or {}).get("slot") == "a", "boot 1 did not boot slot a")
    first = {k: value(r, k) for k in ("machine-id", "ssh-key", "boots")}
    ctx.expect(re.fullmatch(r"[0-9a-f]{32}", first["machine-id"]),
               f"boot 1: machine-id {first['machine-id']!r}")
    ctx.expect(first["ssh-key"].startswith("SHA256:"), f"boot 1: ssh key {first['ssh-key']!r}")
    st = status(r, "after-install")
    ctx.expect(st.get("primary") == "b" and slot(st, "b") == ("trying", 3),
               f"after install: primary {st.get('primary')}, b {slot(st, 'b')}")

    # Boot 2 (slot b, trying): the shipped mark-good unit proves it; identity, journal and the
    # users' files came along, /etc is the image's again; then the units' failure path, which
    # ends in a reboot.
    r = boot(REPORT + r"""
check etc-reset test ! -e /etc/reset-me
check home-kept file_is /home/kept.txt kept
check root-kept file_is /root/kept.txt kept
""" + REBOOT_UNPROVEN)
    # The mark-good failure (exit 3) that starts the reboot is the test's own.
    expect_clean_shutdown(ctx, r, disk, "boot 2", end="reboot: Restarting system",
                          allowed=(r"imageinit-mark-good|mark-good failed \(3\)",))
    report = r.boot_json() or {}
    ctx.expect(report.get("slot") == "b" and "trying" in report.get("why", ""),
               f"boot 2: slot {report.get('slot')} ({report.get('why')}), not b as trying")
    second = {k: value(r, k) for k in ("machine-id", "ssh-key", "boots")}
    ctx.expect(second["machine-id"] == first["machine-id"],
               f"machine-id changed: {first['machine-id']} -> {second['machine-id']}")
    ctx.expect(second["ssh-key"] == first["ssh-key"],
               f"SSH host key changed: {first['ssh-key']} -> {second['ssh-key']}")
    ctx.expect(first["boots"].isdigit() and second["boots"] == str(int(first["boots"]) + 1),
               f"journalctl --list-boots: {first['boots']} then {second['boots']}")
    st = status(r, "status")
    ctx.expect(st.get("running") == "b" and st.get("primary") == "b" and
               slot(st, "b")[0] == "good" and slot(st, "a")[0] == "good",
               f"after the shipped mark-good unit on b: running {st.get('running')}, primary "
               f"{st.get('primary')}, a {slot(st, 'a')}, b {slot(st, 'b')}")


@scenario("debian-dracut")
def debian_dracut(ctx):
    """The same Debian image through a systemd-based dracut initramfs with the imageinit module
    (root=imageinit): running, no failed unit, a clean power-off."""
    image = debian_image.build_debian_image(ctx.binary)
    ctx.initrd = images.build_dracut_initrd(ctx.binary, ctx.kernel, host.REPO / "hooks",
                                            systemd=True)
    disk = disks.build_disk(ctx.dir / "disk.img", {"a": image}, persist_size=256 * host.MiB)
    r = ctx.boot(disk, REPORT + POWEROFF, timeout=TIMEOUT, memory=MEMORY,
                 append="root=imageinit rd.shell=0 rd.emergency=reboot printk.devkmsg=on")
    expect_clean_shutdown(ctx, r, disk, "dracut boot")
    ctx.expect(r.booted_slot_id() == "DEB", f"dracut boot ran image {r.booted_slot_id()}")
