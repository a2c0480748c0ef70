"""QEMU end-to-end test of issue 6: an OCI image of five layers (base OS, distribution, system
components, host agent, OEM customisation; tar+zstd) composed by imageinit-compose into an erofs
slot image, installed into slot B from the running system, and booted. The host-agent layer also
carries the harness's test steps (/etc/init.d/S99e2e-test), so the composed image itself reports.

Registered into testkit.SCENARIOS (qemu/catalog.py imports this module).
"""

from __future__ import annotations

import images
from testkit import ab_boot, expect_booted, expect_status, scenario, slot_health

COMPOSE_CHECKS = r"""
check on-b slot_is b
check layer1-base-os test -f /usr/share/imageinit-e2e/layer1-base-os
check layer2-distribution test -f /usr/share/imageinit-e2e/layer2-distribution
check layer3-components test -f /usr/share/imageinit-e2e/layer3-system-components
check layer4-host-agent test -f /usr/share/imageinit-e2e/layer4-host-agent
check layer5-oem test -f /usr/share/imageinit-e2e/layer5-oem
check whiteout-motd test ! -e /etc/motd
check opaque-hides-base test ! -e /opt/vendor/base-only
check opaque-hides-distribution test ! -e /opt/vendor/from-distribution
check opaque-keeps-agent test -f /opt/vendor/agent.conf
check os-release-from-distribution grep -q imageinit-e2e /etc/os-release
check oem-hostname file_is /etc/hostname edge-oem
check oem-spec-tmp sh -c "awk '\$2 == \"/tmp\" {print \$3}' /proc/mounts | grep -qx tmpfs"
check oem-spec-etc-overlay sh -c "awk '\$2 == \"/etc\" {print \$3}' /proc/mounts | grep -qx overlay"
check oem-spec-agent-bind sh -c "grep -q ' /var/lib/agent ' /proc/mounts"
check agent-state-persistent test -d /run/imageinit/persist/shared/var/lib/agent
check root-is-erofs sh -c "awk '\$2 == \"/\" {print \$3}' /proc/mounts | grep -qx erofs"
finish
"""


@scenario("compose-e2e-boots")
def compose_e2e_boots(ctx):
    """Five layers composed, installed into B, booted: every layer's content, the whiteout and
    the opaque directory, and the OEM layer's mount spec."""
    composed = images.build_composed_image(ctx.binary, "composed")
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    r = ab_boot(ctx, disk, """
check on-a slot_is a
check install-composed imageinit install /run/testctl/composed.img --tries 2
status_json after-install
finish
""", files={"composed.img": composed})
    expect_booted(ctx, r, "a", "A", "boot 1 (A installs the composed image)")
    st = expect_status(ctx, r, "after-install")
    ctx.expect(slot_health(st, "b")[:2] == ("trying", 2),
               f"after install, b is {slot_health(st, 'b')}, expected trying with 2 tries")

    r = ab_boot(ctx, disk, COMPOSE_CHECKS)
    report = expect_booted(ctx, r, "b", "composed", "boot 2 (the composed image in slot B)")
    ctx.expect(report.get("fstype") == "erofs", f"slot b is {report.get('fstype')}, not erofs")
    ctx.expect(any("/var/lib/agent" in m for m in report.get("mounts", [])),
               "the OEM spec's persistent bind is not in the boot report")
    ctx.expect("imageinit-e2e: oem layer active" in r.log,
               "the OEM layer's init script did not run")
