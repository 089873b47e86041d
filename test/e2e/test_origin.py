"""test_origin.py - bulwark-origin on its own, no proxy in between.

The proxy tests trust the origin's answers (which connection, which request,
what headers arrived), so the origin is checked first: if one of these fails,
look here before blaming bulwark.
"""
import zlib

import harness as h


def test_origin_routes():
    o = h.start_origin("alpha")
    port = o.port
    r = h.get(port, "/healthz")
    assert r.status == 200 and r.body == b"ok", r
    assert r.header("X-Origin-Name") == "alpha"
    assert r.header("X-Origin-Conn") and r.header("X-Origin-Req") == "1"
    assert r.header("Content-Length") == "2"

    r = h.get(port, "/api/hello")
    assert r.status == 200 and r.json() == {"hello": "world", "origin": "alpha"}, r.body

    r = h.request(port, "POST", "/api/chat", body=b"x" * 1234)
    assert r.status == 200 and r.json()["prompt_bytes"] == 1234, r.body

    r = h.get(port, "/", headers=[("X-Evil", "<script>")])
    assert r.status == 200 and b"It works" in r.body and b"&lt;script&gt;" in r.body
    assert b"<script>" not in r.body
    assert r.header("Content-Type").startswith("text/html")

    r = h.get(port, "/headers?x=1", headers=[("X-B", "2"), ("x-a", "1"), ("X-B", "3")])
    j = r.json()
    assert j["method"] == "GET" and j["target"] == "/headers?x=1" and j["version"] == "HTTP/1.1"
    assert j["headers"] == [["Host", "a.test"], ["X-B", "2"], ["x-a", "1"], ["X-B", "3"]], j
    assert j["req"] == 1 and j["conn"] == int(r.header("X-Origin-Conn"))

    for code in (200, 302, 404, 418, 503):
        r = h.get(port, f"/status/{code}")
        assert r.status == code and str(code).encode() in r.body, r
    r = h.get(port, "/status/204")
    assert r.status == 204 and r.header("Content-Length") is None and r.body == b""
    assert h.get(port, "/status/99").status == 400
    assert h.get(port, "/nope").status == 404
    r = h.request(port, "DELETE", "/echo")
    assert r.status == 405 and "POST" in r.header("Allow")


def test_origin_keepalive_pipelining_head():
    o = h.start_origin()
    with h.HTTPConn(o.port) as c:
        c.send(h.build_request("GET", "/headers?n=1")
               + h.build_request("POST", "/echo", body=b"hello")
               + h.build_request("HEAD", "/bytes?n=100")
               + h.build_request("GET", "/bytes?n=30"))
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response("HEAD")
        r4 = c.read_response()
        assert r1.json()["target"] == "/headers?n=1"
        assert r2.body == b"hello"
        assert r3.status == 200 and r3.header("Content-Length") == "100" and r3.body == b""
        assert r4.body == h.pattern(30)
        conns = {r.header("X-Origin-Conn") for r in (r1, r2, r3, r4)}
        assert len(conns) == 1, conns
        assert [r.header("X-Origin-Req") for r in (r1, r2, r3, r4)] == ["1", "2", "3", "4"]
        # Byte-at-a-time head still parses.
        for b in h.build_request("GET", "/healthz"):
            c.send(bytes([b]))
        assert c.read_response().header("X-Origin-Req") == "5"


def test_origin_bodies():
    o = h.start_origin()
    port = o.port
    data = bytes(range(256)) * 4000  # 1 MB, every byte value
    r = h.request(port, "POST", "/echo", body=data)
    assert r.status == 200 and r.body == data and r.header("Content-Length") == str(len(data))

    with h.HTTPConn(port) as c:
        pieces = [b"hello ", b"chunked " * 1000, b"world"]
        body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\nX-T: 1\r\n\r\n"
        c.request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=body)
        r = c.read_response()
        assert r.status == 200 and "chunked" in r.header("Transfer-Encoding", "")
        assert r.body == b"".join(pieces)
        c.request("POST", "/sink", body=data)  # same connection: framing stayed in sync
        r = c.read_response()
        assert r.json() == {"bytes": len(data), "crc32": "%08x" % zlib.crc32(data)}, r.body

    r = h.get(port, "/bytes?n=100000")
    assert r.body == h.pattern(100000) and r.header("Content-Length") == "100000"
    for n, size in ((0, 10), (1, 1), (5000, 1000), (100000, 777)):
        r = h.get(port, f"/chunked?n={n}&size={size}")
        assert r.status == 200 and r.body == h.pattern(n), (n, size, len(r.body))
        assert r.header("Content-Length") is None


def test_origin_expect_continue():
    o = h.start_origin()
    with h.HTTPConn(o.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.read_response(skip_1xx=False)
        assert r.status == 100, r
        c.send(b"abcde")
        r = c.read_response()
        assert r.status == 200 and r.body == b"abcde"


def test_origin_http10_and_close():
    o = h.start_origin()
    with h.HTTPConn(o.port) as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.header("Connection", "").lower() == "close"
        assert c.closed_by_peer()
    with h.HTTPConn(o.port) as c:
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.header("Connection", "").lower() == "keep-alive"
        c.send(b"GET /chunked?n=40 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()  # no chunks for 1.0: close-delimited
        assert r.body == h.pattern(40) and r.header("Transfer-Encoding") is None
    with h.HTTPConn(o.port) as c:
        c.send(h.build_request("GET", "/healthz", headers=[("Connection", "close")]))
        assert c.read_response().header("Connection", "").lower() == "close"
        assert c.closed_by_peer()


def test_origin_bad_request():
    o = h.start_origin()
    with h.HTTPConn(o.port) as c:
        c.send(b"GARBAGE\r\n\r\n")
        r = c.read_response()
        assert r.status == 400, r
        assert c.closed_by_peer()
    with h.HTTPConn(o.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert c.read_response().status == 400
        assert c.closed_by_peer()


def test_origin_websocket():
    o = h.start_origin()
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with h.HTTPConn(o.port) as c:
        c.request("GET", "/ws", headers=h.ws_handshake_headers(key))
        r = c.read_response()
        assert r.status == 101, r
        assert r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3
        c.send(h.ws_frame(1, b"hello") + h.ws_frame(2, bytes(300)) + h.ws_frame(9, b"p"))
        assert h.ws_read_frame(c) == (True, 1, b"hello", False)
        assert h.ws_read_frame(c) == (True, 2, bytes(300), False)
        assert h.ws_read_frame(c) == (True, 10, b"p", False)
        c.send(h.ws_frame(8, b"\x03\xe8"))
        assert h.ws_read_frame(c)[1] == 8
        assert c.closed_by_peer()
    r = h.get(o.port, "/ws")
    assert r.status == 426, r
