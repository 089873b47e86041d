"""test_proxy_bodies.py - bodies through bulwark: chunked both ways, 64 MiB
streamed each way in bounded memory, Expect: 100-continue, WebSocket.

Bounded memory is checked with bulwark's VmHWM (peak RSS, /proc/PID/status):
a proxy that buffered a 64 MiB body would grow its peak by 64 MiB.
"""
import os
import time
import zlib

import harness as h

BIG = 64 << 20
# Growth of the peak RSS over its value once started and warmed up (one
# request): a quarter of the body proves it was streamed.  (Growth, not the
# peak itself: the sanitizer build starts some 14 MiB higher.)
HWM_GROWTH_LIMIT_KB = 16 << 10


def warm_hwm_kb(b):
    assert h.get(b.port, "/healthz").status == 200
    return h.vm_hwm_kb(b.pid)


def one_site(origin, extra=""):
    return h.proxy_with_sites([h.site("a.test", [origin.port], "off", extra)])


def test_chunked_upload_echo():
    o = h.start_origin()
    b = one_site(o)
    pieces = [b"first ", os.urandom(100000), b"x", b"last"]
    body = b"".join(b"%x;note=1\r\n%s\r\n" % (len(p), p) for p in pieces)
    body += b"0\r\nX-Trailer: t\r\n\r\n"
    with h.HTTPConn(b.port) as c:
        c.request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=body)
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == b"".join(pieces), f"echo differs: {len(r.body)} bytes back"
        # the connection is still in sync for a next request
        c.request("GET", "/healthz")
        assert c.read_response().body == b"ok"


def test_chunked_download():
    o = h.start_origin()
    b = one_site(o)
    for n, size in ((200000, 777), (10, 1), (0, 100)):
        r = h.get(b.port, f"/chunked?n={n}&size={size}")
        assert r.status == 200, r
        assert r.body == h.pattern(n), f"n={n} size={size}: got {len(r.body)} bytes"


def test_big_upload_streamed():
    o = h.start_origin(quiet=True)
    b = one_site(o)
    base = warm_hwm_kb(b)
    block = os.urandom(1 << 20)
    crc = 0
    with h.HTTPConn(b.port, timeout=30) as c:
        c.send(f"POST /sink HTTP/1.1\r\nHost: a.test\r\nContent-Length: {BIG}\r\n\r\n")
        piece = 256 << 10
        for i in range(BIG // len(block)):
            for off in range(0, len(block), piece):
                c.send(block[off:off + piece])
            crc = zlib.crc32(block, crc)
        r = c.read_response()
    assert r.status == 200, r
    assert r.json() == {"bytes": BIG, "crc32": "%08x" % crc}, r.body
    grew = h.vm_hwm_kb(b.pid) - base
    assert grew < HWM_GROWTH_LIMIT_KB, f"bulwark peak RSS grew {grew} KiB for a {BIG >> 20} MiB upload"


def test_big_download_streamed():
    o = h.start_origin(quiet=True)
    b = one_site(o)
    base = warm_hwm_kb(b)
    check = h.PatternChecker()
    with h.HTTPConn(b.port, timeout=30) as c:
        c.request("GET", f"/bytes?n={BIG}")
        r = c.read_response(sink=check)
    assert r.status == 200, r
    assert check.offset == BIG, f"got {check.offset} of {BIG} bytes"
    assert check.bad_at is None, f"body differs from the pattern at byte {check.bad_at}"
    grew = h.vm_hwm_kb(b.pid) - base
    assert grew < HWM_GROWTH_LIMIT_KB, f"bulwark peak RSS grew {grew} KiB for a {BIG >> 20} MiB download"


def test_expect_100_continue():
    o = h.start_origin()
    b = one_site(o)
    with h.HTTPConn(b.port, timeout=5) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n"
               b"Expect: 100-continue\r\n\r\n")
        # The body is not sent until 100 arrives: a proxy that waited for
        # the body would hang here until the read times out.
        r = c.read_response(skip_1xx=False)
        assert r.status == 100 and r.version == "HTTP/1.1", f"expected 100 Continue first, got {r}"
        c.send(b"hello world")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world", r


def test_websocket_through_proxy():
    o = h.start_origin()
    b = one_site(o)
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    with h.HTTPConn(b.port, timeout=5) as c:
        c.request("GET", "/ws", headers=h.ws_handshake_headers(key))
        r = c.read_response()
        assert r.status == 101, f"upgrade refused: {r} {r.body[:200]!r}"
        assert r.header("Sec-WebSocket-Accept") == h.ws_accept(key), r.headers
        assert (r.header("Upgrade") or "").lower() == "websocket", r.headers
        c.send(h.ws_frame(1, b"hello through bulwark"))
        assert h.ws_read_frame(c) == (True, 1, b"hello through bulwark", False)
        big = os.urandom(60000)
        c.send(h.ws_frame(2, big))
        assert h.ws_read_frame(c) == (True, 2, big, False)
        c.send(h.ws_frame(8, b"\x03\xe8"))
        fin, op, payload, _ = h.ws_read_frame(c)
        assert op == 8 and payload == b"\x03\xe8", (op, payload)


def test_websocket_outlives_read_timeout():
    """A tunnel that carries data is not cut by the origin's read_timeout
    (it is only bounded by keepalive_timeout of silence)."""
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port], "off", "read_timeout 1s;")])
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with h.HTTPConn(b.port, timeout=5) as c:
        c.request("GET", "/ws", headers=h.ws_handshake_headers(key))
        assert c.read_response().status == 101
        for i in range(8):  # 8 x 0.3 s: well past the 1 s read_timeout
            c.send(h.ws_frame(1, f"ping {i}".encode()))
            assert h.ws_read_frame(c) == (True, 1, f"ping {i}".encode(), False), i
            time.sleep(0.3)


def test_chunked_body_over_max_body_size_413():
    o = h.start_origin("watched")
    b = h.proxy_with_sites([h.site("a.test", [o.port])], top_extra="max_body_size 1k;\n")
    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
    with h.HTTPConn(b.port, timeout=5) as c:
        c.send(b"POST /sink?big=1 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunk + chunk + b"0\r\n\r\n")
        r = c.read_response("POST")
    assert r.status == 413, r
    with h.HTTPConn(b.port, timeout=5) as c:
        c.send(b"POST /sink?small=1 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunk + b"0\r\n\r\n")
        r = c.read_response("POST")
    assert r.status == 200 and r.json()["bytes"] == 1024, r
