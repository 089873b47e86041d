#!/usr/bin/env python3
"""idleconns.py - open N keep-alive client connections to a server, send one
request on each, read the whole response, then keep them all open and idle.

    python3 bench/idleconns.py --connect 127.0.0.1:19081 --n 15000

Used by bench/idle.sh to measure what an idle keep-alive client connection
costs a proxy in memory.

Output (stdout, one line each, flushed):
    READY opened=N ok=K failed=F bad_status=B seconds=S
        once every connection has its response (or --timeout passed)
    DONE open=X closed_by_peer=Y
        at exit (SIGTERM/SIGINT, or --hold seconds after READY)
Progress and errors go to stderr.

One epoll loop, non-blocking sockets, at most --concurrency connections
being set up at a time.  The soft RLIMIT_NOFILE is raised to the hard limit.
Client sockets are bound to several source addresses in 127.0.0.0/8
(--sources, with IP_BIND_ADDRESS_NO_PORT) so that the local port range is
never the limit.  Bounded: --timeout for the set-up, --hold for the idle phase.
"""
import argparse
import errno
import resource
import selectors
import signal
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

CONNECTING, READING, IDLE = 0, 1, 2


class Conn:
    __slots__ = ("sock", "state", "buf", "need", "status")

    def __init__(self, sock):
        self.sock = sock
        self.state = CONNECTING
        self.buf = bytearray()
        self.need = -1  # total bytes of head + body once known
        self.status = None


def parse_sources(spec):
    """'127.0.0.2-127.0.0.9' or '127.0.0.2,127.0.0.3' -> list of addresses."""
    out = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            pa, pb = a.split("."), b.split(".")
            if pa[:3] != pb[:3]:
                raise SystemExit("--sources: a range must stay in one /24")
            for last in range(int(pa[3]), int(pb[3]) + 1):
                out.append(".".join(pa[:3] + [str(last)]))
        elif part:
            out.append(part)
    return out


def response_complete(c):
    """True once c.buf holds a whole response; sets c.need.  Returns
    (complete, status) with status None until the head is in."""
    if c.need < 0:
        end = c.buf.find(b"\r\n\r\n")
        if end < 0:
            return False, None
        head = bytes(c.buf[:end]).decode("latin-1").split("\r\n")
        try:
            status = int(head[0].split(" ")[1])
        except (IndexError, ValueError):
            return True, -1
        length, chunked = None, False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            c.need = -2  # chunked: ends with the last-chunk marker
        elif length is not None:
            c.need = end + 4 + length
        elif status in (204, 304) or 100 <= status < 200:
            c.need = end + 4
        else:
            return True, -1  # body delimited by close: not keep-alive
        c.status = status
    status = c.status
    if c.need == -2:
        return c.buf.endswith(b"0\r\n\r\n"), status
    return len(c.buf) >= c.need, status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connect", required=True, help="HOST:PORT")
    ap.add_argument("--n", type=int, default=15000, help="connections (15000)")
    ap.add_argument("--path", default="/api/hello")
    ap.add_argument("--host", default="x", help="Host header (x)")
    ap.add_argument("--sources", default="127.0.0.2-127.0.0.9",
                    help="source addresses to bind, e.g. 127.0.0.2-127.0.0.9")
    ap.add_argument("--concurrency", type=int, default=256,
                    help="connections being set up at once (256)")
    ap.add_argument("--timeout", type=float, default=90, help="set-up phase bound, s (90)")
    ap.add_argument("--hold", type=float, default=120, help="idle phase bound, s (120)")
    a = ap.parse_args()

    host, port = a.connect.rsplit(":", 1)
    dst = (host, int(port))
    sources = parse_sources(a.sources) if a.sources else [None]
    req = f"GET {a.path} HTTP/1.1\r\nHost: {a.host}\r\n\r\n".encode()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and a.n + 32 > soft:
        raise SystemExit(f"idleconns: --n {a.n} needs more descriptors than the limit {soft}")

    stop = False

    def on_signal(_sig, _frm):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sel = selectors.DefaultSelector()
    started = ok = failed = bad_status = inflight = closed = 0
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    last_report = t0
    conns = []

    def fail(c, why):
        nonlocal failed, inflight
        failed += 1
        inflight -= 1
        if failed <= 5:
            print(f"idleconns: connection failed: {why}", file=sys.stderr)
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        c.state = None

    def start_one():
        nonlocal started, inflight
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        c = Conn(s)
        started += 1
        inflight += 1
        conns.append(c)
        try:
            src = sources[started % len(sources)]
            if src:
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((src, 0))
            err = s.connect_ex(dst)
            if err not in (0, errno.EINPROGRESS):
                fail(c, f"connect: {errno.errorcode.get(err, err)}")
                return
        except OSError as e:
            fail(c, f"connect: {e}")
            return
        sel.register(s, selectors.EVENT_WRITE, c)

    # ---- set-up phase ----
    while ok + failed < a.n and not stop:
        now = time.monotonic()
        if now > deadline:
            break
        while started < a.n and inflight < a.concurrency:
            start_one()
        if now - last_report > 2:
            print(f"idleconns: {ok} ok, {failed} failed, {inflight} in progress",
                  file=sys.stderr)
            last_report = now
        for key, _ev in sel.select(timeout=0.5):
            c = key.data
            s = c.sock
            if c.state == CONNECTING:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(c, f"connect: {errno.errorcode.get(err, err)}")
                    continue
                try:
                    s.send(req)  # small: fits the empty send buffer
                except OSError as e:
                    fail(c, f"send: {e}")
                    continue
                c.state = READING
                sel.modify(s, selectors.EVENT_READ, c)
            elif c.state is not None and c.state != IDLE:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(c, f"recv: {e}")
                    continue
                if not data:
                    fail(c, "closed before the whole response")
                    continue
                c.buf += data
                done, status = response_complete(c)
                if done:
                    if status != 200:
                        bad_status += 1
                        if bad_status <= 5:
                            print(f"idleconns: status {status}", file=sys.stderr)
                    ok += 1
                    inflight -= 1
                    c.state = IDLE
                    c.buf = None
                    # stay registered for reading, to notice a peer close
    pending = [c for c in conns if c.state not in (IDLE, None)]
    for c in pending:
        fail(c, "timed out")
    print(f"READY opened={started} ok={ok} failed={failed} bad_status={bad_status} "
          f"seconds={time.monotonic() - t0:.1f}", flush=True)

    # ---- idle phase ----
    end = time.monotonic() + a.hold
    while not stop and time.monotonic() < end:
        for key, _ev in sel.select(timeout=0.5):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed += 1
                sel.unregister(c.sock)
                c.sock.close()
                c.state = None
            # unexpected bytes on an idle connection are ignored
    open_now = sum(1 for c in conns if c.state == IDLE)
    print(f"DONE open={open_now} closed_by_peer={closed}", flush=True)
    for c in conns:
        if c.state == IDLE:
            c.sock.close()


if __name__ == "__main__":
    main()
