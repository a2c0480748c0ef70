#!/usr/bin/env python3
# Root tests of `imageinit sign` and of install's signature check (contract §16) on the host,
# each install in a private mount namespace: a signed image installs with its signature; an
# unsigned, wrongly signed or verity-less image is refused before anything is written.
# Usage: sign_test.py PATH/TO/imageinit. Exit 77 (skip) without root or the tools.
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from install_test import make_image

IMAGEINIT = None


def run(*argv):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def make_cert(dir_, who):
    base = os.path.join(dir_, who)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                    "-subj", "/CN=" + who, "-keyout", base + ".key", "-out", base + ".crt"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return base + ".key", base + ".crt"


def snapshot(root):
    """Every file under ROOT with its content: 'the disk unchanged' means this is equal."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


class Sign(unittest.TestCase):
    def setUp(self):
        base = os.path.dirname(os.path.abspath(IMAGEINIT))
        self.dir = tempfile.mkdtemp(prefix="sign-test.", dir=base)
        self.addCleanup(shutil.rmtree, self.dir)
        self.vendor = make_cert(self.dir, "vendor")
        self.other = make_cert(self.dir, "other")
        self.image = os.path.join(self.dir, "new.img")
        make_image(os.path.join(self.dir, "tree"), self.image)
        self.state = os.path.join(self.dir, "state")
        self.run_dir = os.path.join(self.dir, "run")
        os.makedirs(os.path.join(self.state, "slots"))
        os.makedirs(self.run_dir)
        with open(os.path.join(self.state, "slots/b.img"), "w") as f:
            f.write("the old image of slot b\n")
        # The running boot chain trusts the vendor certificate (PID 1 publishes it there).
        shutil.copy(self.vendor[1], os.path.join(self.run_dir, "trust.pem"))

    def verity(self):
        r = run("veritysetup", "format", self.image, self.image + ".verity")
        self.assertEqual(r.returncode, 0, r.stdout)
        root = [l.split()[-1] for l in r.stdout.splitlines() if l.startswith("Root hash:")][0]
        with open(self.image + ".roothash", "w") as f:
            f.write(root + "\n")
        return root

    def sign(self, who):
        key, cert = who
        return run(IMAGEINIT, "sign", self.image, "--key", key, "--cert", cert)

    def install(self):
        return run("unshare", "-m", "--propagation", "private", IMAGEINIT, "install", self.image,
                   "--state-dir", self.state, "--persist-dir", os.path.join(self.dir, "none"),
                   "--run-dir", self.run_dir, "--slot", "a")

    def test_sign_writes_a_signature_openssl_verifies(self):
        root = self.verity()
        r = self.sign(self.vendor)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("root hash signed by '/CN=vendor'", r.stdout)
        content = os.path.join(self.dir, "content")
        with open(content, "w") as f:
            f.write(root)  # the hex text, no newline: what the kernel and systemd verify
        v = run("openssl", "smime", "-verify", "-binary", "-inform", "der", "-noverify",
                "-nointern", "-in", self.image + ".roothash.p7s", "-content", content,
                "-certfile", self.vendor[1], "-out", "/dev/null")
        self.assertEqual(v.returncode, 0, v.stdout)

    def test_sign_refuses_an_image_without_verity(self):
        r = self.sign(self.vendor)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("has no verity sidecars", r.stdout)
        self.assertFalse(os.path.exists(self.image + ".roothash.p7s"))

    def test_install_refuses_what_the_boot_would_refuse_before_writing(self):
        before = snapshot(self.state)
        r = self.install()  # no verity at all
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("signature of the root hash of '%s': no dm-verity data" % self.image,
                      r.stdout)
        self.verity()
        r = self.install()  # verity, no signature
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("missing ('%s.roothash.p7s' does not exist)" % self.image, r.stdout)
        self.assertEqual(self.sign(self.other).returncode, 0)
        r = self.install()  # signed by a certificate the boot chain does not trust
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("signed by none of the 1 trusted certificate(s); nothing was written",
                      r.stdout)
        self.assertEqual(self.sign(self.vendor).returncode, 0)
        with open(self.image + ".roothash", "w") as f:
            f.write("0" * 64 + "\n")  # a root hash that is not the image's
        r = self.install()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(snapshot(self.state), before)

    def test_install_takes_a_signed_image_with_its_signature(self):
        self.verity()
        self.assertEqual(self.sign(self.vendor).returncode, 0)
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("signed by '/CN=vendor'", r.stdout)
        slots = os.path.join(self.state, "slots")
        for ext in ("", ".verity", ".roothash", ".roothash.p7s"):
            self.assertTrue(os.path.isfile(os.path.join(slots, "b.img" + ext)), ext)
        with open(self.image + ".roothash.p7s", "rb") as a, \
                open(os.path.join(slots, "b.img.roothash.p7s"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def check(self, *extra):
        return run(IMAGEINIT, "check", self.image, "--run-dir", self.run_dir, *extra)

    def test_check_says_what_the_running_boot_chain_would_decide(self):
        r = self.check()  # no verity at all
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("%s: would be refused: signature of the root hash of '%s': no dm-verity "
                      "data" % (self.image, self.image), r.stdout)
        self.verity()
        r = self.check()  # verity, unsigned
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("would be refused: signature of the root hash of '%s': missing ('%s"
                      ".roothash.p7s' does not exist)" % (self.image, self.image), r.stdout)
        self.assertEqual(self.sign(self.other).returncode, 0)
        r = self.check()  # signed by a certificate the boot chain does not trust
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("would be refused: signature of the root hash of '%s': signed by none of "
                      "the 1 trusted certificate(s)" % self.image, r.stdout)
        self.assertNotIn(": ok (", r.stdout)
        self.assertEqual(self.sign(self.vendor).returncode, 0)
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("signature ok (root hash signed by '/CN=vendor')", r.stdout)
        self.assertNotIn("would be refused", r.stdout)

    def test_check_trust_option_replaces_the_running_certificates(self):
        self.verity()
        self.assertEqual(self.sign(self.vendor).returncode, 0)
        r = self.check("--trust", self.other[1])
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("signed by none of the 1 trusted certificate(s)", r.stdout)
        r = self.check("--trust", self.other[1], "--trust", self.vendor[1])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("signature ok (root hash signed by '/CN=vendor')", r.stdout)

    def test_check_without_trust_needs_no_signature(self):
        r = self.check("--no-trust")  # the lint alone, what imageinit-compose runs
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("signature", r.stdout)
        os.unlink(os.path.join(self.run_dir, "trust.pem"))
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("signature", r.stdout)

    def test_install_without_trust_needs_no_signature(self):
        os.unlink(os.path.join(self.run_dir, "trust.pem"))
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: sign_test.py PATH/TO/imageinit")
    IMAGEINIT = os.path.abspath(sys.argv.pop(1))
    tools = ("mksquashfs", "unshare", "veritysetup", "openssl")
    if os.geteuid() != 0 or not all(shutil.which(t) for t in tools):
        print("skipped: needs root and " + ", ".join(tools))
        sys.exit(77)
    unittest.main(verbosity=2)
