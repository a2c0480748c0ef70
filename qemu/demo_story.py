"""The A/B update story told by qemu/demo (and checked by the run-tests scenario of the same
name): v1 boots; v2 (composed by imageinit-compose from five OCI layers) is installed from inside
the guest, tried, proven; v3 is installed but never
proven, so the device comes back to v2 by itself; a v3 whose image got corrupted on disk fails
inside the initramfs and the device falls back in the same boot.

Each boot is one QEMU run on the same disk; the guest's steps come from the control disk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import disks
import guest_script
import images
import vm

STATUS = 'echo "TEST: status begin"; imageinit status 2>&1; echo "TEST: status end"\n'
# `show CMD...`: run a command and put it and its output in the narrative.
SHOW = r"""
show() {
    echo "DEMO: \$ $*"
    out=$("$@" 2>&1); rc=$?
    [ -z "$out" ] || echo "$out" | sed 's/^/DEMO:   /'
    [ $rc = 0 ] || { echo "DEMO:   (exit status $rc)"; FAILED=1; }
}
"""


@dataclass
class Boot:
    title: str
    script: str  # the guest's steps (run.sh after the prelude)
    expect_version: str  # /etc/slot-id of the image that must boot
    expect_slot: str  # the slot it must boot from
    files: tuple = ()  # image versions to put on the control disk as vN.img


STORY = [
    Boot("factory state: only v1, in slot a; v2 is composed from five OCI layers", STATUS + """
check v1 file_is /etc/slot-id v1
show imageinit mark-good
show imageinit install /run/testctl/v2.img --tries 2
""" + STATUS + "finish\n", "v1", "a", ("v2",)),
    Boot("reboot into the update: v2 is tried", STATUS + """
check v2 file_is /etc/slot-id v2
check v2-composed test -f /usr/share/imageinit-e2e/layer5-oem
echo "DEMO: v2 (base OS + distribution + components + host agent + OEM layers) is up"
echo "DEMO: v2 health check passed: marking it good"
show imageinit mark-good
""" + STATUS + "finish\n", "v2", "b"),
    Boot("v2 is proven; install v3 (1 try)", """
check v2 file_is /etc/slot-id v2
show imageinit install /run/testctl/v3.img --tries 1
""" + STATUS + "finish\n", "v2", "b", ("v3",)),
    Boot("reboot into v3: its health check fails, it is never marked good", STATUS + """
check v3 file_is /etc/slot-id v3
echo "DEMO: v3 health check FAILED: not marking it good; rebooting"
finish
""", "v3", "a"),
    Boot("v3 used its only try: back on v2 without anyone at the device", STATUS + """
check v2 file_is /etc/slot-id v2
echo "DEMO: installing v3 again (3 tries), then corrupting it on the state partition"
show imageinit install /run/testctl/v3.img --tries 3
dd if=/dev/zero of=/run/imageinit/state/slots/a.img bs=64k count=16 conv=notrunc 2>/dev/null
sync
finish
""", "v2", "b", ("v3",)),
    Boot("corrupted v3 fails inside the initramfs: fallback in the same boot", STATUS + """
check v2 file_is /etc/slot-id v2
finish
""", "v2", "b"),
]


def build_versions(binary: Path) -> dict[str, Path]:
    """v2, the update that gets proven, is composed by imageinit-compose from a five-layer OCI
    image (base OS, distribution, system components, host agent, OEM); v1 and v3 are the
    harness's plain test images."""
    versions = {v: images.build_image(binary, images.ImageVariant(fmt="squashfs", slot_id=v))
                for v in ("v1", "v3")}
    versions["v2"] = images.build_composed_image(binary, "v2")
    return versions


def tell(kernel: images.Kernel, initrd: Path, binary: Path, workdir: Path,
         say=print, results: list | None = None) -> list[str]:
    """Runs the story; returns the list of problems (empty: the story went as told).
    Each boot's BootResult is appended to results when given."""
    versions = build_versions(binary)
    workdir.mkdir(parents=True, exist_ok=True)
    disk = disks.build_disk(workdir / "demo-disk.img", {"a": versions["v1"]})
    problems = []
    for n, step in enumerate(STORY, 1):
        say(f"\n── boot {n}: {step.title}")
        ctl = guest_script.build_control_disk(workdir / f"ctl{n}.img", SHOW + step.script,
                                              files={f"{v}.img": versions[v] for v in step.files})
        r = vm.boot(kernel, initrd, [disk, ctl], workdir / f"boot{n}.log", timeout=120)
        if results is not None:
            results.append(r)
        version = r.booted_slot_id()
        report = r.boot_json() or {}
        slot = report.get("slot") if isinstance(report.get("slot"), str) else None
        say(f"   booted {version or 'nothing'} from slot {slot or '?'} in {r.seconds:.1f} s "
            f"(QEMU exit {r.rc})")
        for fb in fallbacks(report):
            say(f"   fallback on the way: {fb}")
        for line in r.log.splitlines():
            if line.startswith("DEMO: ") and not re.search(r"(writing|verifying) \d?\d%$", line):
                say("   " + line[6:])
        sections = re.findall(r"TEST: status begin\n(.*?)TEST: status end", r.log, re.S)
        status = sections[-1].strip().splitlines() if sections else []
        if status:
            say("   imageinit status:")
            for line in status:
                say("     " + line)
        if version != step.expect_version or (slot and slot != step.expect_slot):
            problems.append(f"boot {n}: expected {step.expect_version} from slot "
                            f"{step.expect_slot}, got {version} from slot {slot}")
        elif not r.passed:
            failed = [l[len("TEST: FAIL "):] for l in r.log.splitlines()
                      if l.startswith("TEST: FAIL ")]
            problems.append(f"boot {n}: guest steps failed: {', '.join(failed) or r.rc} "
                            f"(log: {r.log_path})")
        if problems:
            say(f"   !! {problems[-1]}")
            say("   last lines of the serial log:")
            for line in r.tail(25).splitlines():
                say("   | " + line)
            break
    return problems


def fallbacks(report: dict) -> list[str]:
    """Human lines for the fallbacks the boot report lists (whatever their exact shape)."""
    out = []
    for key in ("fallbacks", "attempts", "failed"):
        items = report.get(key)
        if isinstance(items, list):
            for it in items:
                if isinstance(it, dict):
                    out.append(", ".join(f"{k}={v}" for k, v in it.items()
                                         if not isinstance(v, (dict, list))))
                else:
                    out.append(str(it))
    return out
