#!/usr/bin/env python3
# imageinit-compose and `imageinit upgrade` against a REAL registry (registry_fixture.py:
# docker-registry with TLS and htpasswd auth, images pushed with skopeo).
# Usage: registry_test.py PATH/TO/imageinit-compose.
# Exit 77 (skip) without root or without docker-registry/skopeo/htpasswd.
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from ocilayout import Layout  # noqa: E402
from registry_fixture import (PASSWORD, USER, Registry, base_layers, cache_state,  # noqa: E402
                              free_port, layer, run)

COMPOSE = None
IMAGEINIT = os.environ.get("IMAGEINIT", "")  # the sibling imageinit, for `upgrade` (meson)


class RegistryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="registry-test-")
        cls.reg = Registry(os.path.join(cls.tmp, "registry"))
        cls.reg.start()
        # Image "base": five layers. Image "app": the same four, another top layer.
        lay = Layout(os.path.join(cls.tmp, "oci"))
        cls.base_desc, cls.base_layers = lay.add_image(base_layers() + [layer(5)], ref="base")
        cls.app_desc, cls.app_layers = lay.add_image(base_layers() + [layer(6)], ref="app")
        cls.reg.push(lay.root, "base", "os/base:v1")
        cls.reg.push(lay.root, "app", "os/app:v1")

    @classmethod
    def tearDownClass(cls):
        cls.reg.stop()
        shutil.rmtree(cls.tmp)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="case-", dir=self.tmp)
        self.cache = os.path.join(self.work, "cache")

    def compose(self, ref, *args, creds="%s:%s" % (USER, PASSWORD), cert_dir=True, check=True,
                cache=None):
        out = os.path.join(self.work, "out-%d.img" % time.monotonic_ns())
        cmd = [COMPOSE, "--cache", cache or self.cache, "--no-check", "--retry-times", "1"]
        if creds:
            cmd += ["--creds", creds]
        if cert_dir:
            cmd += ["--cert-dir", self.reg.certs]
        cmd += [*args, "docker://%s/%s" % (self.reg.host, ref), out]
        r = run(cmd)
        if check and r.returncode != 0:
            self.fail("compose failed: %s\n%s" % (r.stderr, r.stdout))
        return r, out

    def layer_gets(self, log, layers):
        """GET requests the registry logged for these layer descriptors, by digest."""
        got = {}
        for desc in layers:
            got[desc["digest"]] = len(re.findall(
                r'"GET /v2/[^ ]*/blobs/%s HTTP' % re.escape(desc["digest"]), log))
        return got

    def cached_layers(self, cache=None):
        p = os.path.join(cache or self.cache, "layers", "sha256")
        return sorted(os.listdir(p)) if os.path.isdir(p) else []

    def test_first_pull_of_five_layers_composes_the_image(self):
        before = self.reg.log_text()
        r, out = self.compose("os/base:v1", "--format", "squashfs")
        self.assertIn("5 layers, 5 to download", r.stdout)
        self.assertIn("manifest digest " + self.base_desc["digest"], r.stdout)
        self.assertEqual(r.stdout.count(" downloaded "), 5, r.stdout)
        cat = run(["unsquashfs", "-cat", out, "usr/share/layers/5"], check=True).stdout
        self.assertEqual(cat, "layer 5\n")
        self.assertEqual(self.cached_layers(), sorted(l["digest"][7:] for l in self.base_layers))
        # The downloaded blobs went away once unpacked; no partial download is left.
        self.assertEqual(os.listdir(os.path.join(self.cache, "blobs", "sha256")), [])
        self.assertEqual([n for n in os.listdir(os.path.join(self.cache, "tmp"))], [])
        gets = self.layer_gets(self.reg.log_text()[len(before):], self.base_layers)
        self.assertEqual(set(gets.values()), {1}, gets)

    def test_second_image_sharing_four_layers_downloads_one_blob(self):
        self.compose("os/base:v1")
        before = self.reg.log_text()
        r, _ = self.compose("os/app:v1")
        self.assertIn("5 layers, 1 to download", r.stdout)
        gets = self.layer_gets(self.reg.log_text()[len(before):], self.app_layers)
        self.assertEqual(sum(gets.values()), 1, gets)
        self.assertEqual(gets[self.app_layers[4]["digest"]], 1, gets)

    def test_index_with_several_platforms_picks_amd64(self):
        lay = Layout(os.path.join(self.work, "multi"))
        amd, _ = lay.add_image(base_layers() + [layer(7, payload="amd64\n")])
        arm, _ = lay.add_image(base_layers() + [layer(7, payload="arm64\n")])
        amd["platform"] = {"os": "linux", "architecture": "amd64"}
        arm["platform"] = {"os": "linux", "architecture": "arm64", "variant": "v8"}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [arm, amd]}
        idesc = lay.blob(json.dumps(index).encode(), index["mediaType"])
        idesc["annotations"] = {"org.opencontainers.image.ref.name": "multi"}
        lay.manifests = [idesc]
        lay.write_index()
        self.reg.push(lay.root, "multi", "os/multi:v1", all_images=True)
        r, out = self.compose("os/multi:v1", "--platform", "linux/amd64", "--format", "squashfs")
        self.assertIn("manifest digest " + amd["digest"], r.stdout)
        cat = run(["unsquashfs", "-cat", out, "usr/share/layers/7"], check=True).stdout
        self.assertEqual(cat, "amd64\n")
        r, _ = self.compose("os/multi:v1", "--platform", "linux/arm64", "--format", "squashfs")
        self.assertIn("manifest digest " + arm["digest"], r.stdout)
        r, _ = self.compose("os/multi:v1", "--platform", "linux/s390x", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no manifest for linux/s390x (it has linux/arm64, linux/amd64)", r.stderr)

    def assert_one_clear_error(self, r, text, before):
        self.assertNotEqual(r.returncode, 0, r.stdout)
        lines = r.stderr.strip().split("\n")
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(text, lines[0])
        self.assertEqual(cache_state(self.cache), before)

    def test_failures_give_one_clear_error_and_leave_the_cache_untouched(self):
        self.compose("os/base:v1")
        before = cache_state(self.cache)
        r, _ = self.compose("os/app:v1", creds=USER + ":wrong", check=False)
        self.assert_one_clear_error(r, "authentication failed for user 'edge' (wrong password?)",
                                    before)
        r, _ = self.compose("os/app:v1", creds=None, check=False)
        self.assert_one_clear_error(r, "the registry wants credentials", before)
        r, _ = self.compose("os/app:nosuchtag", check=False)
        self.assert_one_clear_error(r, "manifest unknown", before)
        r, _ = self.compose("os/app:v1", cert_dir=False, check=False)
        self.assert_one_clear_error(r, "SSL certificate problem", before)
        self.assertIn("--cert-dir", r.stderr)
        port = free_port()  # a registry that is down: nobody listens there
        cmd = [COMPOSE, "--cache", self.cache, "--no-check", "--retry-times", "1", "--creds",
               "a:b", "docker://127.0.0.1:%d/os/app:v1" % port, self.work + "/x.img"]
        r = run(cmd)
        self.assert_one_clear_error(r, "Couldn't connect to server (after 1 retries)", before)
        self.assertFalse(os.path.exists(self.work + "/x.img"))

    def test_auth_file_and_tls_verify_false(self):
        auth = os.path.join(self.work, "auth.json")
        token = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        with open(auth, "w") as fh:
            json.dump({"auths": {self.reg.host: {"auth": token}}}, fh)
        r, _ = self.compose("os/base:v1", "--authfile", auth, creds=None)
        self.assertIn("5 layers, 5 to download", r.stdout)
        # The same credentials through $REGISTRY_AUTH_FILE, and no CA: --tls-verify=false.
        r = run([COMPOSE, "--cache", self.cache, "--no-check", "--tls-verify=false",
                 "docker://%s/os/app:v1" % self.reg.host, self.work + "/app.img"],
                env=dict(os.environ, REGISTRY_AUTH_FILE=auth))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("WARNING: --tls-verify=false", r.stderr)
        self.assertIn("5 layers, 1 to download", r.stdout)

    def test_tampered_blob_is_refused_and_nothing_is_cached(self):
        lay = Layout(os.path.join(self.work, "tamper"))
        desc, layers = lay.add_image(base_layers() + [layer(8, payload="genuine\n")], ref="t")
        self.reg.push(lay.root, "t", "os/tamper:v1")
        self.compose("os/base:v1")  # the four shared layers are cached: only layer 8 is fetched
        target = layers[4]["digest"][7:]
        path = self.reg.blob_data(target)
        with open(path, "r+b") as fh:  # same size, one byte different
            fh.seek(20)
            b = fh.read(1)
            fh.seek(20)
            fh.write(bytes([b[0] ^ 0xff]))
        before = cache_state(self.cache)
        r, out = self.compose("os/tamper:v1", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("layer " + layers[4]["digest"] + ": digest mismatch", r.stderr)
        self.assertIn("nothing was cached", r.stderr)
        self.assertEqual(cache_state(self.cache), before)
        self.assertNotIn(target, self.cached_layers())
        self.assertFalse(os.path.exists(out))

    def test_killed_download_resumes_and_leaves_a_consistent_cache(self):
        lay = Layout(os.path.join(self.work, "big"))
        size = 24 << 20
        desc, layers = lay.add_image(base_layers() + [layer(9, size=size)], ref="big")
        self.reg.push(lay.root, "big", "os/big:v1")
        big = layers[4]
        partial = os.path.join(self.cache, "tmp", "blob-%s.partial" % big["digest"][7:])
        cmd = [COMPOSE, "--cache", self.cache, "--no-check", "--creds", "%s:%s" % (USER, PASSWORD),
               "--cert-dir", self.reg.certs, "--jobs", "1", "--limit-rate", "4M",
               "docker://%s/os/big:v1" % self.reg.host, self.work + "/big.img"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(partial) and os.path.getsize(partial) > (2 << 20):
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait()
        got = os.path.getsize(partial)
        self.assertTrue(0 < got < big["size"], got)
        self.assertFalse(os.path.exists(os.path.join(self.cache, "blobs/sha256", big["digest"][7:])))
        self.assertNotIn(big["digest"][7:], self.cached_layers())
        # The registry logs the killed GET when it notices the closed connection: wait for it,
        # so that only the next run's requests are counted.
        for _ in range(100):
            if self.layer_gets(self.reg.log_text(), [big])[big["digest"]] >= 1:
                break
            time.sleep(0.1)
        before = self.reg.log_text()
        r, out = self.compose("os/big:v1", "--format", "squashfs", "--jobs", "1")
        self.assertRegex(r.stdout, r"layer %s… downloaded .*resumed at \d+ bytes"
                         % re.escape(big["digest"][:19]))
        log = [l for l in self.reg.log_text()[len(before):].splitlines() if big["digest"] in l]
        self.assertEqual(len(log), 1, log)
        self.assertRegex(log[0], r'HTTP/[0-9.]+" 206 ')  # the rest only: a Range request
        self.assertFalse(os.path.exists(partial))
        self.assertEqual(self.cached_layers(), sorted(l["digest"][7:] for l in layers))
        for hexd in self.cached_layers():
            for part in ("tree", "dirs", "size"):
                self.assertTrue(os.path.exists(os.path.join(self.cache, "layers/sha256", hexd,
                                                            part)), (hexd, part))
        data = subprocess.run(["unsquashfs", "-cat", out, "usr/share/layers/big-9"],
                              stdout=subprocess.PIPE, check=True).stdout
        self.assertEqual(len(data), size)

    def test_gc_keeps_exactly_the_two_slots_layers(self):
        lay = Layout(os.path.join(self.work, "third"))
        third, third_layers = lay.add_image([layer(10), layer(11)], ref="c")
        self.reg.push(lay.root, "c", "os/third:v1")
        for ref in ("os/base:v1", "os/app:v1", "os/third:v1"):
            self.compose(ref)
        slots = os.path.join(self.work, "slots")
        os.mkdir(slots)
        for name, desc, ref in (("a", self.base_desc, "os/base:v1"), ("b", self.app_desc, "os/app:v1")):
            with open(os.path.join(slots, name + ".img.source"), "w") as fh:
                fh.write("source=docker://%s/%s\ndigest=%s\n" % (self.reg.host, ref, desc["digest"]))
        r = run([COMPOSE, "gc", "--cache", self.cache, "--keep-slots", slots])
        self.assertEqual(r.returncode, 0, r.stderr)
        want = sorted({l["digest"][7:] for l in self.base_layers + self.app_layers})
        self.assertEqual(self.cached_layers(), want)
        self.assertIn("removed 2 layers", r.stdout)
        self.assertEqual(sorted(os.listdir(os.path.join(self.cache, "manifests/sha256"))),
                         sorted([self.base_desc["digest"][7:], self.app_desc["digest"][7:]]))
        # gc refuses to guess
        r = run([COMPOSE, "gc", "--cache", self.cache])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refusing to empty the cache", r.stderr)
        r = run([COMPOSE, "gc", "--cache", self.cache, "--keep", third["digest"]])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is not in the cache", r.stderr)
        self.assertEqual(self.cached_layers(), want)
        # A slot whose image was composed with another cache keeps nothing, with a warning.
        with open(os.path.join(slots, "a.img.source"), "w") as fh:
            fh.write("source=x\ndigest=sha256:%s\n" % ("e" * 64))
        r = run([COMPOSE, "gc", "--cache", self.cache, "--keep-slots", slots])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("slot manifest sha256:%s is not in the cache" % ("e" * 64), r.stderr)
        self.assertEqual(self.cached_layers(),
                         sorted(l["digest"][7:] for l in self.app_layers))


@unittest.skipUnless(IMAGEINIT, "IMAGEINIT (the imageinit binary) not given")
class UpgradeTest(unittest.TestCase):
    """`imageinit upgrade` on a state and a persistent directory, slot a running."""

    @classmethod
    def setUpClass(cls):
        RegistryTest.setUpClass.__func__(cls)

    @classmethod
    def tearDownClass(cls):
        RegistryTest.tearDownClass.__func__(cls)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="upgrade-", dir=self.tmp)
        self.state = os.path.join(self.work, "state")
        self.persist = os.path.join(self.work, "persist")
        os.makedirs(os.path.join(self.state, "slots"))
        os.makedirs(self.persist)
        self.cache = os.path.join(self.persist, "imageinit", "compose-cache")
        # The running slot a: any image will do, install never reads it.
        with open(os.path.join(self.state, "slots", "a.img"), "wb") as fh:
            fh.write(b"\0" * 65536)

    def imageinit(self, *args, slot="a"):
        common = ["--state-dir", self.state, "--persist-dir", self.persist,
                  "--run-dir", os.path.join(self.work, "run"), "--slot", slot]
        return run([IMAGEINIT, args[0], *common, *args[1:]],
                   env=dict(os.environ, IMAGEINIT_COMPOSE=COMPOSE))

    def upgrade(self, ref, *args, slot="a", creds="%s:%s" % (USER, PASSWORD)):
        return self.imageinit("upgrade", "docker://%s/%s" % (self.reg.host, ref), "--creds",
                              creds, "--cert-dir", self.reg.certs, "--retry-times", "1", *args,
                              slot=slot)

    def status(self, slot="a"):
        r = self.imageinit("status", "--json", slot=slot)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_upgrade_installs_records_digests_and_collects_the_cache(self):
        r = self.upgrade("os/base:v1", "--tries", "2")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        st = self.status()
        self.assertEqual(st["primary"], "b")
        self.assertEqual(st["slots"]["b"]["health"], "trying")
        self.assertEqual(st["slots"]["b"]["tries_left"], 2)
        self.assertEqual(st["slots"]["b"]["digest"], self.base_desc["digest"])
        self.assertEqual(st["slots"]["b"]["source"], "docker://%s/os/base:v1" % self.reg.host)
        # b booted and was proven; the next upgrade goes to a and both digests are shown.
        self.assertEqual(self.imageinit("mark-good", slot="b").returncode, 0)
        r = self.upgrade("os/app:v1", slot="b")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("5 layers, 1 to download", r.stdout)
        st = self.status(slot="b")
        self.assertEqual(st["primary"], "a")
        self.assertEqual(st["slots"]["a"]["digest"], self.app_desc["digest"])
        self.assertEqual(st["slots"]["b"]["digest"], self.base_desc["digest"])
        text = self.imageinit("status", slot="b").stdout
        self.assertIn("manifest: " + self.app_desc["digest"], text)
        self.assertIn("manifest: " + self.base_desc["digest"], text)
        layers = sorted(os.listdir(os.path.join(self.cache, "layers", "sha256")))
        self.assertEqual(layers, sorted({l["digest"][7:] for l in self.base_layers + self.app_layers}))
        # Nothing of the compose is left beside the cache.
        self.assertEqual(os.listdir(os.path.join(self.persist, "imageinit")), ["compose-cache"])

    def test_failed_upgrade_leaves_slots_and_record_as_they_were(self):
        self.assertEqual(self.upgrade("os/base:v1").returncode, 0)
        self.assertEqual(self.imageinit("mark-good", slot="b").returncode, 0)
        before = cache_state(self.state)
        with open(os.path.join(self.state, "slots", "b.img.source")) as fh:
            source_before = fh.read()
        for ref, creds, why in (("os/app:v1", USER + ":wrong", "authentication failed"),
                                ("os/app:nosuchtag", USER + ":" + PASSWORD, "manifest unknown")):
            r = self.upgrade(ref, slot="b", creds=creds)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn(why, r.stderr)
            self.assertIn("nothing was changed", r.stderr)
            self.assertEqual(cache_state(self.state), before)
        with open(os.path.join(self.state, "slots", "b.img.source")) as fh:
            self.assertEqual(fh.read(), source_before)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("registry tests need root (layer owners): skipped")
        sys.exit(77)
    for tool in ("docker-registry", "skopeo", "htpasswd", "openssl", "curl", "unsquashfs"):
        if not shutil.which(tool):
            print("registry tests need %s (tests/install-deps): skipped" % tool)
            sys.exit(77)
    COMPOSE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
