#!/usr/bin/env python3
# `imageinit reset [--cancel]` on a state directory (no root needed): the request's content and
# mode, idempotence, cancel, and the refusal to cancel a reset a boot has already begun.
# Usage: reset_test.py PATH/TO/imageinit
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

IMAGEINIT = None
REQUEST = "imageinit/reset-request"


def run(state, *args):
    return subprocess.run([IMAGEINIT, "reset", *args, "--state-dir", state],
                          capture_output=True, text=True)


class Reset(unittest.TestCase):
    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="reset-test.")
        self.addCleanup(shutil.rmtree, self.state)
        self.request = os.path.join(self.state, REQUEST)

    def test_request_is_written_and_says_what_happens(self):
        r = run(self.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("recreated empty", r.stdout)
        self.assertIn("slots and the boot record stay", r.stdout)
        with open(self.request) as f:
            self.assertEqual(f.read(), "imageinit-reset-request 1\n")
        self.assertFalse(os.path.exists(self.request + ".tmp"))
        # Twice is the same request.
        self.assertEqual(run(self.state).returncode, 0)
        with open(self.request) as f:
            self.assertEqual(f.read(), "imageinit-reset-request 1\n")

    def test_cancel_removes_the_request(self):
        run(self.state)
        r = run(self.state, "--cancel")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cancelled", r.stdout)
        self.assertFalse(os.path.exists(self.request))
        r = run(self.state, "--cancel")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no factory reset is requested", r.stdout)

    def test_a_started_reset_cannot_be_cancelled(self):
        os.makedirs(os.path.dirname(self.request))
        started = "imageinit-reset-request 1\nstarted luks2\ndevice PARTUUID=p3\n"
        with open(self.request, "w") as f:
            f.write(started)
        r = run(self.state, "--cancel")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot be cancelled", r.stderr)
        self.assertEqual(open(self.request).read(), started)
        # A new request does not rewrite it either (the recorded partition matters).
        self.assertEqual(run(self.state).returncode, 0)
        self.assertEqual(open(self.request).read(), started)

    def test_symlinked_request_is_refused_not_followed(self):
        os.makedirs(os.path.dirname(self.request))
        os.symlink("/etc/hostname", self.request)
        r = run(self.state, "--cancel")
        self.assertEqual(r.returncode, 1)
        self.assertIn(REQUEST, r.stderr)
        self.assertTrue(os.path.islink(self.request))

    def test_unknown_argument_is_a_usage_error(self):
        r = run(self.state, "--now")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown argument '--now'", r.stderr)


if __name__ == "__main__":
    IMAGEINIT = os.path.abspath(sys.argv.pop(1))
    unittest.main()
