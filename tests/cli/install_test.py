#!/usr/bin/env python3
# Root tests of `imageinit install` on the host, each in a private mount namespace (unshare -m):
# an image installs although /tmp is read-only (its scratch mount point lives under /run).
# Usage: install_test.py PATH/TO/imageinit. Exit 77 (skip) without root or mksquashfs.
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

IMAGEINIT = None


def make_image(tree: str, out: str) -> None:
    """A minimal slot image that passes `imageinit check`; its spec has no tmpfs on /tmp."""
    for d in ("dev", "proc", "sys", "run", "tmp", "etc/imageinit", "sbin"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    with open(os.path.join(tree, "sbin/init"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(tree, "sbin/init"), 0o755)
    with open(os.path.join(tree, "etc/imageinit/fstab"), "w") as f:
        f.write("overlay /etc overlay x-imageinit.upper=tmpfs 0 0\n")
    subprocess.run(["mksquashfs", tree, out, "-noappend", "-quiet", "-all-root", "-no-progress"],
                   check=True)


class InstallScratch(unittest.TestCase):
    def setUp(self):
        # Not under /tmp: the test hides /tmp.
        base = os.path.dirname(os.path.abspath(IMAGEINIT))
        self.dir = tempfile.mkdtemp(prefix="install-test.", dir=base)
        self.addCleanup(shutil.rmtree, self.dir)

    def test_installs_with_a_read_only_tmp(self):
        image = os.path.join(self.dir, "b.img")
        make_image(os.path.join(self.dir, "tree"), image)
        state = os.path.join(self.dir, "state")
        os.makedirs(state)
        before = set(glob.glob("/run/imageinit-image.*"))
        script = ('mount -t tmpfs -o ro tmpfs /tmp && touch /tmp/x 2>/dev/null && exit 9; '
                  'exec "$0" install "$1" --tries 2 --state-dir "$2" --persist-dir "$3" --slot a')
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                            IMAGEINIT, image, state, os.path.join(self.dir, "no-persist")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertNotEqual(r.returncode, 9, "the test could not make /tmp read-only")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(os.path.isfile(os.path.join(state, "slots/b.img")), r.stdout)
        with open(os.path.join(state, "imageinit/state")) as f:
            record = f.read()
        self.assertIn("primary b\n", record)
        # The scratch mount point is gone again.
        self.assertEqual(set(glob.glob("/run/imageinit-image.*")), before)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: install_test.py PATH/TO/imageinit")
    IMAGEINIT = os.path.abspath(sys.argv.pop(1))
    if os.geteuid() != 0 or not shutil.which("mksquashfs") or not shutil.which("unshare"):
        print("skipped: needs root, mksquashfs and unshare")
        sys.exit(77)
    unittest.main(verbosity=2)
