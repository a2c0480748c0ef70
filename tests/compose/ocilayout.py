# Builds small OCI image layouts for the compose tests and the QEMU end-to-end image: layers are
# described as entry lists and written as tar / tar+gzip / tar+zstd with fixed timestamps.
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

MEDIA_LAYER = {
    "tar": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def d(path, mode=0o755, uid=0, gid=0, xattrs=None):
    return dict(type="dir", path=path, mode=mode, uid=uid, gid=gid, xattrs=xattrs or {})


def f(path, data=b"", mode=0o644, uid=0, gid=0, xattrs=None):
    if isinstance(data, str):
        data = data.encode()
    return dict(type="file", path=path, data=data, mode=mode, uid=uid, gid=gid,
                xattrs=xattrs or {})


def ln(path, target, uid=0, gid=0):
    return dict(type="symlink", path=path, target=target, mode=0o777, uid=uid, gid=gid, xattrs={})


def hard(path, target):
    return dict(type="hardlink", path=path, target=target, mode=0o644, uid=0, gid=0, xattrs={})


def dev(path, kind, major, minor, mode=0o600):
    return dict(type=kind, path=path, major=major, minor=minor, mode=mode, uid=0, gid=0,
                xattrs={})


def whiteout(path):
    head, name = os.path.split(path)
    return f(os.path.join(head, ".wh." + name), mode=0o000)


def opaque(dirpath):
    return f(os.path.join(dirpath, ".wh..wh..opq"), mode=0o000)


def tar_bytes(entries, mtime=1700000000):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["path"])
            ti.mode, ti.uid, ti.gid, ti.mtime = e["mode"], e["uid"], e["gid"], mtime
            ti.uname = ti.gname = ""
            ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            data = None
            kind = e["type"]
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "file":
                ti.size, data = len(e["data"]), io.BytesIO(e["data"])
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e["target"]
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e["target"]
            elif kind in ("chr", "blk", "fifo"):
                ti.type = {"chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
                           "fifo": tarfile.FIFOTYPE}[kind]
                ti.devmajor, ti.devminor = e.get("major", 0), e.get("minor", 0)
            t.addfile(ti, data)
    return buf.getvalue()


def compress(raw, how):
    if how == "tar":
        return raw
    if how == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as g:
            g.write(raw)
        return out.getvalue()
    return subprocess.run(["zstd", "-q", "-3", "-c"], input=raw, check=True,
                          stdout=subprocess.PIPE).stdout


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as fh:
            json.dump({"imageLayoutVersion": "1.0.0"}, fh)
        self.manifests = []

    def blob(self, data, media_type):
        digest = sha(data)
        with open(os.path.join(self.root, "blobs", "sha256", digest), "wb") as fh:
            fh.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}

    def add_image(self, layers, ref=None):
        """layers: list of (compression, entries). Returns the manifest descriptor."""
        descs, diff_ids = [], []
        for how, entries in layers:
            raw = tar_bytes(entries)
            diff_ids.append("sha256:" + sha(raw))
            descs.append(self.blob(compress(raw, how), MEDIA_LAYER[how]))
        config = {"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": diff_ids},
                  "config": {"Entrypoint": ["/sbin/init"]}}
        cdesc = self.blob(json.dumps(config, sort_keys=True).encode(),
                          "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": cdesc, "layers": descs}
        mdesc = self.blob(json.dumps(manifest, sort_keys=True).encode(), manifest["mediaType"])
        if ref:
            mdesc["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.manifests.append(mdesc)
        self.write_index()
        return mdesc, descs

    def write_index(self):
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": self.manifests}
        with open(os.path.join(self.root, "index.json"), "w") as fh:
            json.dump(index, fh, sort_keys=True)
