"""What every QEMU scenario module uses: the registry (@scenario), the Context a scenario gets
(its images, disks and boots), and the expectations that fail it with one clear line (a
ScenarioFailure). Scenario modules import this, never each other (qemu/catalog.py loads them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import vm
from disks import build_disk
from guest_script import build_control_disk
from images import ImageVariant, Kernel, build_image
from vm import BootResult

SCENARIOS: dict[str, Callable] = {}

# Scenarios left out of the default run (qemu/run-tests with no names, so tests/run-all and CI),
# each with the reason; name them to run them.
OPT_IN = {
    # Issue 16: the long power-cut campaign (one QEMU run killed per cut; ~1 min each under
    # TCG). CI's cuts are taken inside bootstrap-install-boot-update by copying the disk.
    "bootstrap-power-cuts",
}

# Never let the kernel rate-limit imageinit's lines on /dev/kmsg: the scenarios grep them.
DEVKMSG_ON = "printk.devkmsg=on"


def scenario(name: str):
    def register(fn):
        SCENARIOS[name] = fn
        return fn
    return register


class ScenarioFailure(Exception):
    pass


@dataclass
class Context:
    name: str
    kernel: Kernel
    initrd: Path
    binary: Path
    dir: Path
    boots: list = field(default_factory=list)

    def image(self, **kw) -> Path:
        return build_image(self.binary, ImageVariant(**kw))

    def disk(self, slots: dict[str, Path], persist: bool = True, name: str = "disk.img") -> Path:
        return build_disk(self.dir / name, slots, persist=persist)

    def boot(self, disk: Path | None, script: str, append: str = "", timeout: float = 90,
             hotplug: vm.Hotplug | None = None, files: dict[str, Path] | None = None,
             kill_after: float | None = None, *, initrd: Path | None = None,
             extra_disks: tuple = (), ctl_size: int | None = None, firmware: bool = False,
             **vm_args) -> BootResult:
        """Boot N of this scenario: run.sh = SCRIPT on ctlN.img, the serial log in bootN.log.
        Disks: DISK (unless it comes by HOTPLUG), the control disk, EXTRA_DISKS. firmware: OVMF
        starts DISK's boot loader. VM_ARGS go to vm.boot (memory, console_input, qemu_args...)."""
        n = len(self.boots) + 1
        ctl = build_control_disk(self.dir / f"ctl{n}.img", script, files=files, size=ctl_size)
        disks = ([disk] if disk is not None and hotplug is None else []) + [ctl] + \
            list(extra_disks)
        if firmware:
            vm_args["firmware"] = vm.ovmf_vars(self.dir / f"OVMF_VARS{n}.fd")
        r = vm.boot(self.kernel, initrd or self.initrd, disks, self.dir / f"boot{n}.log",
                    append=append, timeout=timeout, hotplug=hotplug, kill_after=kill_after,
                    **vm_args)
        self.boots.append(r)
        return r

    def expect(self, cond, what: str) -> None:
        if not cond:
            raise ScenarioFailure(what)

    def expect_pass(self, r: BootResult, what: str = "boot") -> None:
        if r.passed:
            return
        failed = [line for line in r.log.splitlines() if line.startswith("TEST: FAIL ")]
        if r.timed_out:
            why = "QEMU was killed by the timeout"
        elif "TEST: booted" not in r.log:
            why = f"the image's init never ran (QEMU exit {r.rc})"
        elif failed:
            why = "; ".join(f[len('TEST: FAIL '):] for f in failed)
        else:
            why = f"no pass verdict (QEMU exit {r.rc})"
        raise ScenarioFailure(f"{what}: {why}")

    def expect_failed_boot(self, r: BootResult, what: str) -> None:
        """The initramfs gave up: no image init ran, PID 1 did not die, QEMU exited by itself
        (imageinit's emergency policy reboots; -no-reboot turns that into an exit)."""
        self.expect("TEST: booted" not in r.log, f"{what}: an image booted anyway")
        self.expect(not r.timed_out, f"{what}: QEMU still running at the timeout "
                                     "(no reboot after the failure?)")
        self.expect("Kernel panic" not in r.log,
                    f"{what}: kernel panic (PID 1 exited?) instead of a controlled reboot")


def ab_boot(ctx: Context, disk: Path | None, script: str, append: str = "",
            extra_disks: tuple = (), files: dict | None = None, timeout: float = 120,
            devkmsg_on: bool = True) -> BootResult:
    """ctx.boot as the A/B scenarios boot: printk.devkmsg=on (unless devkmsg_on=False: the
    kernel's default rate limit) and 120 s."""
    return ctx.boot(disk, script, append=f"{DEVKMSG_ON if devkmsg_on else ''} {append}".strip(),
                    timeout=timeout, files=files, extra_disks=extra_disks)


def firmware_boot(ctx: Context, disk: Path, script: str, timeout: float = 300,
                  files: dict[str, Path] | None = None, **vm_args) -> BootResult:
    """OVMF + the disk (no -kernel): the firmware starts the disk's boot loader (1 GiB).
    VM_ARGS go to vm.boot (qemu_args: a TPM...)."""
    return ctx.boot(disk, script, timeout=timeout, files=files, memory=1024, firmware=True,
                    **vm_args)


def json_values(obj, key: str) -> list:
    """All values stored under `key` anywhere in a JSON document."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found += json_values(v, key)
    elif isinstance(obj, list):
        for v in obj:
            found += json_values(v, key)
    return found


def expect_status(ctx: Context, r: BootResult, name: str) -> dict:
    """The `status_json NAME` output of a boot: there, decodable, without a record warning."""
    st = r.status(name)
    ctx.expect(st, f"no parsable `imageinit status --json` output ({name})")
    ctx.expect(not st.get("record_warning"),
               f"status ({name}) warns about the record: {st.get('record_warning')!r}")
    return st


def slot_health(st: dict, slot: str) -> tuple[str | None, int, str]:
    s = st.get("slots", {}).get(slot, {})
    return s.get("health"), s.get("tries_left", 0), s.get("reason", "")


def expect_booted(ctx: Context, r: BootResult, slot: str, slot_id: str, what: str) -> dict:
    """The boot passed its guest steps, on `slot`, running the image whose slot-id is slot_id."""
    got_id = r.booted_slot_id()
    report = r.boot_json() or {}
    ctx.expect(got_id == slot_id and report.get("slot") == slot,
               f"{what}: expected image {slot_id} from slot {slot}, got image {got_id} from "
               f"slot {report.get('slot')} (QEMU exit {r.rc})")
    ctx.expect_pass(r, what)
    return report


def log_line(r: BootResult, pattern: str) -> str | None:
    return next((l for l in r.log.splitlines() if re.search(pattern, l)), None)


def expect_log(ctx: Context, r: BootResult, pattern: str, what: str) -> str:
    line = log_line(r, pattern)
    ctx.expect(line is not None, f"{what}: no line matching /{pattern}/ on the console")
    return line


def journal_has(st: dict, slot: str, outcome: str, reason_pattern: str = "") -> bool:
    return any(j.get("slot") == slot and j.get("outcome") == outcome
               and re.search(reason_pattern, f"{j.get('step', '')}: {j.get('reason', '')}")
               for j in st.get("journal", []))
