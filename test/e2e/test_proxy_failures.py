"""test_proxy_failures.py - when things go wrong: dead and slow origins
(502, 504, retry, health checks) and hostile requests (smuggling, too many
headers), which must be refused before any byte reaches the origin.
"""
import re

import harness as h


def test_origin_down_502():
    dead = h.free_port()  # nothing listens there
    b = h.proxy_with_sites([h.site("a.test", [dead], "off", "connect_timeout 1s;")])
    r = h.get(b.port, "/")
    assert r.status == 502, r
    assert (r.header("Content-Type") or "").startswith("text/html"), r.headers
    assert b"502" in r.body, r.body[:300]


def test_origin_slow_504():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port], "off", "read_timeout 1s;")])
    r = h.get(b.port, "/slow?ms=3000", timeout=10)
    assert r.status == 504, r
    assert b"504" in r.body, r.body[:300]


def test_retry_other_origin():
    dead = h.free_port()
    o = h.start_origin("live")
    b = h.proxy_with_sites([h.site("a.test", [dead, o.port], "off",
                                   "retries 2; connect_timeout 1s;")])
    codes = []
    for _ in range(10):
        r = h.get(b.port, "/healthz")
        codes.append(r.status)
    assert codes == [200] * 10, f"statuses: {codes}"


def origin_up_value(admin_port, server):
    """The value of bulwark_origin_up{...server="SERVER"...}, or None."""
    text = h.admin_get(admin_port, "/metrics").body.decode("utf-8", "replace")
    for ln in text.splitlines():
        if ln.startswith("bulwark_origin_up{") and f'server="{server}"' in ln:
            m = re.search(r"\}\s+(\S+)$", ln)
            return m.group(1) if m else None
    return None


def test_health_check_marks_down():
    dead = h.free_port()
    o = h.start_origin(quiet=True)
    hc = "interval=200ms timeout=200ms rise=1 fall=1 path=/healthz"
    b = h.proxy_with_sites([h.site("a.test", [dead, o.port], hc)])
    h.wait_until(lambda: origin_up_value(b.admin_port, f"127.0.0.1:{dead}") == "0", 5,
                 what=f'bulwark_origin_up{{...server="127.0.0.1:{dead}"}} 0')
    assert origin_up_value(b.admin_port, f"127.0.0.1:{o.port}") == "1"
    for _ in range(4):
        assert h.get(b.port, "/healthz").status == 200


def refused_before_origin(attack, marker, want=400, closes=True):
    """Send attack bytes; expect `want` (and a closed connection if closes),
    and check that the origin never saw a request containing marker."""
    o = h.start_origin("watched")
    b = h.proxy_with_sites([h.site("a.test", [o.port])])
    with h.HTTPConn(b.port, timeout=5) as c:
        c.send(attack)
        r = c.read_response()
        assert r.status == want, f"expected {want}, got {r}"
        if closes:
            assert c.closed_by_peer(), "connection left open after a refused request"
    # A request after it: once the origin logged this one, anything sent
    # before it would have been logged too.
    assert h.get(b.port, "/headers?after=1").status == 200
    h.wait_until(lambda: "after=1" in o.log(), 3, what="the origin's log line")
    assert marker not in o.log(), f"the origin received the refused request:\n{o.tail()}"


def test_smuggling_cl_te_refused():
    body = b"0\r\n\r\nGET /headers?smuggled=2 HTTP/1.1\r\nX: y\r\n\r\n"
    refused_before_origin(
        b"POST /headers?smuggle=1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%s" % (len(body), body), "smuggle")


def test_smuggling_double_content_length_refused():
    refused_before_origin(
        b"POST /headers?smuggle=1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
        b"Content-Length: 40\r\n\r\nhello", "smuggle")


def test_obs_fold_refused():
    refused_before_origin(
        b"GET /headers?smuggle=1 HTTP/1.1\r\nHost: a.test\r\nX-Folded: a\r\n b\r\n\r\n",
        "smuggle")


def test_too_many_headers_431():
    hdrs = "".join(f"X-H-{i}: v\r\n" for i in range(200))
    refused_before_origin(
        f"GET /headers?smuggle=1 HTTP/1.1\r\nHost: a.test\r\n{hdrs}\r\n".encode(), "smuggle",
        want=431, closes=False)


def test_request_line_too_long_414():
    refused_before_origin(
        b"GET /headers?smuggle=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a.test\r\n\r\n", "smuggle",
        want=414, closes=False)


def test_body_over_max_body_size_413():
    o = h.start_origin("watched")
    b = h.proxy_with_sites([h.site("a.test", [o.port])], top_extra="max_body_size 1k;\n")
    r = h.request(b.port, "POST", "/sink?big=1", body=b"x" * 2048)
    assert r.status == 413, r
    r = h.request(b.port, "POST", "/sink?small=1", body=b"x" * 512)
    assert r.status == 200 and r.json()["bytes"] == 512, r
    h.wait_until(lambda: "small=1" in o.log(), 3, what="the origin's log line")
    assert "big=1" not in o.log(), f"the origin received the refused body:\n{o.tail()}"


def test_slow_head_408():
    """A client that never finishes its head (slowloris) gets 408 and is
    closed after client_header_timeout, while others are served."""
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])], top_extra="client_header_timeout 1s;\n")
    with h.HTTPConn(b.port, timeout=10) as slow:
        slow.send(b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: 1\r\n")
        assert h.get(b.port, "/healthz").status == 200
        r = slow.read_response()
        assert r.status == 408, r
        assert slow.closed_by_peer(), "connection left open after 408"
