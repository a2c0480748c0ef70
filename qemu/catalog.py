"""Every QEMU scenario, registered: imports each scenario module (qemu/scenarios*.py; each
registers its scenarios into testkit.SCENARIOS with @scenario) in the order they run by
default. A new scenarios_*.py not listed below is picked up after these, in name order."""

from __future__ import annotations

import importlib
from pathlib import Path

from testkit import OPT_IN, SCENARIOS

__all__ = ["OPT_IN", "SCENARIOS", "MODULES"]

MODULES = [
    "scenarios",  # each image format, temporary and persistent paths, initramfs failures
    "scenarios_ab",  # A/B slots of issue 3
    "scenarios_device",  # firmware boots and slot kernels through kexec (issue 9)
    "scenarios_integrity",  # dm-verity and LUKS2 of issue 4
    "scenarios_sign",  # signed slots of issue 18
    "scenarios_dracut",  # hooks and dracut of issue 5
    "scenarios_compose",  # the composed five-layer image of issue 6
    "scenarios_watchdog",  # hardware watchdog of issue 19
    "scenarios_tpm",  # TPM2-sealed PERSIST of issue 18
    "scenarios_registry",  # imageinit upgrade in the guest, issue 15
    "scenarios_hostile",  # hostile files on the state partition and in images, issue 19
    "scenarios_packaging",  # initramfs built by the installed packages, issue 17
    "scenarios_health",  # health checks gating mark-good, issue 14
    "scenarios_debian",  # Debian 12 + systemd, issue 14
    "scenarios_bootstrap",  # bootstrap from a medium, power cuts, issue 16
    "scenarios_reset",  # factory reset of PERSIST, issue 16 part 3
]

_found = sorted(p.stem for p in Path(__file__).resolve().parent.glob("scenarios*.py"))
for _name in MODULES + [m for m in _found if m not in MODULES]:
    importlib.import_module(_name)
