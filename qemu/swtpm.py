"""A software TPM for the boot tests: swtpm with its state in a directory, for QEMU (tpm-crb on
a unix control socket) or for the host tools (TCP on loopback, imageinit's swtpm: interface)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


class Swtpm:
    """swtpm with its state in STATE_DIR: for QEMU (a unix control socket, QEMU's chardev) or
    for the host tools (TCP on loopback, imageinit's swtpm: interface)."""

    def __init__(self, state_dir: Path, for_qemu: bool):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.sock = state_dir / "ctrl.sock"
        self.sock.unlink(missing_ok=True)
        args = ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state_dir}"]
        if for_qemu:
            args += ["--ctrl", f"type=unixio,path={self.sock}", "--terminate"]
        else:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
            s.close()
            args += ["--server", f"type=tcp,bindaddr=127.0.0.1,port={self.port}",
                     "--ctrl", f"type=tcp,bindaddr=127.0.0.1,port={self.port + 1}",
                     "--flags", "not-need-init,startup-clear"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            if (self.sock.exists() if for_qemu else self._listening()):
                return
            time.sleep(0.01)
        raise RuntimeError("swtpm did not start")

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def qemu_args(self) -> tuple[str, ...]:
        return ("-chardev", f"socket,id=chrtpm,path={self.sock}",
                "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-crb,tpmdev=tpm0")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
