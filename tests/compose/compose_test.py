#!/usr/bin/env python3
# Root tests of imageinit-compose on real OCI layouts: golden listings of the composed image
# (erofs and squashfs), digest errors, cache reuse, reproducibility, verity, unsafe layers and
# the lint. Usage: compose_test.py PATH/TO/imageinit-compose. Exit 77 (skip) without root.
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, HERE)
from ocilayout import Layout, d, f, ln, hard, dev, whiteout, opaque  # noqa: E402

COMPOSE = None
# The sibling imageinit, for the lint with the real `imageinit check` (set by meson).
IMAGEINIT = os.environ.get("IMAGEINIT", "")


def small_image_layers():
    """Three layers, one per compression, exercising every rule the golden listing shows."""
    base = [d("etc"), f("etc/keep", "base\n"), f("etc/gone", "whited out\n"),
            d("etc/gone.d"), f("etc/gone.d/x", "whole dir whited out\n"),
            d("opt"), d("opt/app"), f("opt/app/old", "hidden by opaque\n"),
            d("srv", mode=0o750, uid=33, gid=33), f("srv/index", "www\n", uid=33, gid=33),
            ln("lib", "usr/lib"), d("usr"), d("usr/lib"), f("usr/lib/libx.so", "elf\n"),
            f("bin/tool", "#!/bin/sh\n", mode=0o4755),
            hard("bin/tool-link", "bin/tool"),
            dev("dev/null", "chr", 1, 3, mode=0o666), dev("dev/fifo", "fifo", 0, 0),
            d("data", xattrs={"user.compose": "dir-attr"}),
            f("data/labelled", "x\n", xattrs={"user.compose": "file-attr"}),
            f("replace-me", "file in base\n")]
    middle = [whiteout("etc/gone"), whiteout("etc/gone.d"),
              d("opt/app"), opaque("opt/app"), f("opt/app/new", "after opaque\n"),
              # the same layer's content is never hidden by its own whiteout
              f("etc/same-layer", "kept\n"), whiteout("etc/same-layer"),
              d("replace-me", mode=0o700)]
    top = [f("etc/keep", "top wins\n", mode=0o600), d("lib"), f("lib/real", "dir now\n"),
           f("srv/added", "implicit parent keeps 750 33:33\n")]
    return [("tar", base), ("gzip", middle), ("zstd", top)]


def listing(root):
    """One line per entry: type+mode, owner, size (files), link target, path; sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            kind = subprocess.run(["stat", "-c", "%A", p], stdout=subprocess.PIPE,
                                  text=True).stdout.strip()
            extra = ""
            if os.path.islink(p):
                extra = " -> " + os.readlink(p)
            elif kind.startswith("-"):
                extra = " %d" % st.st_size
            elif kind[0] in "cb":
                extra = " %d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            out.append("%s %d:%d %s%s" % (kind, st.st_uid, st.st_gid, rel, extra))
    return sorted(out, key=lambda line: line.split(" ")[2])


class ComposeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="compose-test-")
        self.cache = os.path.join(self.tmp, "cache")
        self.addCleanup(shutil.rmtree, self.tmp)  # cleanups run last-in first-out: after umount

    def layout(self, layers, name="oci", ref=None):
        lay = Layout(os.path.join(self.tmp, name))
        mdesc, descs = lay.add_image(layers, ref=ref)
        return lay, mdesc, descs

    def compose(self, layout_dir, out, *args, env=None, cache=None, check=True):
        cmd = [COMPOSE, "--cache", cache or self.cache, "--no-check", *args, layout_dir, out]
        e = dict(os.environ, **(env or {}))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        if check and r.returncode != 0:
            self.fail("compose failed: %s\n%s" % (r.stderr, r.stdout))
        return r

    def extract(self, image, fmt):
        """A readable tree of the image: mounted when loop devices work (exact modes), else
        unpacked. Returns (tree, exact): fsck.erofs 1.5 --extract drops set-id bits."""
        dest = os.path.join(self.tmp, "x-" + os.path.basename(image))
        os.mkdir(dest)
        if subprocess.run(["mount", "-o", "loop,ro", "-t", fmt, image, dest],
                          stderr=subprocess.DEVNULL).returncode == 0:
            self.addCleanup(subprocess.run, ["umount", dest])
            return dest, True
        if fmt == "erofs":
            cmd = ["fsck.erofs", "--extract=" + dest, "--overwrite", image]
        else:
            cmd = ["unsquashfs", "-q", "-n", "-f", "-d", dest, image]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return dest, fmt != "erofs"

    def golden(self, fmt):
        lay, _, _ = self.layout(small_image_layers())
        img = os.path.join(self.tmp, "small." + fmt)
        self.compose(lay.root, img, "--format", fmt)
        tree, exact = self.extract(img, fmt)
        with open(os.path.join(HERE, "golden", "small.txt")) as fh:
            want = [line.rstrip("\n") for line in fh if line.strip()]
        got = listing(tree)
        if not exact:
            got = [line.replace("rws", "rwx", 1) for line in got]
            want = [line.replace("rws", "rwx", 1) for line in want]
        self.assertEqual(got, want)
        with open(os.path.join(tree, "etc/keep")) as fh:
            self.assertEqual(fh.read(), "top wins\n")
        if exact:  # a mounted image: xattrs and hard links as the kernel sees them
            self.assertEqual(os.getxattr(os.path.join(tree, "data/labelled"), "user.compose"),
                             b"file-attr")
            self.assertEqual(os.lstat(os.path.join(tree, "bin/tool")).st_ino,
                             os.lstat(os.path.join(tree, "bin/tool-link")).st_ino)

    def test_golden_listing_erofs(self):
        self.golden("erofs")

    def test_golden_listing_squashfs(self):
        self.golden("squashfs")

    def test_staging_tree_keeps_xattrs_and_hard_links(self):
        lay, _, _ = self.layout(small_image_layers())
        r = self.compose(lay.root, os.path.join(self.tmp, "i.img"), "--keep-staging")
        root = r.stdout.split("staging tree kept at ")[1].split("\n")[0]
        self.assertEqual(os.getxattr(os.path.join(root, "data"), "user.compose"), b"dir-attr")
        self.assertEqual(os.getxattr(os.path.join(root, "data/labelled"), "user.compose"),
                         b"file-attr")
        a = os.lstat(os.path.join(root, "bin/tool"))
        self.assertEqual(a.st_ino, os.lstat(os.path.join(root, "bin/tool-link")).st_ino)

    def test_digest_mismatch_names_the_layer_digest(self):
        lay, _, descs = self.layout(small_image_layers())
        digest = descs[1]["digest"]
        blob = os.path.join(lay.root, "blobs", "sha256", digest.split(":")[1])
        with open(blob, "r+b") as fh:
            fh.seek(20)
            byte = fh.read(1)
            fh.seek(20)
            fh.write(bytes([byte[0] ^ 0xff]))
        out = os.path.join(self.tmp, "bad.img")
        r = self.compose(lay.root, out, check=False)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], r"^imageinit-compose: layer %s: digest mismatch \(blob is "
                                   r"sha256:[0-9a-f]{64}\)$" % digest)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(os.listdir(os.path.join(self.cache, "layers", "sha256")),
                         [descs[0]["digest"].split(":")[1]])

    def test_missing_blob_names_the_digest(self):
        lay, _, descs = self.layout(small_image_layers())
        os.unlink(os.path.join(lay.root, "blobs", "sha256", descs[2]["digest"].split(":")[1]))
        r = self.compose(lay.root, os.path.join(self.tmp, "x.img"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         "imageinit-compose: blob %s is missing" % descs[2]["digest"])

    def test_tampered_manifest_is_refused(self):
        lay, mdesc, _ = self.layout(small_image_layers())
        path = os.path.join(lay.root, "blobs", "sha256", mdesc["digest"].split(":")[1])
        with open(path, "rb") as fh:
            data = fh.read()
        with open(path, "wb") as fh:
            fh.write(data.replace(b"schemaVersion", b"schemaVersioN"))
        r = self.compose(lay.root, os.path.join(self.tmp, "x.img"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("blob %s: digest mismatch" % mdesc["digest"], r.stderr)

    def test_shared_layers_are_reused_from_the_cache(self):
        lay = Layout(os.path.join(self.tmp, "oci"))
        common = ("zstd", [d("etc"), f("etc/common", "shared\n")])
        _, first = lay.add_image([common, ("gzip", [f("a", "1\n")])], ref="one")
        _, second = lay.add_image([common, ("gzip", [f("b", "2\n")])], ref="two")
        r1 = self.compose(lay.root, os.path.join(self.tmp, "1.img"), "--ref", "one")
        self.assertNotIn("cached", r1.stdout.replace("(0 cached)", ""))
        r2 = self.compose(lay.root, os.path.join(self.tmp, "2.img"), "--ref", "two")
        shared = second[0]["digest"][:19] + "…"
        self.assertIn("layer %s cached" % shared, r2.stdout)
        self.assertIn("layer %s… unpacked" % second[1]["digest"][:19], r2.stdout)
        self.assertIn("2 layers (1 cached)", r2.stdout)

    def reproducible(self, fmt):
        lay, _, _ = self.layout(small_image_layers())
        env = {"SOURCE_DATE_EPOCH": "1700000000"}
        a, b = os.path.join(self.tmp, "a.img"), os.path.join(self.tmp, "b.img")
        self.compose(lay.root, a, "--format", fmt, env=env)
        # a cold cache the second time: the bytes must not depend on the cache's history
        self.compose(lay.root, b, "--format", fmt, env=env, cache=os.path.join(self.tmp, "c2"))
        with open(a, "rb") as fa, open(b, "rb") as fb:
            self.assertTrue(fa.read() == fb.read(), "%s images differ" % fmt)
        c = os.path.join(self.tmp, "c.img")
        self.compose(lay.root, c, "--format", fmt, env={"SOURCE_DATE_EPOCH": "0"})
        with open(a, "rb") as fa, open(c, "rb") as fc:
            self.assertFalse(fa.read() == fc.read(), "SOURCE_DATE_EPOCH ignored")

    def test_same_input_gives_same_erofs_bytes(self):
        self.reproducible("erofs")

    def test_same_input_gives_same_squashfs_bytes(self):
        self.reproducible("squashfs")

    def test_verity_sidecars_verify(self):
        lay, _, _ = self.layout(small_image_layers())
        img = os.path.join(self.tmp, "v.img")
        self.compose(lay.root, img, "--verity")
        with open(img + ".roothash") as fh:
            root_hash = fh.read().strip()
        self.assertRegex(root_hash, "^[0-9a-f]{64}$")
        subprocess.run(["veritysetup", "verify", img, img + ".verity", root_hash], check=True)

    def make_cert(self, who):
        base = os.path.join(self.tmp, who)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-subj", "/CN=" + who, "-keyout", base + ".key", "-out", base + ".crt"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return base + ".key", base + ".crt"

    def test_sign_writes_a_signature_of_the_root_hash(self):
        lay, _, _ = self.layout(small_image_layers())
        img = os.path.join(self.tmp, "s.img")
        key, crt = self.make_cert("vendor")
        self.compose(lay.root, img, "--sign", key, "--cert", crt)  # implies --verity
        with open(img + ".roothash") as fh:
            root_hash = fh.read().strip()
        content = os.path.join(self.tmp, "roothash.txt")
        with open(content, "w") as fh:
            fh.write(root_hash)  # signed: the hex text without the newline
        subprocess.run(["openssl", "smime", "-verify", "-binary", "-inform", "der", "-noverify",
                        "-nointern", "-in", img + ".roothash.p7s", "-content", content,
                        "-certfile", crt, "-out", os.devnull], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Composed again without --sign: the old signature does not stay beside the new image.
        self.compose(lay.root, img, "--verity")
        self.assertFalse(os.path.exists(img + ".roothash.p7s"))

    def test_sign_with_a_foreign_key_writes_nothing(self):
        lay, _, _ = self.layout(small_image_layers())
        img = os.path.join(self.tmp, "s.img")
        key, _ = self.make_cert("vendor")
        _, crt = self.make_cert("other")
        r = self.compose(lay.root, img, "--sign", key, "--cert", crt, check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("the key does not belong to the certificate '/CN=other'", r.stderr)
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("s.img")], [])

    def test_entry_escaping_the_root_refuses_the_layer(self):
        lay, _, descs = self.layout([("tar", [f("../escaped", "x\n")])])
        r = self.compose(lay.root, os.path.join(self.tmp, "x.img"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("escapes the layer root", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "cache", "escaped")))

    def test_write_through_symlink_in_a_layer_is_refused(self):
        outside = os.path.join(self.tmp, "outside")
        os.mkdir(outside)
        lay, _, _ = self.layout([("tar", [ln("s", outside), f("s/planted", "x\n")])])
        r = self.compose(lay.root, os.path.join(self.tmp, "x.img"), check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(os.listdir(outside), [])

    def test_upper_directory_replaces_lower_symlink_without_following_it(self):
        outside = os.path.join(self.tmp, "outside")
        os.mkdir(outside)
        lay, _, _ = self.layout([("tar", [ln("etc", outside)]),
                                 ("tar", [f("etc/passwd", "root\n")])])
        img = os.path.join(self.tmp, "s.img")
        self.compose(lay.root, img)
        self.assertEqual(os.listdir(outside), [])
        tree, _ = self.extract(img, "erofs")
        self.assertTrue(os.path.isdir(os.path.join(tree, "etc")))
        self.assertFalse(os.path.islink(os.path.join(tree, "etc")))

    def test_plain_directory_input(self):
        src = os.path.join(self.tmp, "rootfs")
        os.makedirs(os.path.join(src, "etc"))
        with open(os.path.join(src, "etc", "hostname"), "w") as fh:
            fh.write("plain\n")
        img = os.path.join(self.tmp, "p.img")
        self.compose(src, img)
        tree, _ = self.extract(img, "erofs")
        with open(os.path.join(tree, "etc/hostname")) as fh:
            self.assertEqual(fh.read(), "plain\n")

    def test_five_layer_e2e_layout_composes_with_every_rule_applied(self):
        layout = os.path.join(self.tmp, "five")
        subprocess.run([os.path.join(HERE, "make-five-layer-oci"), layout], check=True,
                       stdout=subprocess.DEVNULL)
        img = os.path.join(self.tmp, "five.img")
        args = ["--check-with", IMAGEINIT] if IMAGEINIT else []
        cmd = [COMPOSE, "--cache", self.cache, *(args or ["--no-check"]), layout, img]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        if IMAGEINIT:
            self.assertIn("imageinit check: passed", r.stdout)
        tree, _ = self.extract(img, "erofs")
        markers = sorted(os.listdir(os.path.join(tree, "usr/share/imageinit-e2e")))
        self.assertEqual(markers, ["layer1-base-os", "layer2-distribution",
                                   "layer3-system-components", "layer4-host-agent", "layer5-oem"])
        self.assertFalse(os.path.lexists(os.path.join(tree, "etc/motd")))
        self.assertEqual(os.listdir(os.path.join(tree, "opt/vendor")), ["agent.conf"])
        self.assertTrue(os.path.isfile(os.path.join(tree, "etc/imageinit/fstab")))
        self.assertEqual(os.readlink(os.path.join(tree, "sbin/init")), "../bin/busybox")

    def test_real_check_refuses_a_spec_whose_mount_point_is_missing(self):
        if not IMAGEINIT:
            self.skipTest("IMAGEINIT not set")
        lay, _, _ = self.layout([("tar", [d("etc"), d("etc/imageinit"), f(
            "etc/imageinit/fstab", "tmpfs /no/such/dir tmpfs defaults\n")])])
        img = os.path.join(self.tmp, "bad.img")
        r = subprocess.run([COMPOSE, "--cache", self.cache, "--check-with", IMAGEINIT, lay.root,
                            img], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("imageinit check failed", r.stderr)
        self.assertFalse(os.path.exists(img))

    def fake_imageinit(self, body):
        path = os.path.join(self.tmp, "imageinit")
        with open(path, "w") as fh:
            fh.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def run_with_check(self, body):
        lay, _, _ = self.layout([("tar", [f("etc/x", "1\n")])])
        img = os.path.join(self.tmp, "c.img")
        cmd = [COMPOSE, "--cache", self.cache, "--check-with", self.fake_imageinit(body),
               lay.root, img]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return r, img

    def test_failing_check_blocks_the_image(self):
        r, img = self.run_with_check('[ "$2" = /dev/null ] && exit 1; '
                                     'echo "fstab:2: mount point \'/data\' missing" >&2; exit 1')
        self.assertEqual(r.returncode, 1)
        self.assertIn("imageinit check failed: fstab:2: mount point '/data' missing", r.stderr)
        self.assertFalse(os.path.exists(img))

    def test_passing_check_is_reported(self):
        r, img = self.run_with_check('[ "$2" = /dev/null ] && exit 1; exit 0')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("imageinit check: passed", r.stdout)
        self.assertTrue(os.path.exists(img))

    def test_stub_check_only_warns(self):
        r, img = self.run_with_check("exit 0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: image not linted", r.stderr)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("compose image tests need root (owners, device nodes): skipped")
        sys.exit(77)
    COMPOSE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
