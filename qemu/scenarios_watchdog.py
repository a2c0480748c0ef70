"""QEMU scenarios of issue 19 (hardware watchdog): QEMU's i6300esb with `-action watchdog=reset`.

An update whose init hangs before it is marked good: the watchdog that PID 1 armed and handed
over resets the machine, each reset is the counted failed try of that slot, and once its tries
are used up the proven slot boots with the journal naming the watchdog. These boots run in ONE
QEMU process without -no-reboot: the i6300esb keeps its "previous reboot" flag across a reset
(not across a new QEMU), which is how the driver reports WDIOF_CARDRESET.

Registered into testkit.SCENARIOS (qemu/catalog.py imports this module).
"""

from __future__ import annotations

import re

from testkit import (DEVKMSG_ON, Context, ab_boot, expect_booted, expect_log, expect_status,
                     journal_has, scenario, slot_health)
from vm import BootResult

WATCHDOG = ("-device", "i6300esb", "-action", "watchdog=reset")
TIMEOUT_SEC = 15  # imageinit.watchdog for these boots: short, but longer than a TCG boot step

# In the booted image: the watchdog's state as sysfs shows it.
WATCHDOG_SYSFS = "/sys/class/watchdog/watchdog0"


def watchdog_boot(ctx: Context, disk, script: str, append: str, reboot: bool,
                  timeout: float) -> BootResult:
    return ctx.boot(disk, script, append=f"{DEVKMSG_ON} {append}", timeout=timeout,
                    qemu_args=WATCHDOG, reboot=reboot)


@scenario("watchdog-reset-falls-back")
def watchdog_reset_falls_back(ctx):
    """B installed with 2 tries hangs in its init: the watchdog resets the machine twice (each
    reset the failed try of B, journal "watchdog reset"), then A boots by itself; the watchdog
    reached A's init armed with PID 1's timeout, and its boot status says card reset."""
    tries = 2
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    r = ab_boot(ctx, disk, f"""
check mark-good-a imageinit mark-good
check install-b imageinit install /run/testctl/b.img --tries {tries}
finish
""", files={"b.img": ctx.image(slot_id="B")})
    expect_booted(ctx, r, "a", "A", "boot 1 (A installs B)")

    r = watchdog_boot(ctx, disk, f"""
if slot_is b; then
    echo "TEST: slot b hangs before it is marked good"
    while :; do sleep 1000; done
fi
check wd-active file_is {WATCHDOG_SYSFS}/state active
check wd-timeout file_is {WATCHDOG_SYSFS}/timeout {TIMEOUT_SEC}
check wd-card-reset file_is {WATCHDOG_SYSFS}/bootstatus 32
# Feed it from here on: this test image has no systemd to take it over.
(while :; do printf x >/dev/watchdog0; sleep 2; done) &
status_json s
status_text
finish
""", append=f"imageinit.watchdog={TIMEOUT_SEC} imageinit.timeout=12", reboot=True,
        timeout=420)
    booted = re.findall(r"TEST: booted slot-id=(\S+)", r.log)
    ctx.expect(booted == ["B"] * tries + ["A"],
               f"images booted in this run: {booted}, expected {['B'] * tries + ['A']} "
               f"(QEMU exit {r.rc})")
    ctx.expect_pass(r, "the boot after B's tries")
    armed = expect_log(ctx, r, r"imageinit: watchdog: armed /dev/watchdog0", "watchdog armed")
    ctx.expect(f"with {TIMEOUT_SEC} s" in armed, f"armed with another timeout: {armed}")
    expect_log(ctx, r, r"watchdog did not stop", "hand-over without magic close")
    expect_log(ctx, r, r"imageinit: the last boot of slot b ended in a watchdog reset",
               "reset recorded")
    st = expect_status(ctx, r, "s")
    resets = [j for j in st.get("journal", [])
              if j.get("slot") == "b" and j.get("reason") == "watchdog reset"]
    ctx.expect(len(resets) == tries and all(j.get("outcome") == "failed" and
                                            j.get("step") == "watchdog" for j in resets),
               f"the journal should hold {tries} failed tries of b at step watchdog: "
               f"{st.get('journal')}")
    ctx.expect(slot_health(st, "b") == ("bad", 0, "boot attempts exhausted"),
               f"b is {slot_health(st, 'b')}, expected bad: boot attempts exhausted")
    ctx.expect(journal_has(st, "b", "exhausted"), f"no 'exhausted' entry: {st.get('journal')}")
    text = r.section("status-text")
    ctx.expect("watchdog reset" in text, f"`imageinit status` does not name the watchdog:\n{text}")


@scenario("watchdog-off")
def watchdog_off(ctx):
    """imageinit.watchdog=0 with a watchdog present: PID 1 leaves it alone (inactive in the
    booted image) and says so."""
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    r = watchdog_boot(ctx, disk, f"""
check wd-present test -d {WATCHDOG_SYSFS}
check wd-inactive file_is {WATCHDOG_SYSFS}/state inactive
finish
""", append="imageinit.watchdog=0", reboot=False, timeout=120)
    expect_booted(ctx, r, "a", "A", "boot with imageinit.watchdog=0")
    expect_log(ctx, r, r"imageinit: watchdog: off", "watchdog off")
