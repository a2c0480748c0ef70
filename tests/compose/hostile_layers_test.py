#!/usr/bin/env python3
# Root tests of imageinit-compose on hostile layouts (issue 19; docs/security.md, "Layers given
# to imageinit-compose"): bombs, sparse giants, longer/shorter/fifo blobs, device nodes and set-id
# files, a crashing mkfs, 60,000 nested directories. Usage: hostile_layers_test.py COMPOSE.
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, HERE)
import compose_test  # noqa: E402
from ocilayout import Layout, MEDIA_LAYER, d, f, hard, dev  # noqa: E402


class HostileLayersTest(unittest.TestCase):
    # the helpers of the main compose tests, without their test cases
    setUp = compose_test.ComposeTest.setUp
    layout = compose_test.ComposeTest.layout
    compose = compose_test.ComposeTest.compose
    extract = compose_test.ComposeTest.extract
    def raw_layer_image(self, blob, how="tar", name="oci"):
        """A layout whose only layer is the given blob bytes (already compressed)."""
        lay = Layout(os.path.join(self.tmp, name))
        desc = lay.blob(blob, MEDIA_LAYER[how])
        config = lay.blob(b'{"architecture":"amd64","os":"linux"}',
                          "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config, "layers": [desc]}
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
        cmd = [compose_test.COMPOSE, "--cache", self.cache, "--no-check", lay.root, out]
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
        print("compose hostile-layer tests need root (owners, device nodes): skipped")
        sys.exit(77)
    compose_test.COMPOSE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
