"""harness.py - fixtures for bulwark's end-to-end tests (Python 3, stdlib only).

What a test gets from here:
  * processes: start_origin() and start_bulwark() run the real binaries from
    the build folder in a temporary directory, stderr and stdout captured to a
    log file; they return once the TCP port accepts connections (polling, no
    fixed sleeps).  Every process started is stopped at the end of the test
    (SIGTERM, then SIGKILL) by cleanup(), which run.py calls in a finally
    block; atexit is the safety net.
  * sockets: HTTPConn speaks HTTP/1.1 over a raw socket so a test sees the
    exact bytes; read_response() handles Content-Length, chunked and
    close-delimited bodies, and can stream a body into a callback instead of
    keeping it.
  * small helpers: free_port(), wait_until(), admin_get(), vm_hwm_kb(), the
    byte pattern of the origin's /bytes and /chunked routes.

A test fails by raising (assert); it may raise Skip("why") when the machine
cannot run it (e.g. no IPv6).
"""
import atexit
import json
import os
import re
import shutil
import signal
import random
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("BULWARK_BUILD", "build")  # set by run.py
LOG_TAIL_LINES = 25


class Skip(Exception):
    """Raised by a test that cannot run here; counted neither way."""


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------

_procs = []     # Server objects started during the current test
_tmpdirs = []


def tmpdir():
    d = tempfile.mkdtemp(prefix="bulwark-e2e-")
    _tmpdirs.append(d)
    return d


_rng = random.SystemRandom()  # forked test processes must not share a sequence


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody uses right now, below the kernel's ephemeral range.

    Port 0 would hand out an ephemeral port, and the tests' own outgoing
    connections (siege's bots, bulwark to its origins) take ephemeral ports
    too: one of them could hold the port by the time a server binds it
    ("Address already in use").  Below the range only listeners live."""
    lo, _ = _ephemeral_range()
    for _ in range(200):
        port = _rng.randrange(20000, max(20001, lo))
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.access(path, os.X_OK):
        raise AssertionError(f"{path} is not built (make {path})")
    return path


class Server:
    """A started process and its log file."""

    def __init__(self, name, argv, port=None, admin_port=None, conf_path=None):
        self.name = name
        self.argv = argv
        self.port = port
        self.admin_port = admin_port
        self.conf_path = conf_path
        self.dir = tmpdir()
        self.log_path = os.path.join(self.dir, name + ".log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir)
        self.pid = self.proc.pid
        _procs.append(self)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, n=LOG_TAIL_LINES):
        lines = self.log().splitlines()
        return "\n".join(lines[-n:])

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit status, or raise subprocess.TimeoutExpired."""
        return self.proc.wait(timeout)

    def stop(self, grace=3.0):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def __repr__(self):
        return f"<{self.name} pid={self.pid} port={self.port}>"


def wait_port(port, host="127.0.0.1", timeout=10.0, server=None):
    """Poll until a TCP connect to host:port succeeds."""
    deadline = time.monotonic() + timeout
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        if server is not None and not server.alive():
            raise AssertionError(f"{server.name} exited with status {server.proc.returncode} "
                                 f"before listening on {host}:{port}:\n{server.tail()}")
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect((host, port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s"
                                     + (f":\n{server.tail()}" if server else ""))
            time.sleep(0.02)
        finally:
            s.close()


def start_origin(name="origin", port=None, quiet=False, extra_ports=()):
    """bulwark-origin on 127.0.0.1:port (a free port if None)."""
    port = port or free_port()
    argv = [binary("bulwark-origin"), "--listen", f"127.0.0.1:{port}", "--name", name]
    for p in extra_ports:
        argv += ["--listen", p]
    if quiet:
        argv.append("--quiet")
    srv = Server(name, argv, port=port)
    wait_port(port, server=srv)
    return srv


def start_probe(chat_cost_us=0):
    """bulwark-probe on a free port: the origin that serves siege's site
    (pages, assets, login, POST /api/chat burning chat_cost_us of CPU) and
    counts what reaches it."""
    port = free_port()
    srv = Server("probe", [binary("bulwark-probe"), "--listen", f"127.0.0.1:{port}",
                           "--quiet", "--chat-cost", str(chat_cost_us)], port=port)
    wait_port(port, server=srv)
    return srv


def write_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # a reload never sees half a file


def start_bulwark(conf=None, args=None, port=None, admin_port=None, ready=True,
                  name="bulwark"):
    """Start build/bulwark.

    conf: config text (written to a file, run with -c); or args: a command
    line (quick mode).  port / admin_port: what to poll for readiness (the
    listen port, and the admin /healthz).
    """
    d = tmpdir()
    conf_path = None
    argv = [binary("bulwark")]
    if conf is not None:
        conf_path = os.path.join(d, "bulwark.conf")
        write_file(conf_path, conf)
        argv += ["-c", conf_path]
    argv += list(args or [])
    srv = Server(name, argv, port=port, admin_port=admin_port, conf_path=conf_path)
    if ready:
        wait_bulwark(srv)
    return srv


def wait_bulwark(srv, timeout=10.0):
    if srv.port:
        wait_port(srv.port, timeout=timeout, server=srv)
    if srv.admin_port:
        wait_port(srv.admin_port, timeout=timeout, server=srv)
        wait_until(lambda: admin_get(srv.admin_port, "/healthz").status == 200, timeout,
                   what=f"admin /healthz on {srv.admin_port}")


def cleanup():
    """Stop every process of the test; returns their log tails (for failures)."""
    tails = []
    while _procs:
        srv = _procs.pop()
        try:
            srv.stop()
        except Exception as e:  # keep going: the others must stop too
            tails.append(f"(stopping {srv.name}: {e})")
        try:
            tails.append(f"--- {srv.name} (pid {srv.pid}) log tail: {srv.log_path}\n{srv.tail()}")
        except OSError:
            pass
    tails.reverse()
    return tails


def remove_tmpdirs():
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)


atexit.register(cleanup)


# ---------------------------------------------------------------------------
# configuration text
# ---------------------------------------------------------------------------

def site(names, origins, health="off", extra=""):
    """A site block.  origins: ports (127.0.0.1) or full "addr[ weight=N]"."""
    lines = [f"site {names} {{"]
    for o in origins:
        o = f"127.0.0.1:{o}" if isinstance(o, int) else o
        lines.append(f"    origin {o};")
    if health == "off":
        lines.append("    health_check off;")
    elif health:
        lines.append(f"    health_check {health};")
    if extra:
        lines.append("    " + extra)
    lines.append("}")
    return "\n".join(lines) + "\n"


def config(port, admin_port, sites, listen_extra="", top_extra="", workers=1):
    """A whole config: one worker (deterministic keep-alive), access log off."""
    return (f"workers {workers};\n"
            f"listen 127.0.0.1:{port};\n"
            f"{listen_extra}"
            f"admin 127.0.0.1:{admin_port};\n"
            f"access_log off;\n"
            f"{top_extra}"
            + "".join(sites))


def proxy_with_sites(sites, **kw):
    """Start bulwark on free ports with these site blocks (see site())."""
    port, admin = free_port(), free_port()
    return start_bulwark(config(port, admin, sites, **kw), port=port, admin_port=admin)


# ---------------------------------------------------------------------------
# HTTP over raw sockets
# ---------------------------------------------------------------------------

class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers = []      # [(name, value)] in wire order
        self.body = b""
        self.trailers = []
        self.raw_head = b""

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.reason} {len(self.body)} bytes>"


class HTTPConn:
    """One client connection; reads are buffered so pipelined responses split
    correctly."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, sock=None):
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(timeout)
        self.sock = sock
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def request(self, method, target, host="a.test", headers=(), body=None,
                version="HTTP/1.1"):
        """Send one request (Content-Length added for a body unless given)."""
        self.send(build_request(method, target, host, headers, body, version))

    # -- reading --

    def _fill(self, n=65536):
        data = self.sock.recv(n)
        if not data:
            raise EOFError("connection closed by peer")
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise AssertionError(f"no {sep!r} within {limit} bytes")
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _read_pieces(self, n):
        """Yield exactly n bytes in pieces (for big bodies)."""
        while n > 0:
            if not self.buf:
                self._fill(min(n, 1 << 20) if n > 65536 else 65536)
            k = min(n, len(self.buf))
            piece = bytes(self.buf[:k])
            del self.buf[:k]
            n -= k
            yield piece

    def read_head(self):
        r = Response()
        head = self.read_until(b"\r\n\r\n")
        r.raw_head = head
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"bad status line {lines[0]!r}")
        r.version, r.status = parts[0], int(parts[1])
        r.reason = parts[2] if len(parts) > 2 else ""
        for ln in lines[1:]:
            k, _, v = ln.decode("latin-1").partition(":")
            r.headers.append((k, v.strip(" \t")))
        return r

    def read_response(self, method="GET", sink=None, skip_1xx=True):
        """Read one response.  sink(piece) receives the body instead of
        r.body when given.  1xx responses are skipped unless skip_1xx=False."""
        while True:
            r = self.read_head()
            if 100 <= r.status < 200 and r.status != 101 and skip_1xx:
                continue
            break
        body = []
        out = sink or body.append
        if method == "HEAD" or 100 <= r.status < 200 or r.status in (204, 304):
            pass
        elif "chunked" in (r.header("Transfer-Encoding") or "").lower():
            self._read_chunked(r, out)
        elif r.header("Content-Length") is not None:
            for piece in self._read_pieces(int(r.header("Content-Length"))):
                out(piece)
        else:  # close-delimited
            out(self.read_to_close())
        if sink is None:
            r.body = b"".join(body)
        return r

    def _read_chunked(self, r, out):
        while True:
            line = self.read_until(b"\r\n").decode("latin-1")
            size = int(line.split(";", 1)[0].strip(), 16)
            if size == 0:
                break
            for piece in self._read_pieces(size):
                out(piece)
            if self.read_exact(2) != b"\r\n":
                raise AssertionError("chunk data not followed by CRLF")
        while True:
            line = self.read_until(b"\r\n")
            if line == b"\r\n":
                return
            k, _, v = line[:-2].decode("latin-1").partition(":")
            r.trailers.append((k, v.strip()))

    def read_to_close(self):
        while True:
            try:
                self._fill()
            except EOFError:
                break
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def closed_by_peer(self, timeout=3.0):
        """True if the peer closes (EOF or reset) within timeout with no more
        data; False if data arrives or it stays open."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if data:
            self.buf += data
            return False
        return True


def build_request(method, target, host="a.test", headers=(), body=None, version="HTTP/1.1"):
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = {k.lower() for k, _ in headers}
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        if "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return data + (body or b"")


def request(port, method, target, host="a.test", headers=(), body=None, timeout=10.0,
            addr="127.0.0.1"):
    """One request on a fresh connection (then closed)."""
    with HTTPConn(port, host=addr, timeout=timeout) as c:
        c.request(method, target, host=host, headers=headers, body=body)
        return c.read_response(method)


def get(port, target, host="a.test", headers=(), **kw):
    return request(port, "GET", target, host=host, headers=headers, **kw)


def admin_get(admin_port, path, timeout=5.0):
    try:
        return get(admin_port, path, host=f"127.0.0.1:{admin_port}", timeout=timeout)
    except (OSError, EOFError) as e:
        r = Response()
        r.reason = str(e)
        return r


def headers_seen(resp):
    """The origin's /headers JSON -> list of (name, value)."""
    return [tuple(h) for h in resp.json()["headers"]]


def seen_values(resp, name):
    name = name.lower()
    return [v for k, v in headers_seen(resp) if k.lower() == name]


# ---------------------------------------------------------------------------
# misc
# ---------------------------------------------------------------------------

def metric(admin_port, name):
    """The value of one /metrics sample: its name with labels as printed,
    e.g. 'bulwark_overload_level{worker="0"}'."""
    r = admin_get(admin_port, "/metrics")
    assert r.status == 200, r
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def clearance_cookie(resp):
    """The shield's clearance cookie (name=value) a challenge answer sets."""
    v = resp.header("Set-Cookie") or ""
    m = re.match(r"(__bw_clr=[A-Za-z0-9_-]+)", v)
    assert m, f"no clearance cookie in {v!r}"
    return m.group(1)


def wait_until(fn, timeout=5.0, interval=0.05, what="condition"):
    """Poll fn() until truthy; returns its value or raises AssertionError."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # e.g. connection refused while starting
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_exc})" if last_exc else ""))
        time.sleep(interval)


def vm_hwm_kb(pid):
    """Peak resident set size of a process (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmHWM for pid {pid}")


_ALPHA = b"abcdefghijklmnopqrstuvwxyz"


def pattern(n, offset=0):
    """The origin's /bytes pattern: byte i = 'a' + i % 26."""
    reps = (n + offset) // 26 + 2
    start = offset % 26
    return (_ALPHA * reps)[start:start + n]


class PatternChecker:
    """A sink for read_response() that checks a streamed body against the
    pattern without keeping it."""

    def __init__(self):
        self.offset = 0
        self.bad_at = None
        self._ref = _ALPHA * ((1 << 20) // 26 + 2)

    def __call__(self, piece):
        pos = 0
        while pos < len(piece):
            k = min(len(piece) - pos, 1 << 20)
            s = self.offset % 26
            if self.bad_at is None and piece[pos:pos + k] != self._ref[s:s + k]:
                self.bad_at = self.offset
            self.offset += k
            pos += k


REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# ---------------------------------------------------------------------------
# WebSocket (RFC 6455) client bits
# ---------------------------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_handshake_headers(key):
    return [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]


def ws_frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d"):
    """A client frame (masked unless mask is None)."""
    import struct
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return head + mask + masked


def ws_read_frame(conn):
    """(fin, opcode, payload, masked) of the next frame on an HTTPConn."""
    import struct
    b0, b1 = conn.read_exact(2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack("!H", conn.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", conn.read_exact(8))[0]
    mask = conn.read_exact(4) if b1 & 0x80 else None
    payload = conn.read_exact(n)
    if mask:
        payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0f, payload, mask is not None
