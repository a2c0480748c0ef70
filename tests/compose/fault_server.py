# Loopback HTTPS servers for the registry fault tests: a proxy in front of the real registry and
# a "blob storage" serving the registry's storage directory (what S3 or a CDN is behind a
# registry's 307). Both can be told to fail the next matching requests: answer a status (429,
# 503), reset the connection before answering, or close it after N bytes of a body. Every request
# is logged (time, path, Range, Authorization present, what was done) for the tests to check.
import http.client
import http.server
import os
import re
import socket
import ssl
import struct
import threading
import time


class Fault:
    """Applies to the next request whose path matches `path_re`; used up once applied.
    kind: an int status, "reset" (RST before any response) or "cut" (headers and `cut_at`
    body bytes, then the connection closed)."""

    def __init__(self, path_re, kind, cut_at=0, retry_after=None):
        self.path_re = re.compile(path_re)
        self.kind = kind
        self.cut_at = cut_at
        self.retry_after = retry_after


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.owner._handle(self, "GET")

    def do_HEAD(self):
        self.server.owner._handle(self, "HEAD")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class FaultServer:
    """HTTPS on 127.0.0.1:PORT with the test CA's server certificate. `upstream` ("HOST:PORT",
    TLS with `ca_file`) makes it a proxy; `root` makes it a static file server with Range."""

    def __init__(self, cert, key, ca_file, upstream=None, root=None, refuse_authorization=False):
        self.upstream, self.root, self.ca_file = upstream, root, ca_file
        self.refuse_authorization = refuse_authorization
        self.faults = []
        self.log = []
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.host = "127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_faults(self, *faults):
        with self.lock:
            self.faults.extend(faults)

    def pending_faults(self):
        with self.lock:
            return len(self.faults)

    def requests(self, path_re=".*", since=0):
        """The logged requests from the `since`-th on whose path matches `path_re`."""
        with self.lock:
            return [e for e in self.log[since:] if re.search(path_re, e["path"])]

    def _take_fault(self, path):
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.path_re.search(path):
                    return self.faults.pop(i)
        return None

    def _record(self, h, method, action):
        with self.lock:
            self.log.append({"time": time.monotonic(), "method": method, "path": h.path,
                             "range": h.headers.get("Range"),
                             "authorization": h.headers.get("Authorization") is not None,
                             "action": action})

    @staticmethod
    def _reset(h):
        # SO_LINGER with a zero timeout: close() sends RST, the client sees "connection reset".
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.close_connection = True
        try:
            h.connection.close()
        except OSError:
            pass

    def _handle(self, h, method):
        fault = self._take_fault(h.path)
        if fault and fault.kind == "reset":
            self._record(h, method, "reset")
            self._reset(h)
            return
        if fault and isinstance(fault.kind, int):
            self._record(h, method, fault.kind)
            code = "TOOMANYREQUESTS" if fault.kind == 429 else "UNAVAILABLE"
            body = b'{"errors":[{"code":"%s","message":"injected"}]}' % code.encode()
            h.send_response(fault.kind)
            if fault.retry_after is not None:
                h.send_header("Retry-After", str(fault.retry_after))
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if self.refuse_authorization and h.headers.get("Authorization"):
            # S3 refuses a presigned URL that also carries an Authorization header.
            self._record(h, method, 400)
            h.send_response(400)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        status, headers, body = (self._forward(h, method) if self.upstream
                                 else self._file(h))
        cut = fault.cut_at if fault and fault.kind == "cut" else None
        self._record(h, method, "cut" if cut is not None else status)
        h.send_response(status)
        for name, value in headers:
            h.send_header(name, value)
        h.end_headers()
        if method == "HEAD":
            return
        sent = 0
        for chunk in body:
            if cut is not None and sent + len(chunk) >= cut:
                # A plain close (FIN, not RST): the client keeps every byte sent before it,
                # so where it resumes is exactly what it received.
                h.wfile.write(chunk[:cut - sent])
                h.wfile.flush()
                h.close_connection = True
                h.connection.close()
                return
            h.wfile.write(chunk)
            sent += len(chunk)

    def _forward(self, h, method):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        host, port = self.upstream.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=60)
        fwd = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(method, h.path, headers=fwd)
        resp = conn.getresponse()
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in ("connection", "transfer-encoding", "keep-alive")]
        data = resp.read()
        conn.close()
        if not any(k.lower() == "content-length" for k, _ in headers):
            headers.append(("Content-Length", str(len(data))))
        return resp.status, headers, [data[i:i + 65536] for i in range(0, len(data), 65536)]

    def _file(self, h):
        path = os.path.realpath(os.path.join(self.root, h.path.split("?")[0].lstrip("/")))
        if not path.startswith(os.path.realpath(self.root) + "/") or not os.path.isfile(path):
            return 404, [("Content-Length", "0")], []
        with open(path, "rb") as fh:
            data = fh.read()
        start, status = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range") or "")
        headers = [("Content-Type", "application/octet-stream")]
        if m:
            start, status = int(m.group(1)), 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data))))
        headers.append(("Content-Length", str(len(data) - start)))
        return status, headers, [data[i:i + 65536] for i in range(start, len(data), 65536)]
