#!/usr/bin/env python3
# Root tests of imageinit-compose for issue 14: POSIX ACLs from a real OCI image (built with
# umoci) survive into the layer cache, the staging tree and the erofs image, and match umoci's
# own unpack; a relative --cache path works and is reused. Usage: compose_cache_acl_test.py
# PATH/TO/imageinit-compose. Exit 77 (skip) without root; the ACL tests skip without umoci/acl.
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from ocilayout import Layout, d, f  # noqa: E402

COMPOSE = None
HAVE_ACL_TOOLS = all(shutil.which(t) for t in ("umoci", "setfacl", "getfacl"))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


def acls(path):
    """getfacl's listing of PATH without its '# file:' line (the path differs)."""
    out = run(["getfacl", "-p", "-n", path]).stdout
    return [line for line in out.splitlines() if line and not line.startswith("# file:")]


class ComposeFixes(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="compose-acl-test-")
        self.addCleanup(shutil.rmtree, self.tmp)

    def compose(self, args, cwd=None):
        r = subprocess.run([COMPOSE, "--no-check", *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r

    @unittest.skipUnless(HAVE_ACL_TOOLS, "needs umoci, setfacl and getfacl")
    def test_access_and_default_acls_survive_compose_like_umoci_unpack(self):
        oci = os.path.join(self.tmp, "oci")
        bundle = os.path.join(self.tmp, "bundle")
        run(["umoci", "init", "--layout", oci])
        run(["umoci", "new", "--image", oci + ":t"])
        run(["umoci", "unpack", "--image", oci + ":t", bundle])
        journal = os.path.join(bundle, "rootfs/var/log/journal")
        os.makedirs(journal)
        with open(os.path.join(bundle, "rootfs/var/log/acl-file"), "w") as fh:
            fh.write("x\n")
        run(["setfacl", "-m", "u:1000:rwx,g:4:rx", journal])
        run(["setfacl", "-d", "-m", "g:4:rx", journal])
        run(["setfacl", "-m", "u:1001:r", os.path.join(bundle, "rootfs/var/log/acl-file")])
        run(["umoci", "repack", "--image", oci + ":t", bundle])
        # umoci's own unpack of the same image: what the ACLs must look like.
        theirs = os.path.join(self.tmp, "theirs")
        run(["umoci", "unpack", "--image", oci + ":t", theirs])
        want_dir = acls(os.path.join(theirs, "rootfs/var/log/journal"))
        want_file = acls(os.path.join(theirs, "rootfs/var/log/acl-file"))
        self.assertIn("user:1000:rwx", want_dir)
        self.assertIn("default:group:4:r-x", want_dir)

        img = os.path.join(self.tmp, "out.erofs")
        cache = os.path.join(self.tmp, "cache")
        r = self.compose(["--cache", cache, "--keep-staging", "--ref", "t", oci, img])
        staging = r.stdout.split("staging tree kept at ")[1].split("\n")[0]
        layers = os.path.join(cache, "layers/sha256")
        (layer,) = os.listdir(layers)
        trees = {"layer cache": os.path.join(layers, layer, "tree"), "staging tree": staging}
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt)
        if subprocess.run(["mount", "-o", "loop,ro", "-t", "erofs", img, mnt],
                          stderr=subprocess.DEVNULL).returncode == 0:
            self.addCleanup(subprocess.run, ["umount", mnt])
            trees["erofs image"] = mnt
        for what, root in trees.items():
            self.assertEqual(acls(os.path.join(root, "var/log/journal")), want_dir, what)
            self.assertEqual(acls(os.path.join(root, "var/log/acl-file")), want_file, what)

    def test_relative_cache_path_works_and_is_reused(self):
        lay = Layout(os.path.join(self.tmp, "oci"))
        lay.add_image([("tar", [d("etc"), f("etc/a", "a\n")]), ("gzip", [f("etc/b", "b\n")])])
        r = self.compose(["--cache", "rel-cache", "oci", "one.erofs"], cwd=self.tmp)
        self.assertIn("2 layers (0 cached)", r.stdout)
        for layer in os.listdir(os.path.join(self.tmp, "rel-cache/layers/sha256")):
            for name in ("dirs", "size", "tree"):
                self.assertTrue(os.path.exists(
                    os.path.join(self.tmp, "rel-cache/layers/sha256", layer, name)), name)
        r = self.compose(["--cache", "rel-cache", "oci", "two.erofs"], cwd=self.tmp)
        self.assertIn("2 layers (2 cached)", r.stdout)

    def test_cached_layer_without_its_dirs_file_is_unpacked_again(self):
        lay = Layout(os.path.join(self.tmp, "oci"))
        lay.add_image([("tar", [d("etc"), f("etc/a", "a\n")])])
        cache = os.path.join(self.tmp, "cache")
        self.compose(["--cache", cache, lay.root, os.path.join(self.tmp, "one.erofs")])
        layers = os.path.join(cache, "layers/sha256")
        (layer,) = os.listdir(layers)
        os.unlink(os.path.join(layers, layer, "dirs"))  # what a relative --cache used to leave
        r = self.compose(["--cache", cache, lay.root, os.path.join(self.tmp, "two.erofs")])
        self.assertIn("1 layers (0 cached)", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(layers, layer, "dirs")))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("compose tests need root (owners, ACLs): skipped")
        sys.exit(77)
    COMPOSE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
