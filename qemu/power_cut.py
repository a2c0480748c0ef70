"""Power cuts: QEMU is SIGKILLed at random moments during the initramfs and during
`imageinit install`; after every cut a clean boot must come up on slot a or b (not as a last
resort), the boot-state record must decode (`imageinit status --json` without a record
warning), and a sentinel file tree written on the persistent partition at the start must
still have its checksum.

Used by qemu/power-cut (the long campaign) and by the ab-power-cut scenario (CI, 10 cuts).

One disk serves the whole campaign. Cut moments are random but reproducible from the seed:
"boot" cuts land uniformly in the window between the kernel starting /init and the image's
init running (measured on the setup boot); "install" cuts land uniformly in the window of
`imageinit mark-good` + `imageinit install` (also measured on the setup boot). The cut boot
keeps writing to the persistent partition until it is killed. A boot whose steps begin with
verification also serves as the next install cut, so a campaign needs about 1.5 boots a cut.
"""

from __future__ import annotations

import collections
import random
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import disks
import guest_script
import host
import images
import vm

APPEND = "printk.devkmsg=on"
SENTINEL = "/run/imageinit/persist/sentinel"
INIT_MARKER = "Run /init as init process"
INSTALL_MARKER = "TEST: cut-window begin"

GUEST_HELPERS = rf"""
sentinel_sum() {{
    (cd {SENTINEL} && find . -type f | sort | xargs md5sum | md5sum | cut -d' ' -f1)
}}
verify() {{
    echo "TEST: status v begin"; imageinit status --json 2>&1; echo "TEST: status v end"
    echo "TEST: sentinel $(sentinel_sum) files=$(find {SENTINEL} -type f | wc -l)"
    echo "TEST: verified"
}}
# Keep the persistent partition busy until the power goes.
churn() {{
    n=0
    while :; do
        n=$((n + 1))
        echo "write $n" > /var/lib/test/churn.tmp && mv /var/lib/test/churn.tmp /var/lib/test/churn
        echo "write $n" >> /srv/churn.log
        [ $((n % 5)) = 0 ] && sync
    done
}}
uptime_s() {{ cut -d' ' -f1 /proc/uptime; }}
"""

SETUP_SCRIPT = rf"""
check mark-good imageinit mark-good
mkdir -p {SENTINEL}
i=0
while [ $i -lt 48 ]; do
    d={SENTINEL}/d$((i % 6))/e$((i % 3))
    mkdir -p $d
    dd if=/dev/urandom of=$d/f$i bs=1k count=$((i * 7 % 61 + 1)) 2>/dev/null
    i=$((i + 1))
done
ln -s d0/e0/f0 {SENTINEL}/link
sync
echo "TEST: sentinel-initial $(sentinel_sum)"
t0=$(uptime_s)
check install imageinit install /run/testctl/b.img --tries 3
t1=$(uptime_s)
echo "TEST: install-seconds $(echo "$t0 $t1" | awk '{{print $2 - $1}}')"
verify
finish
"""

INSTALL_CUT_SCRIPT = f"""
verify
echo "{INSTALL_MARKER}"
imageinit mark-good
imageinit install /run/testctl/b.img --tries 3
echo "TEST: install-finished $?"
sync
churn
"""

BOOT_CUT_SCRIPT = "churn\n"
VERIFY_SCRIPT = "verify\nfinish\n"


@dataclass
class Cut:
    n: int
    kind: str  # boot | install
    delay: float  # seconds after the marker
    phase: str = ""  # where it landed (from the serial log)
    after: str = ""  # what the next clean boot found: "b (trying)" ...
    ok: bool = True


def cut_phase(r: vm.BootResult, kind: str) -> str:
    """Where a cut landed, from the last marker on its serial log."""
    log = r.log
    if kind == "install" and INSTALL_MARKER in log:
        tail = log[log.index(INSTALL_MARKER):]
        for pattern, name in ((r"TEST: install-finished", "after install"),
                              (r"installed '", "install: final record write"),
                              (r"verifying 100%", "install: seeding / final record write"),
                              (r"verifying \d+%", "install: verifying"),
                              (r"writing \d+%", "install: writing"),
                              (r"installing '", "install: before the first byte"),
                              (r"is good and primary", "install: lint / install-in-progress"),
                              ):
            if re.search(pattern, tail):
                return name
        return "mark-good"
    if "TEST: booted" in log:
        return "image init"
    steps = re.findall(r"imageinit: step (\S+) done", log)
    if re.search(r"imageinit: trying slot", log) and not any(
            s in steps for s in ("record-attempt",)):
        return "initramfs: record-attempt"
    if steps:
        return f"initramfs: after {steps[-1]}"
    return "initramfs: before the first step" if INIT_MARKER in log else "kernel"


class Campaign:
    def __init__(self, kernel: images.Kernel, initrd: Path, binary: Path, workdir: Path,
                 iterations: int, seed: int, say=print, results: list | None = None,
                 lock: str | None = None, timeout: float = 150):
        self.kernel, self.initrd, self.binary = kernel, initrd, binary
        self.dir = workdir
        self.iterations = iterations
        self.seed = seed
        self.rng = random.Random(seed)
        self.say = say
        self.results = results if results is not None else []
        self.lock = lock
        self.timeout = timeout
        self.failures: list[str] = []
        self.cuts: list[Cut] = []
        self.sentinel = ""
        self.boot_window = 2.0
        self.install_window = 2.0
        self.nboots = 0
        self.seconds = 0.0

    # -- boots ------------------------------------------------------------------------------

    def _boot(self, script: str, marker: str | None = None, delay: float = 0.0,
              files: dict | None = None) -> vm.BootResult:
        self.nboots += 1
        n = self.nboots
        files = files if files is not None else self.files
        ctl = guest_script.build_control_disk(self.dir / "ctl.img", GUEST_HELPERS + script,
                                              files=files)
        r = vm.boot(self.kernel, self.initrd, [self.disk, ctl], self.dir / f"boot{n:04d}.log",
                    append=APPEND, timeout=self.timeout, lock=self.lock,
                    cut_at=(marker, delay) if marker is not None else None)
        self.results.append(r)
        return r

    def _verify(self, r: vm.BootResult, what: str) -> str:
        """Checks a boot's `verify` output; returns "slot (health)" or records a failure."""
        problems = []
        report = r.boot_json() or {}
        slot = report.get("slot")
        if "TEST: verified" not in r.log:
            why = "timed out" if r.timed_out else f"QEMU exit {r.rc}"
            problems.append(f"no clean boot to a verified image ({why}; booted "
                            f"{r.booted_slot_id()} from {slot})")
        else:
            if slot not in ("a", "b") or r.booted_slot_id() not in ("A", "B"):
                problems.append(f"booted image {r.booted_slot_id()} from slot {slot}")
            if report.get("last_resort"):
                problems.append(f"slot {slot} booted as a last resort")
            if report.get("degraded"):
                problems.append("boot is degraded (persistent partition not usable)")
            text = r.section("status v").strip()
            st = host.json_object(text)
            if st is None:
                problems.append(f"`status --json` output does not parse: {text[:200]!r}")
            if st is not None and st.get("record_warning"):
                problems.append(f"record warning: {st['record_warning']}")
            if "unusable" in r.log:
                problems.append("the console says the record is unusable")
            m = re.search(r"TEST: sentinel (\S+)", r.log)
            if not m or m.group(1) != self.sentinel:
                problems.append(f"sentinel checksum {m.group(1) if m else None} != "
                                f"{self.sentinel}")
            if st is not None and slot:
                s = st.get("slots", {}).get(slot, {})
                health = s.get("health", "good (unrecorded)")
                if health == "trying":
                    health += f" {s.get('tries_left')} left"
                slot = f"{slot} ({health})"
        if problems:
            self.failures.append(f"{what}: {'; '.join(problems)} (log {r.log_path})")
            return "FAILED"
        return slot or "?"

    # -- the campaign -----------------------------------------------------------------------

    def setup(self) -> bool:
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("boot*.log"):
            old.unlink()
        a = images.build_image(self.binary, images.ImageVariant(slot_id="A"))
        # 8 MiB of incompressible padding: an install long enough to cut in the middle of.
        b = images.build_image(self.binary, images.ImageVariant(slot_id="B", padding_kib=8192))
        self.files = {"b.img": b}
        self.disk = disks.build_disk(self.dir / "disk.img", {"a": a}, state_spare=80 * host.MiB)
        r = self._boot(SETUP_SCRIPT)
        m = re.search(r"TEST: sentinel-initial (\S+)", r.log)
        if not r.passed or not m:
            self.failures.append(f"setup boot failed (log {r.log_path})")
            return False
        self.sentinel = m.group(1)
        self._verify(r, "setup")
        m = re.search(r"TEST: install-seconds (\S+)", r.log)
        self.install_window = float(m.group(1)) * 1.2 + 0.3 if m else 3.0
        lines = r.log.splitlines()
        start = next((host.printk_time(l) for l in lines if INIT_MARKER in l), None)
        m = re.search(r"TEST: booted .* uptime=(\S+)", r.log)
        if start is not None and m:
            self.boot_window = float(m.group(1)) - start
        self.say(f"setup: sentinel {self.sentinel}; cut windows: initramfs "
                 f"{self.boot_window:.2f} s after '{INIT_MARKER}', install "
                 f"{self.install_window:.2f} s ({b.stat().st_size // host.MiB} MiB image)")
        return True

    def run(self) -> str:
        t0 = time.monotonic()
        if self.setup():
            pending: Cut | None = None
            for n in range(1, self.iterations + 1):
                kind = self.rng.choice(("boot", "install"))
                if kind == "boot":
                    delay = self.rng.uniform(0, self.boot_window)
                    if pending:
                        r = self._boot(VERIFY_SCRIPT)
                        self._close(pending, r)
                    cut = Cut(n, kind, delay)
                    r = self._boot(BOOT_CUT_SCRIPT, INIT_MARKER, delay)
                else:
                    delay = self.rng.uniform(0, self.install_window)
                    cut = Cut(n, kind, delay)
                    r = self._boot(INSTALL_CUT_SCRIPT, INSTALL_MARKER, delay)
                    if pending:
                        self._close(pending, r)
                    elif "TEST: verified" in r.log:
                        self._verify(r, f"cut {n}: boot before the cut")
                cut.phase = cut_phase(r, kind) if r.killed else "never cut: " + (
                    "timed out" if r.timed_out else f"QEMU exit {r.rc}")
                if not r.killed:
                    cut.ok = False
                    self.failures.append(f"cut {n} ({kind}): the boot ended before the cut "
                                         f"({cut.phase}; log {r.log_path})")
                self.cuts.append(cut)
                pending = cut
            if pending:
                self._close(pending, self._boot(VERIFY_SCRIPT))
            corrupt = subprocess.run(
                ["debugfs", "-R", "ls -l /imageinit", f"{self.disk}?offset={host.MiB}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
            if "state.corrupt" in corrupt:
                self.failures.append("imageinit/state.corrupt exists: a boot saw a corrupt "
                                     "record")
        self.seconds = time.monotonic() - t0
        return self.summary()

    def _close(self, cut: Cut, r: vm.BootResult) -> None:
        cut.after = self._verify(r, f"clean boot after cut {cut.n} ({cut.kind}, "
                                    f"{cut.delay:.2f} s)")
        cut.ok = cut.ok and cut.after != "FAILED"
        self.say(f"cut {cut.n:4d}: {cut.kind:<7} +{cut.delay:5.2f} s  landed in "
                 f"{cut.phase:<38} -> next boot {cut.after}")

    def summary(self) -> str:
        kinds = collections.Counter(c.kind for c in self.cuts)
        phases = collections.Counter(c.phase for c in self.cuts)
        after = collections.Counter(re.sub(r" \d+ left", "", c.after) for c in self.cuts)
        lines = [f"power cuts: {len(self.cuts)} (seed {self.seed}): "
                 + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
                 + f"; {self.nboots} boots in {self.seconds:.0f} s; "
                 + f"{len(self.failures)} failure(s)",
                 "  cut landed in: " + ", ".join(f"{k} {v}" for k, v in sorted(phases.items())),
                 "  next clean boot: " + ", ".join(f"{k} {v}" for k, v in sorted(after.items()))]
        lines += [f"  FAIL {f}" for f in self.failures]
        return "\n".join(lines)
