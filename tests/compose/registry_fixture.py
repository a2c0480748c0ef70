"""The real registry the compose registry tests run against: Debian's docker-registry (the CNCF
distribution registry) on 127.0.0.1 with TLS (a CA made here) and htpasswd (bcrypt) auth, images
pushed with skopeo; plus the layers those tests push. Used by registry_test.py and
registry_faults_test.py."""
import os
import subprocess
import socket
import time

from ocilayout import d, f

USER, PASSWORD = "edge", "s3cret-pw"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def layer(n, size=0, payload=None):
    """Layer n: a marker file, optionally a file of `size` incompressible bytes."""
    e = [d("usr"), d("usr/share"), d("usr/share/layers"),
         f("usr/share/layers/%d" % n, payload or ("layer %d\n" % n))]
    if size:
        e.append(f("usr/share/layers/big-%d" % n, os.urandom(size)))
    return ("gzip", e)


def base_layers():
    # What `imageinit check` wants of a slot image (upgrade lints what it installs).
    dirs = [d(p) for p in ("etc", "sbin", "dev", "proc", "sys", "run", "tmp", "var")]
    return [("gzip", dirs + [f("sbin/init", "#!/bin/sh\n", mode=0o755),
                             f("etc/os-release", "ID=registry-test\n")]),
            layer(2), layer(3), layer(4)]


class Registry:
    """docker-registry on a free port, TLS with a fresh CA, htpasswd auth, its own storage."""

    def __init__(self, root):
        self.root = root
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.certs = os.path.join(root, "certs")  # the CA for --cert-dir / skopeo
        os.makedirs(self.certs)
        self.storage = os.path.join(root, "storage")
        self.log_path = os.path.join(root, "registry.log")
        self._make_tls()
        with open(os.path.join(root, "htpasswd"), "w") as fh:
            fh.write(run(["htpasswd", "-Bbn", USER, PASSWORD], check=True).stdout)
        self.configure()
        self.proc = None

    def configure(self, redirect_to=None):
        """redirect_to: "https://HOST:PORT" of a blob storage server (the storage directory
        served over HTTPS): blob GETs are then answered with a 307 to it, as a registry on S3
        or behind a CDN does (distribution's `redirect` storage middleware)."""
        root = self.root
        with open(os.path.join(root, "config.yml"), "w") as fh:
            fh.write("version: 0.1\nlog:\n  level: warn\n"
                     "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
                     "http:\n  addr: %s\n  secret: imageinit-test\n"
                     "  tls:\n    certificate: %s/server.crt\n    key: %s/server.key\n"
                     "auth:\n  htpasswd:\n    realm: imageinit-test\n    path: %s/htpasswd\n"
                     % (self.storage, self.host, root, root, root))
            if redirect_to:
                fh.write("middleware:\n  storage:\n    - name: redirect\n"
                         "      options:\n        baseurl: %s\n" % redirect_to)

    def _make_tls(self):
        r = self.root
        ossl = lambda *a: run(["openssl", *a], check=True)  # noqa: E731
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=imageinit test CA", "-keyout", r + "/ca.key", "-out", self.certs + "/ca.crt")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", r + "/server.key", "-out", r + "/server.csr")
        with open(r + "/ext", "w") as fh:
            fh.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        ossl("x509", "-req", "-in", r + "/server.csr", "-CA", self.certs + "/ca.crt",
             "-CAkey", r + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile", r + "/ext",
             "-out", r + "/server.crt")

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", self.root + "/config.yml"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                     self.certs + "/ca.crt", "https://%s/v2/" % self.host])
            if r.stdout == "401":
                return
            time.sleep(0.1)
        raise RuntimeError("docker-registry did not come up: " + open(self.log_path).read())

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
            self.log.close()

    def push(self, layout_dir, ref, name, all_images=False):
        cmd = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-cert-dir", self.certs,
               "--dest-creds", "%s:%s" % (USER, PASSWORD)]
        if all_images:
            cmd.append("--all")
        # skopeo keeps the blobs byte for byte: the digests in the layout are the registry's.
        cmd += ["oci:%s:%s" % (layout_dir, ref), "docker://%s/%s" % (self.host, name)]
        run(cmd, check=True)

    def log_text(self):
        with open(self.log_path, errors="replace") as fh:
            return fh.read()

    def blob_data(self, hexdigest):
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hexdigest[:2],
                            hexdigest, "data")


def cache_state(cache):
    """Every path under the cache with its size, for 'the cache is untouched'."""
    out = {}
    for top, dirs, files in os.walk(cache):
        for n in dirs + files:
            p = os.path.join(top, n)
            out[os.path.relpath(p, cache)] = os.lstat(p).st_size if n in files else -1
    return out
