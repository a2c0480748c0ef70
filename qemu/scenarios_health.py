"""QEMU scenario of the health checks that gate mark-good (contract §13, issue 14): an update
whose required check fails is never proven, the device comes back to the proven slot by itself,
and `status` names the check and shows its output.

Registered into testkit.SCENARIOS (qemu/catalog.py imports this module).
"""

from __future__ import annotations

import re

from testkit import ab_boot, expect_booted, expect_status, journal_has, scenario, slot_health

# A's only check is wanted and fails: a warning, A is proven anyway.
WANTED_FAILS = (("wanted/50-optional", "#!/bin/sh\necho optional service is missing\nexit 1\n"),)
# B's required check fails with a message; a passing one runs before it.
REQUIRED_FAILS = (
    ("required/10-passes", "#!/bin/sh\necho fine\n"),
    ("required/20-app", "#!/bin/sh\necho probing the app\necho app is down on port 8080\n"
                        "exit 1\n"),
    ("wanted/50-optional", "#!/bin/sh\nexit 0\n"),
)


@scenario("health-required-fails")
def health_required_fails(ctx):
    """A proven with a failing wanted check (a warning); B installed with 1 try fails its
    required check: mark-good exits 3, B stays trying; the next boot is back on A by itself,
    and status names B's failing check and its output."""
    disk = ctx.disk({"a": ctx.image(slot_id="A", health=WANTED_FAILS)})
    b_img = ctx.image(slot_id="B", health=REQUIRED_FAILS)
    r = ab_boot(ctx, disk, """
check mark-good-a sh -c 'imageinit mark-good 2>/run/mg.err'
cat /run/mg.err
check wanted-warned grep -q 'wanted health check wanted/50-optional: exit status 1: optional service is missing' /run/mg.err
check install-b imageinit install /run/testctl/b.img --tries 1
finish
""", files={"b.img": b_img})
    expect_booted(ctx, r, "a", "A", "boot 1 (A proven, installs B)")

    r = ab_boot(ctx, disk, """
check on-b slot_is b
imageinit mark-good 2>/run/mg.err; echo $? > /run/mg.rc
cat /run/mg.err
check mark-good-exits-3 file_is /run/mg.rc 3
check names-the-check grep -q 'required health check required/20-app: exit status 1: app is down on port 8080' /run/mg.err
check says-unproven grep -q 'slot b stays unproven' /run/mg.err
check health-kept test -f /run/imageinit/state/imageinit/health
status_json s
status_text
finish
""")
    expect_booted(ctx, r, "b", "B", "boot 2 (B, trying, required check fails)")
    st = expect_status(ctx, r, "s")
    ctx.expect(slot_health(st, "b")[:2] == ("trying", 0),
               f"after the failed check, b is {slot_health(st, 'b')}, expected trying (0 left)")
    ctx.expect(st.get("primary") == "b", f"primary changed to {st.get('primary')}")
    ctx.expect("required/20-app: exit status 1" in st.get("health_checks", ""),
               f"status --json health_checks: {st.get('health_checks')!r}")

    r = ab_boot(ctx, disk, """
status_json s
status_text
imageinit mark-good --no-checks 2>/run/mg.err
check no-checks-ran not grep -q 'health check' /run/mg.err
finish
""")
    expect_booted(ctx, r, "a", "A", "boot 3 (B exhausted: back on A by itself)")
    st = expect_status(ctx, r, "s")
    ctx.expect(slot_health(st, "b")[0] == "bad" and journal_has(st, "b", "exhausted"),
               f"b is {slot_health(st, 'b')}, journal {st.get('journal')}")
    text = r.section("status-text")
    for want in (r"last health checks: slot b, boot \d+: UNHEALTHY",
                 r"required/20-app: exit status 1", r"\| app is down on port 8080",
                 r"required/10-passes: ok"):
        ctx.expect(re.search(want, text), f"`imageinit status` lacks /{want}/:\n{text}")
