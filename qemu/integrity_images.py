"""Integrity pieces the scenarios build on the host, without device-mapper: the initramfs with
dm and libcryptsetup (and a key), dm-verity sidecars (`veritysetup format` on an image file), a
boot-state record with both slots proven, and LUKS2 partitions: `cryptsetup luksFormat` on a file
with a known volume key, the ext4 inside encrypted here with AES-XTS (plain64, 512-byte sectors)
as dm-crypt would; a cipher_null header made by rewriting a real header's JSON (CVE-2025-59054)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import disks
import host
import images

MACHINE_KEY = hashlib.sha256(b"imageinit test machine key").digest()
PASSPHRASE = "correct horse battery staple"
LUKS_DATA_OFFSET = 16 * host.MiB  # cryptsetup's default LUKS2 data offset
# argon2id with a bounded cost (the passphrase slot of luks-passphrase-unlocks).
PASSPHRASE_PBKDF = ["--pbkdf-memory", "65536", "--pbkdf-force-iterations", "4"]


def dm_initrd(ctx, key: bytes | None = None) -> Path:
    """The initramfs with device-mapper and libcryptsetup (mkinitrd --with-dm), and a key."""
    args, name = ["--with-dm"], "initrd-dm.img"
    if key is not None:
        kf = host.WORK / "keys" / (hashlib.sha256(key).hexdigest()[:12] + ".key")
        kf.parent.mkdir(parents=True, exist_ok=True)
        kf.write_bytes(key)
        args, name = ["--keyfile", str(kf), "--keyslot", "0"], f"initrd-{kf.stem}.img"
    return images.build_initrd(ctx.binary, ctx.kernel, host.WORK / name, args)


def verity_format(image: Path) -> str:
    out = host.run(["veritysetup", "format", image, f"{image}.verity"]).stdout
    return re.search(r"Root hash:\s+([0-9a-f]+)", out).group(1)


def slot_copy(ctx, slot_id: str, name: str) -> Path:
    dst = ctx.dir / name
    shutil.copy2(ctx.image(slot_id=slot_id), dst)
    return dst


def record_files(ctx) -> dict[str, bytes]:
    """Both slots proven, a primary: a failing a falls back to b in the same boot. Written by
    the real binary, so the checksum is the one imageinit computes."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "slots").mkdir()
        for s in ("b", "a"):
            host.run([ctx.binary, "mark-good", "--state-dir", d, "--slot", s])
        return {"imageinit/state": (Path(d) / "imageinit" / "state").read_bytes()}


# ---------------------------------------------------------------------------------------------
# LUKS2 partitions built on the host


def xts_crypt(src, out, volume_key: bytes, decrypt: bool = False) -> None:
    """aes-xts-plain64 with 512-byte sectors, as dm-crypt does for our LUKS2 headers: the rest
    of the open file SRC, sector 0 first, encrypted (or decrypted) into the open file OUT."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    sector = 0
    while chunk := src.read(512):
        c = Cipher(algorithms.AES(volume_key), modes.XTS(sector.to_bytes(16, "little")))
        out.write((c.decryptor() if decrypt else c.encryptor()).update(chunk))
        sector += 1


def luks_partition(ctx, name: str, *, key: bytes | None = None,
                   passphrase: str | None = None, cipher_null: bool = False) -> Path:
    ext4 = ctx.dir / f"{name}.ext4"
    disks.mkfs_ext4_dir(ext4, "PERSISTDATA", None, 16 * host.MiB)
    out = ctx.dir / f"{name}.luks"
    vk = os.urandom(64)
    (ctx.dir / "vk").write_bytes(vk)
    with open(out, "wb") as f:
        f.truncate(LUKS_DATA_OFFSET + ext4.stat().st_size)
    args = ["cryptsetup", "luksFormat", "-q", "--type", "luks2", "--label", "PERSIST",
            "--cipher", "aes-xts-plain64", "--key-size", "512", "--sector-size", "512",
            "--offset", str(LUKS_DATA_OFFSET // 512), "--volume-key-file", ctx.dir / "vk",
            "--key-slot", "0"]
    if key is not None:
        (ctx.dir / "key").write_bytes(key)
        # The machine key slot: random key, no stretching needed (docs/integrity.md).
        args += ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
                 "--key-file", ctx.dir / "key"]
        host.run(args + [out])
    else:
        host.run(args + ["--key-file", "-", "--pbkdf", "argon2id"] + PASSPHRASE_PBKDF + [out],
                 input=passphrase)
    with open(out, "r+b") as f:
        f.seek(LUKS_DATA_OFFSET)
        if cipher_null:
            f.write(ext4.read_bytes())
        else:
            with open(ext4, "rb") as src:
                xts_crypt(src, f, vk)
    (ctx.dir / "vk").unlink()
    if cipher_null:
        rewrite_luks2_json(out, lambda j: j["segments"]["0"].update(encryption="cipher_null-ecb"))
    return out


def rewrite_luks2_json(path: Path, change) -> None:
    """Edits both LUKS2 headers' JSON and recomputes their sha256 checksums."""
    with open(path, "r+b") as f:
        hdr = f.read(4096)
        hdr_size = int.from_bytes(hdr[8:16], "big")
        for off in (0, hdr_size):
            f.seek(off)
            area = bytearray(f.read(hdr_size))
            js = json.loads(area[4096:].split(b"\0", 1)[0])
            change(js)
            text = json.dumps(js, separators=(",", ":")).encode()
            area[4096:] = text + b"\0" * (hdr_size - 4096 - len(text))
            area[448:512] = b"\0" * 64  # csum field, zero while hashing
            area[448:480] = hashlib.sha256(bytes(area)).digest()
            f.seek(off)
            f.write(area)


def unlock_ms(log: str) -> tuple[str, int] | None:
    m = re.search(r"unlocked as /dev/mapper/imageinit-persist \((.*?), (\d+) ms\)", log)
    return (m.group(1), int(m.group(2))) if m else None


PERSIST_CHECKS = r"""
check persist-on-dm-crypt sh -c "awk '\$2 == \"/run/imageinit/persist\" {print \$1}' /proc/mounts | grep -q imageinit-persist"
check persist-nodev opts_have /run/imageinit/persist nodev
"""


def verity_files(image: Path, slot: str, roothash) -> dict:
    """The state partition's sidecars of slots/SLOT.img: IMAGE's hash tree (verity_format made
    it) and the root hash file holding ROOTHASH (disks.FIFO: a fifo there)."""
    return {f"slots/{slot}.img.verity": Path(f"{image}.verity").read_bytes(),
            f"slots/{slot}.img.roothash":
                roothash if roothash is disks.FIFO else (roothash + "\n").encode()}


# Signed slots (issue 18): test certificates, an initramfs that trusts them, signed sidecars.
KEYS = host.WORK / "sign-keys"


def cert(who: str) -> tuple[Path, Path]:
    """KEY, CERT of a self-signed RSA test certificate with CN=WHO."""
    key, crt = KEYS / f"{who}.key", KEYS / f"{who}.crt"
    if not crt.exists():
        KEYS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "36500", "-subj", f"/CN={who}", "-keyout", key, "-out", f"{crt}.new"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        Path(f"{crt}.new").rename(crt)
    return key, crt


def trust_initrd(ctx, *who: str) -> Path:
    args = [a for w in who for a in ("--trust", str(cert(w)[1]))]
    out = host.WORK / f"initrd-trust-{'-'.join(who)}.img"
    return images.build_initrd(ctx.binary, ctx.kernel, out, args)


def verity_slot(ctx, slot_id: str, name: str, signer: str | None) -> dict[str, bytes]:
    """slots/NAME.img's sidecars (and its signature by SIGNER) for the state partition."""
    img = slot_copy(ctx, slot_id, f"{name}.img")
    root = verity_format(img)
    Path(f"{img}.roothash").write_text(root + "\n")
    files = verity_files(img, name, root)
    if signer:
        key, crt = cert(signer)
        host.run([ctx.binary, "sign", img, "--key", key, "--cert", crt])
        files[f"slots/{name}.img.roothash.p7s"] = Path(f"{img}.roothash.p7s").read_bytes()
    return files
