"""QEMU end-to-end test of issue 15: `imageinit upgrade` from inside the running system. The
source is an OCI layout (the five-layer image of tests/compose/make-five-layer-oci, carrying the
harness's test steps) on the control disk; imageinit-compose and mkfs.erofs come with it, with
their libraries, run through the dynamic loader from /run (the test rootfs has no glibc tools).
A upgrades to v1 in B; B boots, is proven, upgrades to v2 in A; A boots: status shows both
slots' sources and manifest digests.

Registered into testkit.SCENARIOS (qemu/catalog.py imports this module).
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from pathlib import Path

import host
import images
from testkit import ab_boot, expect_booted, expect_status, scenario, slot_health

TOOLS = "/run/tools"


def _tools_tar(binary: Path, out: Path) -> Path:
    """imageinit-compose and mkfs.erofs with their libraries, and wrappers that run them with
    the loader and libraries under /run/tools."""
    compose = images.build_compose(binary)
    mkfs = Path(shutil.which("mkfs.erofs") or "/usr/bin/mkfs.erofs")
    with tempfile.TemporaryDirectory(dir=host.WORK) as tmp:
        root = Path(tmp)
        images.install_binary(compose, root, "/real/imageinit-compose")
        images.install_binary(mkfs, root, "/real/mkfs.erofs")
        loader = next(p for p in images.shared_libs(compose) if "ld-linux" in p.name)
        libpath = ":".join(f"{TOOLS}/{d}" for d in ("lib/x86_64-linux-gnu",
                                                    "usr/lib/x86_64-linux-gnu", "lib64", "lib"))
        (root / "bin").mkdir()
        for name, dest in (("imageinit-compose", "imageinit-compose"),
                           ("mkfs.erofs", "bin/mkfs.erofs")):
            w = root / dest
            w.write_text(f'#!/bin/sh\nexec {TOOLS}{loader} --library-path {libpath} '
                         f'{TOOLS}/real/{name} "$@"\n')
            w.chmod(0o755)
        with tarfile.open(out, "w") as t:
            t.add(root, arcname=".")
    return out


def _layout_tar(binary: Path, slot_id: str, out: Path) -> tuple[Path, str]:
    """The five-layer OCI layout whose host-agent layer carries the test steps; returns the tar
    and the manifest digest that the slot must record."""
    with tempfile.TemporaryDirectory(dir=host.WORK) as tmp:
        tree = images.agent_tree(binary, Path(tmp) / "agent", slot_id)
        oci = Path(tmp) / "oci"
        host.run([str(images.FIVE_LAYER_OCI), str(oci), "--agent-tree", str(tree)])
        index = json.loads((oci / "index.json").read_text())
        digest = index["manifests"][0]["digest"]
        with tarfile.open(out, "w") as t:
            t.add(oci, arcname="oci")
    return out, digest


GUEST_TOOLS = f"""
mkdir -p {TOOLS} /run/src && tar -xf /run/testctl/tools.tar -C {TOOLS} && \\
    tar -xf /run/testctl/layout.tar -C /run/src
export IMAGEINIT_COMPOSE={TOOLS}/imageinit-compose PATH={TOOLS}/bin:$PATH
"""


@scenario("upgrade-from-oci-boots")
def upgrade_from_oci_boots(ctx):
    """imageinit upgrade oci:… in the running system (A -> B), B boots and is proven, upgrades
    again (B -> A), A boots; status --json names both slots' sources and manifest digests."""
    tools = _tools_tar(ctx.binary, ctx.dir / "tools.tar")
    v1, d1 = _layout_tar(ctx.binary, "U1", ctx.dir / "v1.tar")
    v2, d2 = _layout_tar(ctx.binary, "U2", ctx.dir / "v2.tar")
    disk = ctx.disk({"a": ctx.image(slot_id="A")})
    r = ab_boot(ctx, disk, GUEST_TOOLS + """
check on-a slot_is a
check upgrade-to-b imageinit upgrade oci:/run/src/oci --tries 2
status_json after-upgrade
finish
""", files={"tools.tar": tools, "layout.tar": v1}, timeout=600)
    expect_booted(ctx, r, "a", "A", "boot 1 (A upgrades from the OCI layout)")
    st = expect_status(ctx, r, "after-upgrade")
    ctx.expect(slot_health(st, "b")[:2] == ("trying", 2),
               f"after upgrade, b is {slot_health(st, 'b')}, expected trying with 2 tries")
    ctx.expect(st.get("slots", {}).get("b", {}).get("digest") == d1,
               f"slot b records {st.get('slots', {}).get('b')}, expected digest {d1}")

    r = ab_boot(ctx, disk, GUEST_TOOLS + """
check on-b slot_is b
check mark-good imageinit mark-good
check upgrade-to-a imageinit upgrade oci:/run/src/oci
finish
""", files={"tools.tar": tools, "layout.tar": v2}, timeout=600)
    expect_booted(ctx, r, "b", "U1", "boot 2 (v1 in B, upgrades to v2 in A)")

    r = ab_boot(ctx, disk, """
check on-a slot_is a
status_json both
finish
""")
    expect_booted(ctx, r, "a", "U2", "boot 3 (v2 in A)")
    st = expect_status(ctx, r, "both")
    slots = st.get("slots", {})
    ctx.expect(slots.get("a", {}).get("digest") == d2 and slots.get("b", {}).get("digest") == d1,
               f"status shows a={slots.get('a')}, b={slots.get('b')}; expected digests {d2} "
               f"and {d1}")
    ctx.expect(slots.get("a", {}).get("source") == "oci:/run/src/oci",
               f"slot a's source is {slots.get('a', {}).get('source')!r}")
