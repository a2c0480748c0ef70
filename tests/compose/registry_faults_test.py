#!/usr/bin/env python3
# imageinit-compose against the real registry when the network misbehaves: docker-registry
# (TLS, htpasswd) answers blob GETs with a 307 to a blob storage server (its `redirect` storage
# middleware, as on S3 or behind a CDN), and a fault-injecting proxy sits in front of it (429,
# 503, connection resets, a body cut halfway). Also: credentials from docker credential helpers
# named by an auth file. Usage: registry_faults_test.py imageinit-compose.
# Exit 77 (skip) without root or without docker-registry/skopeo/htpasswd.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from fault_server import Fault, FaultServer  # noqa: E402
from ocilayout import Layout  # noqa: E402
from registry_fixture import (PASSWORD, USER, Registry, base_layers, cache_state,  # noqa: E402
                              layer, run)

COMPOSE = None
BLOB = r"/blobs/sha256:"
MANIFEST = r"/manifests/"


class RegistryFaultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="registry-faults-")
        cls.reg = Registry(os.path.join(cls.tmp, "registry"))
        root = cls.reg.root
        tls = (root + "/server.crt", root + "/server.key", cls.reg.certs + "/ca.crt")
        # Blob storage refuses a request that carries the registry's credentials, as S3 does
        # for a presigned URL: the client must not send them to another host.
        cls.storage = FaultServer(*tls, root=cls.reg.storage, refuse_authorization=True)
        cls.reg.configure(redirect_to="https://" + cls.storage.host)
        cls.reg.start()
        cls.proxy = FaultServer(*tls, upstream=cls.reg.host)
        lay = Layout(os.path.join(cls.tmp, "oci"))
        cls.base_desc, cls.base_layers = lay.add_image(base_layers() + [layer(5)], ref="base")
        cls.big_desc, cls.big_layers = lay.add_image(base_layers() + [layer(9, size=4 << 20)],
                                                     ref="big")
        cls.reg.push(lay.root, "base", "os/base:v1")
        cls.reg.push(lay.root, "big", "os/big:v1")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.reg.stop()
        cls.storage.stop()
        shutil.rmtree(cls.tmp)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="case-", dir=self.tmp)
        self.cache = os.path.join(self.work, "cache")
        self.mark_proxy, self.mark_storage = len(self.proxy.log), len(self.storage.log)

    def tearDown(self):
        self.proxy.faults.clear()
        self.storage.faults.clear()

    def compose(self, ref, *args, retries=3, check=True, creds=True, env=None):
        out = os.path.join(self.work, "out.img")
        cmd = [COMPOSE, "--cache", self.cache, "--no-check", "--format", "squashfs",
               "--retry-times", str(retries), "--cert-dir", self.reg.certs, *args]
        if creds:
            cmd += ["--creds", "%s:%s" % (USER, PASSWORD)]
        cmd += ["docker://%s/%s" % (self.proxy.host, ref), out]
        r = run(cmd, env=env)
        if check and r.returncode != 0:
            self.fail("compose failed: %s\n%s" % (r.stderr, r.stdout))
        return r, out

    def new_requests(self, server, path_re):
        mark = self.mark_proxy if server is self.proxy else self.mark_storage
        return server.requests(path_re, since=mark)

    def cat(self, image, path):
        return subprocess.run(["unsquashfs", "-cat", image, path], stdout=subprocess.PIPE,
                              check=True).stdout

    def test_blob_gets_follow_the_redirect_to_storage_without_the_credentials(self):
        r, out = self.compose("os/base:v1")
        self.assertEqual(self.cat(out, "usr/share/layers/5"), b"layer 5\n")
        # Every layer blob was answered with a 307 by the registry...
        for desc in self.base_layers:
            gets = self.new_requests(self.proxy, BLOB + desc["digest"][7:])
            self.assertEqual([g["action"] for g in gets], [307], desc["digest"])
        # ...and fetched from the storage, without the registry's Authorization header.
        for desc in self.base_layers:
            gets = self.new_requests(self.storage, "/%s/data" % desc["digest"][7:])
            self.assertEqual([(g["action"], g["authorization"]) for g in gets], [(200, False)])

    def test_429_503_and_resets_are_retried_with_backoff(self):
        top = BLOB + self.base_layers[4]["digest"][7:]
        second = BLOB + self.base_layers[1]["digest"][7:]
        self.proxy.add_faults(Fault(MANIFEST, 429, retry_after=1), Fault(top, 503),
                              Fault(second, "reset"), Fault(second, 502))
        r, out = self.compose("os/base:v1", "--jobs", "1")
        self.assertEqual(self.cat(out, "usr/share/layers/5"), b"layer 5\n")
        self.assertEqual(self.proxy.pending_faults(), 0)
        # Backoff: no retry sooner than Retry-After, or than the first 500 ms step. (After a
        # reset libcurl itself may retry at once when the connection was a reused one.)
        min_gap = {429: 1.0, 502: 0.5, 503: 0.5, "reset": 0}
        for path, faults in ((MANIFEST, [429]), (top, [503]), (second, ["reset", 502])):
            gets = self.new_requests(self.proxy, path)
            actions = [g["action"] for g in gets]
            self.assertEqual(actions[:len(faults)], faults, path)
            self.assertNotIn(actions[len(faults)], min_gap.keys(), path)
            for a, b in zip(gets, gets[1:len(faults) + 1]):
                self.assertGreaterEqual(b["time"] - a["time"], min_gap[a["action"]] * 0.95,
                                        (path, actions))

    def test_retries_used_up_give_one_clear_error_and_leave_the_cache_untouched(self):
        self.compose("os/base:v1")
        before = cache_state(self.cache)
        self.proxy.add_faults(*[Fault(MANIFEST, 503) for _ in range(3)])
        r, _ = self.compose("os/big:v1", retries=2, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        self.assertIn("manifests/v1: injected (UNAVAILABLE, HTTP 503)", r.stderr)
        self.assertEqual(self.proxy.pending_faults(), 0)
        self.assertEqual(cache_state(self.cache), before)
        self.proxy.add_faults(*[Fault(MANIFEST, "reset") for _ in range(3)])
        r, _ = self.compose("os/big:v1", retries=2, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        self.assertIn("(after 2 retries)", r.stderr)
        self.assertEqual(cache_state(self.cache), before)

    def test_a_download_cut_halfway_resumes_with_range_in_the_same_run(self):
        big = self.big_layers[4]
        cut = 1 << 20
        self.storage.add_faults(Fault("/%s/data" % big["digest"][7:], "cut", cut_at=cut))
        r, out = self.compose("os/big:v1", "--jobs", "1")
        self.assertEqual(len(self.cat(out, "usr/share/layers/big-9")), 4 << 20)
        gets = self.new_requests(self.storage, "/%s/data" % big["digest"][7:])
        self.assertEqual([g["action"] for g in gets], ["cut", 206], gets)
        self.assertIsNone(gets[0]["range"])
        offset = int(gets[1]["range"].removeprefix("bytes=").removesuffix("-"))
        self.assertEqual(offset, cut, gets[1]["range"])  # exactly what had arrived
        self.assertEqual(os.listdir(os.path.join(self.cache, "tmp")), [])

    def test_credential_helpers_named_by_the_auth_file_are_run(self):
        # Two helpers as docker-credential-helpers behave: one knows this registry, one
        # knows nothing ("credentials not found", exit status 1). Each logs what it was asked.
        bin_dir = os.path.join(self.work, "bin")
        os.mkdir(bin_dir)
        asked = os.path.join(self.work, "asked")
        for name, answer in (("imageinit-test", '{"ServerURL":"%s","Username":"%s","Secret":"%s"}'
                              % (self.proxy.host, USER, PASSWORD)), ("imageinit-empty", None)):
            with open(os.path.join(bin_dir, "docker-credential-" + name), "w") as fh:
                fh.write("#!/bin/sh\nread server\necho \"$1 $server\" >> %s\n" % asked)
                fh.write("echo '%s'\n" % answer if answer else
                         "echo 'credentials not found in native keychain'\nexit 1\n")
            os.chmod(os.path.join(bin_dir, "docker-credential-" + name), 0o755)
        env = dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"])
        auth = os.path.join(self.work, "auth.json")

        def with_auth(doc, **kw):
            with open(auth, "w") as fh:
                json.dump(doc, fh)
            return self.compose("os/base:v1", "--authfile", auth, creds=False, env=env, **kw)

        r, out = with_auth({"credHelpers": {self.proxy.host: "imageinit-test"}})
        self.assertEqual(self.cat(out, "usr/share/layers/5"), b"layer 5\n")
        with open(asked) as fh:
            self.assertEqual(fh.read(), "get %s\n" % self.proxy.host)
        # `docker login` with a store leaves an empty "auths" entry and names the store.
        shutil.rmtree(self.cache)
        with_auth({"auths": {self.proxy.host: {}}, "credsStore": "imageinit-test"})
        before = cache_state(self.cache)
        r, _ = with_auth({"credHelpers": {self.proxy.host: "imageinit-empty"}}, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        self.assertIn("the registry wants credentials", r.stderr)
        r, _ = with_auth({"credsStore": "imageinit-missing"}, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stderr.strip(), "imageinit-compose: auth file '%s': credential helper "
                         "'docker-credential-imageinit-missing' is not installed (not in PATH)"
                         % auth)
        self.assertEqual(cache_state(self.cache), before)

    def test_gc_refuses_a_fifo_or_symlink_sidecar_without_blocking(self):
        # slots/ is on STATE, which anyone with the disk can write: a fifo must not hang gc
        # and a symlink must not make it read another file.
        slots = os.path.join(self.work, "slots")
        os.mkdir(slots)
        os.mkfifo(os.path.join(slots, "a.img.source"))
        r = subprocess.run([COMPOSE, "gc", "--cache", self.cache, "--keep-slots", slots],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("a.img.source' is a fifo, not a regular file", r.stderr)
        self.assertIn("nothing removed", r.stderr)
        os.unlink(os.path.join(slots, "a.img.source"))
        with open(os.path.join(self.work, "elsewhere"), "w") as fh:
            fh.write("digest=sha256:%s\n" % self.base_desc["digest"][7:])
        os.symlink(os.path.join(self.work, "elsewhere"), os.path.join(slots, "a.img.source"))
        r = run([COMPOSE, "gc", "--cache", self.cache, "--keep-slots", slots])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("a.img.source", r.stderr)
        self.assertIn("nothing removed", r.stderr)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("registry fault tests need root (layer owners): skipped")
        sys.exit(77)
    for tool in ("docker-registry", "skopeo", "htpasswd", "openssl", "curl", "unsquashfs"):
        if not shutil.which(tool):
            print("registry fault tests need %s (tests/install-deps): skipped" % tool)
            sys.exit(77)
    COMPOSE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
