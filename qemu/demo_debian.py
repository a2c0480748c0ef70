"""The story qemu/demo tells by default: a real Debian 12 with systemd (qemu/debian_image.py,
built from Debian's packages and layered by umoci), composed by imageinit-compose, booted through
imageinit's minimal initramfs with the shipped hooks. Boot 1 shows the running OS and installs an
update from inside; boot 2 runs the update, which the shipped mark-good unit proves. Both end
with `systemctl poweroff`. The checks are those of the debian-systemd scenario, fewer."""

from __future__ import annotations

import re
from pathlib import Path

import debian_image
import guest_script
import images
import vm

# `show CMD...`: run a command and put it and its output in the narrative.
SHOW = r"""
show() {
    echo "DEMO: \$ $*"
    out=$("$@" 2>&1); rc=$?
    [ -z "$out" ] || echo "$out" | sed 's/^/DEMO:   /'
    [ $rc = 0 ] || { echo "DEMO:   (exit status $rc)"; FAILED=1; }
}
state=$(systemctl is-system-running --wait 2>&1)
check system-running test "$state" = running
"""
POWEROFF = r"""
cd /
sync
if [ "$FAILED" = 0 ]; then echo "TEST: PASS"; else echo "TEST: FAIL"; fi
echo "DEMO: \$ systemctl poweroff"
systemctl poweroff
exec sleep infinity
"""

STORY = [
    ("factory state: Debian 12 in slot a, first boot (machine-id and SSH host keys made once)",
     r"""
show sh -c ". /etc/os-release; echo \$PRETTY_NAME; uname -r"
show systemctl is-system-running
show systemd-analyze
show sh -c "for m in / /etc /var /home; do findmnt -no TARGET,SOURCE,FSTYPE \$m; done"
show imageinit status
echo "notes of the user" > /home/notes.txt
show imageinit install /run/testctl/update.img --tries 2
show imageinit status
""", "a"),
    ("reboot into the update: slot b is tried, the shipped mark-good unit proves it", r"""
show systemctl status --no-pager --lines=0 imageinit-mark-good
show imageinit status
show cat /home/notes.txt
show journalctl --list-boots --no-pager
show systemd-analyze
""", "b"),
]


def tell(kernel: images.Kernel, binary: Path, workdir: Path, say=print) -> list[str]:
    """Runs the story; returns the problems (empty: the story went as told)."""
    image = debian_image.build_debian_image(binary)
    initrd = debian_image.debian_initrd(binary, kernel)
    workdir.mkdir(parents=True, exist_ok=True)
    disk = debian_image.debian_disk(workdir / "debian-disk.img", image)
    problems = []
    for n, (title, steps, slot) in enumerate(STORY, 1):
        say(f"\n── boot {n}: {title}")
        files = {"update.img": image} if "update.img" in steps else {}
        ctl = guest_script.build_control_disk(workdir / f"debian-ctl{n}.img",
                                              SHOW + steps + POWEROFF, files=files)
        r = vm.boot(kernel, initrd, [disk, ctl], workdir / f"debian-boot{n}.log",
                    append="printk.devkmsg=on", timeout=600, memory=1024)
        report = r.boot_json() or {}
        say(f"   booted slot {report.get('slot', '?')} ({report.get('why', '?')}), "
            f"QEMU ran {r.seconds:.0f} s")
        for line in r.log.splitlines():
            if line.startswith("DEMO: ") and not re.search(r"(writing|verifying) \d+%$", line):
                say("   " + line[6:])
        off = "reboot: Power down" in r.log
        say("   powered off by systemd" if off else "   !! no clean power-off")
        failed = [l[len("TEST: FAIL "):] for l in r.log.splitlines() if l.startswith("TEST: FAIL ")]
        if report.get("slot") != slot or failed or "TEST: PASS" not in r.log or not off:
            problems.append(f"boot {n}: slot {report.get('slot')} (expected {slot}), failed "
                            f"checks {failed or 'none'}, a command failed: "
                            f"{'TEST: PASS' not in r.log}, QEMU exit {r.rc} (log: {r.log_path})")
            say(f"   !! {problems[-1]}")
            for line in r.tail(25).splitlines():
                say("   | " + line)
            break
    return problems
