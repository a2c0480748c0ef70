#!/usr/bin/env python3
# Root tests of imageinit-compose on real OCI layouts: golden listings of the composed image
# (erofs and squashfs), digest errors, cache reuse, reproducibility, verity, unsafe layers and
# the lint. Usage: compose_test.py PATH/TO/imageinit-compose. Exit 77 (skip) without root.
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, HERE)
from ocilayout import Layout, MEDIA_LAYER, d, f, ln, hard, dev, whiteout, opaque  # noqa: E402

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

    # --- hostile layers (issue 19, items 4 and 5; docs/security.md) ---

    def raw_layer_image(self, blob, how="tar", name="oci"):
        """A layout whose only layer is the given blob bytes (already compressed)."""
        lay = Layout(os.path.join(self.tmp, name))
        desc = lay.blob(blob, MEDIA_LAYER[how])
        config = lay.blob(b'{"architecture":"amd64","os":"linux"}',
                          "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config, "layers": [desc]}
        import json
        lay.manifests.append(lay.blob(json.dumps(manifest).encode(), manifest["mediaType"]))
        lay.write_index()
        return lay, desc

    def assert_refused(self, r, message, out):
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stderr.strip().splitlines(), ["imageinit-compose: " + message])
        self.assertFalse(os.path.exists(out))
        self.assertEqual(os.listdir(os.path.join(self.cache, "tmp")), [], "staging left behind")

    def zstd_bomb(self, size):
        """A tar+zstd layer of one file of `size` zero bytes (256 MiB -> about 8 KB)."""
        ti = tarfile.TarInfo("bomb")
        ti.size, ti.mtime = size, 0
        z = subprocess.Popen(["zstd", "-q", "-19", "-c"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        header = ti.tobuf(format=tarfile.PAX_FORMAT)
        zeros = bytes(1 << 20)

        def feed():
            z.stdin.write(header)
            for _ in range(size >> 20):
                z.stdin.write(zeros)
            z.stdin.write(bytes(1024))  # end of archive
            z.stdin.close()
        import threading
        t = threading.Thread(target=feed)
        t.start()
        blob = z.stdout.read()
        z.stdout.close()
        t.join()
        z.wait()
        return blob

    def test_zstd_bomb_is_refused_at_its_header(self):
        blob = self.zstd_bomb(256 << 20)
        self.assertLess(len(blob), 64 << 10)
        lay, desc = self.raw_layer_image(blob, "zstd")
        out = os.path.join(self.tmp, "bomb.img")
        r = self.compose(lay.root, out, "--max-unpacked-size", "64M", check=False)
        self.assert_refused(r, "layer %s: entry 'bomb' (256.0 MiB) takes the unpacked size past "
                               "the limit of 64.0 MiB (--max-unpacked-size)" % desc["digest"], out)
        self.assertEqual(os.listdir(os.path.join(self.cache, "layers", "sha256")), [])

    def test_default_unpack_limit_follows_the_cache_free_space(self):
        blob = self.zstd_bomb(256 << 20)
        lay, desc = self.raw_layer_image(blob, "zstd")
        self.cache = os.path.join(self.tmp, "small-cache")
        os.mkdir(self.cache)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128M", "tmpfs", self.cache],
                       check=True)
        self.addCleanup(subprocess.run, ["umount", self.cache])
        out = os.path.join(self.tmp, "bomb.img")
        r = self.compose(lay.root, out, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("layer %s: entry 'bomb' (256.0 MiB) takes the unpacked size past the limit"
                      % desc["digest"], r.stderr)

    def test_huge_sparse_file_is_refused_at_once(self):
        # pax sparse format 1.0: a 512-byte map (one empty extent) standing for 64 GiB of holes
        ti = tarfile.TarInfo("var/GNUSparseFile.0/sparse")
        ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                          "GNU.sparse.name": "var/sparse", "GNU.sparse.realsize": str(64 << 30)}
        sparse_map = b"1\n%d\n0\n" % (64 << 30)
        ti.size, ti.mtime = 512, 0
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            t.addfile(ti, io.BytesIO(sparse_map.ljust(512, b"\0")))
        lay, desc = self.raw_layer_image(buf.getvalue())
        self.assertLess(len(buf.getvalue()), 16 << 10)
        out = os.path.join(self.tmp, "sparse.img")
        r = self.compose(lay.root, out, "--max-unpacked-size", "1G", check=False)
        self.assert_refused(r, "layer %s: entry 'var/sparse' (64.0 GiB) takes the unpacked size "
                               "past the limit of 1.0 GiB (--max-unpacked-size)"
                            % desc["digest"], out)

    def blob_file(self, desc, lay):
        return os.path.join(lay.root, "blobs", "sha256", desc["digest"].split(":")[1])

    def test_longer_blob_is_refused_before_unpacking(self):
        lay, _, descs = self.layout([("gzip", [f("etc/x", "1\n")])])
        with open(self.blob_file(descs[0], lay), "ab") as fh:
            fh.write(bytes(200 << 10))
        out = os.path.join(self.tmp, "long.img")
        r = self.compose(lay.root, out, check=False)
        self.assert_refused(r, "blob %s is %d bytes, the descriptor says %d" % (
            descs[0]["digest"], descs[0]["size"] + (200 << 10), descs[0]["size"]), out)

    def test_shorter_blob_is_refused(self):
        lay, _, descs = self.layout([("tar", [f("etc/x", "1\n")])])
        os.truncate(self.blob_file(descs[0], lay), 1024)
        out = os.path.join(self.tmp, "short.img")
        r = self.compose(lay.root, out, check=False)
        self.assert_refused(r, "blob %s is 1024 bytes, the descriptor says %d" % (
            descs[0]["digest"], descs[0]["size"]), out)

    def test_fifo_in_place_of_a_blob_is_refused_without_hanging(self):
        lay, _, descs = self.layout([("tar", [f("etc/x", "1\n")])])
        path = self.blob_file(descs[0], lay)
        os.unlink(path)
        os.mkfifo(path)
        out = os.path.join(self.tmp, "fifo.img")
        cmd = [COMPOSE, "--cache", self.cache, "--no-check", lay.root, out]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)  # a hang fails the test instead of blocking the suite
        self.assert_refused(r, "blob %s is not a regular file (a fifo, device or directory)"
                            % descs[0]["digest"], out)

    def test_device_nodes_outside_dev_are_dropped_and_set_id_files_listed(self):
        caps = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # cap_net_raw+ep, v2
        layer = [d("dev"), dev("dev/sda", "blk", 8, 0), dev("etc/sda", "blk", 8, 0),
                 d("usr"), d("usr/bin"), f("usr/bin/su", "su\n", mode=0o4755),
                 f("usr/bin/ping", "ping\n",
                   xattrs={"security.capability": caps.decode("utf-8", "surrogateescape")}),
                 hard("tmp-sda", "dev/sda"), hard("etc/sda-link", "etc/sda")]
        lay, _, descs = self.layout([("tar", layer)])
        img = os.path.join(self.tmp, "dev.img")
        r = self.compose(lay.root, img)
        warn = "imageinit-compose: warning: layer %s: " % descs[0]["digest"]
        self.assertEqual(r.stderr.strip().splitlines(), [
            warn + "device node 'etc/sda' outside /dev dropped",
            warn + "hard link to a device node 'tmp-sda' outside /dev dropped",
            warn + "hard link 'etc/sda-link' to a dropped entry dropped"])
        self.assertIn("set-id files (1): usr/bin/su\n", r.stdout)
        self.assertIn("file capabilities (1): usr/bin/ping\n", r.stdout)
        self.assertIn("device nodes (1): dev/sda\n", r.stdout)
        tree, _ = self.extract(img, "erofs")
        self.assertFalse(os.path.lexists(os.path.join(tree, "etc/sda")))
        self.assertFalse(os.path.lexists(os.path.join(tree, "tmp-sda")))
        self.assertTrue(os.path.lexists(os.path.join(tree, "dev/sda")))
        # a cached layer repeats its warnings
        r = self.compose(lay.root, os.path.join(self.tmp, "again.img"))
        self.assertIn(warn + "device node 'etc/sda' outside /dev dropped", r.stderr)

    def test_mkfs_killed_by_a_signal_is_named_and_staging_removed(self):
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        with open(os.path.join(bindir, "mkfs.erofs"), "w") as fh:
            fh.write("#!/bin/sh\necho 'walking the tree' >&2\nkill -SEGV $$\n")
        os.chmod(os.path.join(bindir, "mkfs.erofs"), 0o755)
        lay, _, _ = self.layout([("tar", [f("etc/x", "1\n")])])
        out = os.path.join(self.tmp, "crash.img")
        r = self.compose(lay.root, out, check=False,
                         env={"PATH": bindir + ":" + os.environ["PATH"]})
        self.assert_refused(r, "mkfs: mkfs.erofs killed by signal 11 (Segmentation fault): "
                               "walking the tree; hint: mkfs may have overflowed its stack", out)
        self.assertEqual([n for n in os.listdir(self.tmp) if ".partial-" in n], [])

    def test_sixty_thousand_nested_directories_do_not_crash_compose(self):
        depth = 60000
        deep = "d/" * depth + "file"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            ti = tarfile.TarInfo(deep)
            ti.size, ti.mtime = 2, 0
            t.addfile(ti, io.BytesIO(b"x\n"))
        lay, _ = self.raw_layer_image(buf.getvalue())
        # on tmpfs when there is one: 120,000 directories on a loaded disk take minutes
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else self.tmp
        self.cache = tempfile.mkdtemp(prefix="compose-deep-", dir=base)
        # shutil.rmtree recurses (RecursionError at this depth): rm -rf first (cleanups are LIFO)
        self.addCleanup(subprocess.run, ["rm", "-rf", self.cache])
        out = os.path.join(self.tmp, "deep.img")
        r = self.compose(lay.root, out, check=False)
        # Either an image or one clear line (mkfs.erofs 1.5 itself overflows on such a tree);
        # never a crash of compose, never a staging tree left behind.
        self.assertIn(r.returncode, (0, 1), r.stderr)
        if r.returncode == 1:
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertRegex(r.stderr, r"^imageinit-compose: mkfs: mkfs.erofs ")
        self.assertEqual(os.listdir(os.path.join(self.cache, "tmp")), [])



if __name__ == "__main__":
    if os.geteuid() != 0:
        print("compose image tests need root (owners, device nodes): skipped")
        sys.exit(77)
    COMPOSE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
