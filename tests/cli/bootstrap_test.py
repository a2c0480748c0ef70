#!/usr/bin/env python3
# Root tests of `imageinit bootstrap` on the host with disk image files (issue 16): the layout
# and content it writes, the no-op rerun, resuming an unfinished disk, and the refusals (each
# one line, the disk's bytes unchanged). Boots of such disks are QEMU scenarios (qemu/).
# Usage: bootstrap_test.py PATH/TO/imageinit. Exit 77 (skip) without root or the tools.
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

IMAGEINIT = None
MiB = 1 << 20
SYSTEMD_BOOT = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def make_image(tree: str, out: str, kernel: bytes = b"K" * 300000) -> None:
    """A slot image that passes `imageinit check` and carries /boot/vmlinuz and initrd.img."""
    for d in ("dev", "proc", "sys", "run", "tmp", "var", "etc/imageinit", "sbin", "boot"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    with open(os.path.join(tree, "sbin/init"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(tree, "sbin/init"), 0o755)
    with open(os.path.join(tree, "etc/imageinit/fstab"), "w") as f:
        f.write("tmpfs /tmp tmpfs mode=1777 0 0\n")
    with open(os.path.join(tree, "boot/vmlinuz"), "wb") as f:
        f.write(kernel)
    with open(os.path.join(tree, "boot/initrd.img"), "wb") as f:
        f.write(b"I" * 200000)
    subprocess.run(["mksquashfs", tree, out, "-noappend", "-quiet", "-all-root", "-no-progress"],
                   check=True)


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def partitions(disk: str) -> list:
    out = subprocess.run(["sfdisk", "-J", disk], check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)["partitiontable"]["partitions"]


class Bootstrap(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        base = os.path.dirname(os.path.abspath(IMAGEINIT))
        cls.dir = tempfile.mkdtemp(prefix="bootstrap-test.", dir=base)
        cls.image = os.path.join(cls.dir, "a.img")
        make_image(os.path.join(cls.dir, "tree"), cls.image)
        cls.other = os.path.join(cls.dir, "other.img")
        make_image(os.path.join(cls.dir, "tree2"), cls.other, kernel=b"k" * 300000)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def disk(self, name: str, size: int = 512 * MiB) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def run_bootstrap(self, *args, wrap=None):
        cmd = [IMAGEINIT, "bootstrap", *args]
        if wrap:
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", wrap, "sh", *cmd]
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV)

    def esp(self, disk: str, path: str) -> bytes:
        start = partitions(disk)[0]["start"] * 512
        return subprocess.run(["mtype", "-i", f"{disk}@@{start}", "::/" + path], check=True,
                              stdout=subprocess.PIPE, env=ENV).stdout

    def state_file(self, disk: str, path: str) -> bytes:
        p = partitions(disk)[1]
        part = disk + ".state"
        subprocess.run(["dd", f"if={disk}", f"of={part}", "bs=512", f"skip={p['start']}",
                        f"count={p['size']}", "status=none"], check=True)
        out = os.path.join(self.dir, "dumped")
        subprocess.run(["debugfs", "-R", f"dump {path} {out}", part], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = read(out)
        os.unlink(out)
        os.unlink(part)
        return data

    def assert_refused(self, r, expected: str):
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if "error" in ln or "bootstrap:" in ln]
        self.assertEqual(len([ln for ln in r.stderr.splitlines() if "bootstrap: " in ln]), 1,
                         r.stderr)
        self.assertIn(expected, r.stderr, lines)

    def test_lays_out_a_blank_disk_and_a_rerun_does_nothing(self):
        disk = self.disk("blank.img")
        r = self.run_bootstrap("--disk", disk, self.image, "--cmdline", "console=ttyS0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        parts = partitions(disk)
        self.assertEqual([p["name"] for p in parts], ["esp", "state", "persist"])
        self.assertEqual(parts[0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
        self.assertEqual(self.esp(disk, "EFI/BOOT/BOOTX64.EFI"), read(SYSTEMD_BOOT))
        self.assertEqual(self.esp(disk, "imageinit/vmlinuz"), b"K" * 300000)
        self.assertIn(b"options console=ttyS0 imageinit.reset=persist",
                      self.esp(disk, "loader/entries/imageinit-factory-reset.conf"))
        self.assertEqual(self.state_file(disk, "/slots/a.img"), read(self.image))
        record = self.state_file(disk, "/imageinit/state").decode()
        self.assertIn("primary a\n", record)
        for label, part in (("STATE", parts[1]), ("PERSIST", parts[2])):
            probe = subprocess.run(["blkid", "-p", "-O", str(part["start"] * 512), "-s",
                                    "LABEL", "-o", "value", disk], stdout=subprocess.PIPE,
                                   text=True)
            self.assertEqual(probe.stdout.strip(), label)

        before = digest(disk)
        r = self.run_bootstrap("--disk", disk, self.image, "--cmdline", "console=ttyS0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing to do", r.stdout)
        self.assertEqual(digest(disk), before, "a rerun on a finished disk wrote to it")

    def test_resumes_a_disk_left_without_its_loader(self):
        # What a power cut before the last step leaves: our layout, no loader on the ESP.
        disk = self.disk("cut.img")
        self.assertEqual(self.run_bootstrap("--disk", disk, self.image).returncode, 0)
        start = partitions(disk)[0]["start"] * 512
        subprocess.run(["mdel", "-i", f"{disk}@@{start}", "::/EFI/BOOT/BOOTX64.EFI"], check=True,
                       env=ENV)
        r = self.run_bootstrap("--disk", disk, self.image)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("resume an unfinished bootstrap", r.stdout)
        self.assertEqual(self.esp(disk, "EFI/BOOT/BOOTX64.EFI"), read(SYSTEMD_BOOT))

    def test_refuses_foreign_partitions_without_wipe(self):
        disk = self.disk("foreign.img")
        subprocess.run(["sfdisk", "-q", disk], input="label: gpt\nstart=2048, size=20480\n",
                       text=True, check=True)
        before = digest(disk)
        r = self.run_bootstrap("--disk", disk, self.image)
        self.assert_refused(r, f"disk '{disk}' has 1 partition; --wipe replaces them")
        self.assertEqual(digest(disk), before)
        self.assertEqual(self.run_bootstrap("--disk", disk, self.image, "--wipe").returncode, 0)
        self.assertEqual(len(partitions(disk)), 3)

    def test_refuses_a_finished_device_with_another_image_without_wipe(self):
        disk = self.disk("device2.img")
        self.assertEqual(self.run_bootstrap("--disk", disk, self.image).returncode, 0)
        before = digest(disk)
        r = self.run_bootstrap("--disk", disk, self.other)
        self.assert_refused(r, "is a bootstrapped device with another image; --wipe")
        self.assertEqual(digest(disk), before)

    def test_refuses_a_disk_too_small_and_says_what_it_needs(self):
        disk = self.disk("small.img", 100 * MiB)
        before = digest(disk)
        r = self.run_bootstrap("--disk", disk, self.image)
        self.assert_refused(r, f"disk '{disk}' is too small: 100 MiB, the layout needs ")
        self.assertEqual(digest(disk), before)

    def test_refuses_tpm2_encryption_without_a_tpm_before_writing(self):
        disk = self.disk("notpm.img")
        before = digest(disk)
        # A TPM interface nothing listens on (port 1 of loopback): the machine has no TPM.
        cmd = [IMAGEINIT, "bootstrap", "--disk", disk, self.image, "--encrypt-persist=tpm2"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**ENV, "IMAGEINIT_TPM": "swtpm:host=127.0.0.1,port=1"})
        self.assert_refused(r, "--encrypt-persist=tpm2 needs a TPM2 ('swtpm:host=127.0.0.1,port=1')")
        self.assertEqual(digest(disk), before)

    def test_refuses_an_unknown_encryption(self):
        disk = self.disk("badenc.img")
        r = self.run_bootstrap("--disk", disk, self.image, "--encrypt-persist=tpm")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--encrypt-persist takes =keyfile or =tpm2, not 'tpm'", r.stderr)

    def test_refuses_the_disk_it_runs_from(self):
        disk = self.disk("inuse.img")
        loop = subprocess.run(["losetup", "-f", "--show", disk], check=True,
                              stdout=subprocess.PIPE, text=True).stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", loop])
        subprocess.run(["mkfs.ext4", "-q", loop], check=True)
        before = digest(disk)
        mnt = os.path.join(self.dir, "mnt")
        os.makedirs(mnt, exist_ok=True)
        r = self.run_bootstrap("--disk", loop, self.image, "--wipe",
                               wrap=f'mount -o ro,noload {loop} {mnt} && exec "$@"')
        self.assert_refused(r, f"disk '{loop}' is in use ('{loop}' is mounted on '{mnt}')")
        self.assertEqual(digest(disk), before)

    def test_dry_run_prints_the_plan_and_writes_nothing(self):
        disk = self.disk("dry.img")
        r = self.run_bootstrap("--disk", disk, self.image, "--dry-run", "--persist-size", "64M")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("3 persist: 64 MiB", r.stdout)
        self.assertIn("dry run: nothing was written", r.stdout)
        self.assertEqual(subprocess.run(["sfdisk", "-d", disk], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL).returncode, 1)

    def test_composes_an_oci_layout_source(self):
        compose = os.path.join(os.path.dirname(IMAGEINIT), "compose", "imageinit-compose")
        if not os.path.exists(compose) and not os.environ.get("IMAGEINIT_COMPOSE"):
            self.skipTest("imageinit-compose not built")
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "compose"))
        import ocilayout as oci
        layout = os.path.join(self.dir, "oci")
        entries = [oci.d(p) for p in ("sbin", "boot", "dev", "proc", "sys", "run", "tmp",
                                      "var", "etc", "etc/imageinit")]
        entries += [oci.f("sbin/init", "#!/bin/sh\n", mode=0o755),
                    oci.f("etc/imageinit/fstab", "tmpfs /tmp tmpfs mode=1777 0 0\n"),
                    oci.f("boot/vmlinuz", b"O" * 100000), oci.f("boot/initrd.img", b"i" * 50000)]
        oci.Layout(layout).add_image([("gzip", entries)], ref="v1")
        disk = self.disk("oci.img")
        r = self.run_bootstrap("--disk", disk, layout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("composing", r.stderr)
        self.assertEqual(self.esp(disk, "imageinit/vmlinuz"), b"O" * 100000)
        slot = self.state_file(disk, "/slots/a.img")
        self.assertGreater(len(slot), 4096)
        # A composed image is reproducible: the rerun composes the same bytes and does nothing.
        before = digest(disk)
        r = self.run_bootstrap("--disk", disk, layout)
        self.assertIn("nothing to do", r.stdout, r.stderr)
        self.assertEqual(digest(disk), before)

    def test_grub_loader_embeds_the_menu(self):
        disk = self.disk("grub.img")
        r = self.run_bootstrap("--disk", disk, self.image, "--bootloader", "grub",
                               "--recovery", self.other)
        self.assertEqual(r.returncode, 0, r.stderr)
        efi = self.esp(disk, "EFI/BOOT/BOOTX64.EFI")
        self.assertIn(b"imageinit.slot=recovery", efi)
        self.assertEqual(self.state_file(disk, "/slots/recovery.img"),
                         read(self.other))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: bootstrap_test.py PATH/TO/imageinit")
    IMAGEINIT = os.path.abspath(sys.argv.pop(1))
    if os.geteuid() != 0:
        print("bootstrap_test: skipped (needs root: loop devices, mounts)")
        sys.exit(77)
    for tool in ("mksquashfs", "mtype", "mkfs.vfat", "mkfs.ext4", "sfdisk", "debugfs"):
        if not shutil.which(tool):
            print(f"bootstrap_test: skipped ({tool} missing)")
            sys.exit(77)
    if not os.path.exists(SYSTEMD_BOOT):
        print("bootstrap_test: skipped (no systemd-boot: apt-get install systemd-boot-efi)")
        sys.exit(77)
    unittest.main(verbosity=2)
