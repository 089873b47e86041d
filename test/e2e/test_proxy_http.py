"""test_proxy_http.py - requests through bulwark: the headers it adds and
strips, keep-alive to origins, pipelining, Host routing, the admin listener.

Every test starts its own origin(s) and bulwark (one worker, so keep-alive
reuse is deterministic) on free ports.
"""
import json
import socket

import harness as h


def one_site(*origins, health="off", extra="", **kw):
    return h.proxy_with_sites([h.site("a.test", [o.port for o in origins], health, extra)], **kw)


def test_forwarding_headers_and_request_id():
    o = h.start_origin("A")
    b = one_site(o)
    r = h.get(b.port, "/headers", headers=[("X-Forwarded-For", "1.2.3.4"),
                                            ("X-Request-Id", "abc-123.X_y")])
    assert r.status == 200, r
    assert h.seen_values(r, "X-Forwarded-For") == ["127.0.0.1"], h.headers_seen(r)
    assert h.seen_values(r, "X-Forwarded-Proto") == ["http"], h.headers_seen(r)
    assert h.seen_values(r, "Forwarded") == ["for=127.0.0.1;proto=http;host=a.test"], \
        h.headers_seen(r)
    assert h.seen_values(r, "X-Request-Id") == ["abc-123.X_y"], h.headers_seen(r)
    assert r.header("X-Request-Id") == "abc-123.X_y", r.headers

    generated = set()
    for bad in ("has space", "x" * 65, "semi;colon", None):
        hdrs = [("X-Request-Id", bad)] if bad is not None else []
        r = h.get(b.port, "/headers", headers=hdrs)
        ids = h.seen_values(r, "X-Request-Id")
        assert len(ids) == 1 and h.REQUEST_ID_RE.match(ids[0]) and ids[0] != bad, \
            f"client id {bad!r}: origin saw {ids}"
        assert r.header("X-Request-Id") == ids[0], (ids, r.headers)
        generated.add(ids[0])
    assert len(generated) == 4, f"generated ids repeat: {generated}"


def test_forwarded_ipv6_client():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        raise h.Skip("no IPv6 loopback")
    o = h.start_origin()
    p6 = h.free_port(socket.AF_INET6, "::1")
    b = one_site(o, listen_extra=f"listen [::1]:{p6};\n")
    h.wait_port(p6, host="::1", server=b)
    r = h.get(p6, "/headers", addr="::1")
    assert r.status == 200, r
    assert h.seen_values(r, "X-Forwarded-For") == ["::1"], h.headers_seen(r)
    assert h.seen_values(r, "Forwarded") == ['for="[::1]";proto=http;host=a.test'], \
        h.headers_seen(r)


def test_hop_by_hop_headers_stripped():
    o = h.start_origin()
    b = one_site(o)
    r = h.get(b.port, "/headers", headers=[
        ("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Trailer", "X-Foo"),
        ("Upgrade", "h2c"), ("X-Kept", "yes")])
    assert r.status == 200, r
    seen = h.headers_seen(r)
    names = {k.lower() for k, _ in seen}
    for hop in ("x-secret", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"):
        assert hop not in names, f"origin got hop-by-hop {hop}: {seen}"
    for v in h.seen_values(r, "Connection"):
        assert "secret" not in v.lower(), f"client's Connection forwarded: {seen}"
    assert h.seen_values(r, "X-Kept") == ["yes"], seen


def test_hop_by_hop_named_in_any_connection_line():
    """Connection is a list that may come in several lines (RFC 9110 5.3):
    what every line names is hop-by-hop and stripped."""
    o = h.start_origin()
    b = one_site(o)
    r = h.get(b.port, "/headers", headers=[
        ("Connection", "X-One"), ("X-One", "1"), ("Connection", "keep-alive, X-Two"),
        ("X-Two", "2"), ("X-Kept", "yes")])
    assert r.status == 200, r
    names = {k.lower() for k, _ in h.headers_seen(r)}
    assert "x-one" not in names and "x-two" not in names, names
    assert h.seen_values(r, "X-Kept") == ["yes"]


def test_keepalive_reuse_to_origin():
    o = h.start_origin()
    b = one_site(o)
    with h.HTTPConn(b.port) as c1:
        c1.request("GET", "/headers")
        r1 = c1.read_response()
    with h.HTTPConn(b.port) as c2:
        c2.request("GET", "/headers")
        r2 = c2.read_response()
    assert r1.status == r2.status == 200, (r1, r2)
    assert r1.header("X-Origin-Conn") == r2.header("X-Origin-Conn"), \
        f"no origin keep-alive: conn {r1.header('X-Origin-Conn')} then {r2.header('X-Origin-Conn')}"
    assert int(r2.header("X-Origin-Req")) == int(r1.header("X-Origin-Req")) + 1


def test_pipelining():
    o = h.start_origin()
    b = one_site(o)
    with h.HTTPConn(b.port) as c:
        c.send(h.build_request("GET", "/headers?p=1")
               + h.build_request("POST", "/echo", body=b"pipelined body")
               + h.build_request("GET", "/bytes?n=50"))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert r1.status == 200 and r1.json()["target"] == "/headers?p=1", r1
    assert r2.status == 200 and r2.body == b"pipelined body", r2
    assert r3.status == 200 and r3.body == h.pattern(50), r3


def test_host_routing():
    a, bo = h.start_origin("A"), h.start_origin("B")
    b = h.proxy_with_sites([h.site("a.test", [a.port]), h.site("b.test", [bo.port])])
    cases = [("a.test", "A"), ("b.test", "B"), ("unknown.test", "A"), ("B.Test", "B"),
             (f"b.test:{b.port}", "B")]
    for host, want in cases:
        r = h.get(b.port, "/healthz", host=host)
        assert r.status == 200 and r.header("X-Origin-Name") == want, \
            f"Host {host}: {r} from {r.header('X-Origin-Name')}, expected {want}"


def test_connection_close_and_http10():
    o = h.start_origin()
    b = one_site(o)
    with h.HTTPConn(b.port) as c:
        c.request("GET", "/healthz", headers=[("Connection", "close")])
        r = c.read_response()
        assert r.status == 200, r
        assert c.closed_by_peer(), "Connection: close but bulwark kept the connection open"
    with h.HTTPConn(b.port) as c:
        c.send(b"GET /healthz HTTP/1.0\r\nHost: a.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok", r
        assert c.closed_by_peer(), "HTTP/1.0 without keep-alive but the connection stayed open"


def test_admin_endpoints():
    o = h.start_origin()
    b = one_site(o)
    r = h.admin_get(b.admin_port, "/healthz")
    assert r.status == 200, r
    for _ in range(3):
        assert h.get(b.port, "/api/hello").status == 200

    def requests_line():
        text = h.admin_get(b.admin_port, "/metrics").body.decode()
        return [ln for ln in text.splitlines() if ln.startswith("bulwark_requests_total{")
                and "a.test" in ln and 'code="200"' in ln]
    h.wait_until(requests_line, 3, what='bulwark_requests_total{...a.test...code="200"} in /metrics')
    r = h.admin_get(b.admin_port, "/api/v1/stats")
    assert r.status == 200, r
    json.loads(r.body)


def test_quick_mode():
    o1, o2 = h.start_origin("one"), h.start_origin("two")
    port, admin = h.free_port(), h.free_port()
    b = h.start_bulwark(args=["--listen", f"127.0.0.1:{port}",
                              "--origin", f"127.0.0.1:{o1.port},127.0.0.1:{o2.port}",
                              "--workers", "1", "--admin", f"127.0.0.1:{admin}"],
                        port=port, admin_port=admin)
    names = set()
    for _ in range(6):
        r = h.get(b.port, "/healthz", host="anything.example")
        assert r.status == 200, r
        names.add(r.header("X-Origin-Name"))
    assert names == {"one", "two"}, f"round robin reached only {names}"
