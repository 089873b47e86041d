"""test_overload.py - bulwark under its own load (docs/LIMITS.md): an
overloaded worker challenges, then sheds with a fast 503, the visitors that
have no clearance token, while those with one go on and the admin port
answers; the connection reserve lets only clearance tokens in; shedding
picks connections without a token first.

Overload is made without a load test: bulwark is stopped (SIGSTOP) while
clients connect, so on SIGCONT its first accept sees how long they waited
in the kernel - the same signal a saturated worker gives.
"""
import os
import signal
import socket
import struct
import time

import harness as h

UA = "Mozilla/5.0 (X11; Linux x86_64) e2e"
BROWSER = [("User-Agent", UA), ("Accept", "text/html"), ("Accept-Language", "en")]


metric = h.metric


clearance_cookie = h.clearance_cookie


def get_token(port, path="/token"):
    r = h.get(port, path, headers=BROWSER)
    assert r.status == 307, r
    return clearance_cookie(r)


def sent(port, target, headers):
    """A connection with a request written to it (not yet answered)."""
    c = h.HTTPConn(port)
    c.request("GET", target, headers=headers)
    return c


def connections_active(b, n):
    h.wait_until(lambda: metric(b.admin_port, "bulwark_connections_active") == n, 10,
                 what=f"{n} client connections open")


def stopped(pid):
    """Every thread of the process is stopped (SIGSTOP is delivered a
    little after kill() returns)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] != "T":
                return False
    return True


def while_stopped(b, seconds, clients):
    """Stop bulwark, let the clients connect and send, resume it."""
    b.signal(signal.SIGSTOP)
    try:
        h.wait_until(lambda: stopped(b.pid), 5, interval=0.005, what="bulwark stopped")
        conns = [sent(b.port, target, headers) for target, headers in clients]
        time.sleep(seconds)
    finally:
        b.signal(signal.SIGCONT)
    return conns


def test_overload_challenges_then_sheds_visitors_without_a_token():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port], extra="rule challenge path=/token;")],
                           top_extra="overload_wait 300ms;\n")
    token = get_token(b.port)
    with_token = BROWSER + [("Cookie", token)]
    assert h.get(b.port, "/api/hello", headers=BROWSER).status == 200

    # level 1: a wait of 300 ms to 1200 ms (4x): challenges
    a, t = while_stopped(b, 0.6, [("/api/hello", BROWSER), ("/api/hello", with_token)])
    r = a.read_response()
    assert r.status == 307 and r.header("X-Bulwark-Challenge") == "cookie", r
    assert t.read_response().status == 200
    assert "overloaded: visitors without a clearance token are challenged" in b.log()

    # level 2: a wait of 1200 ms or more: a fast 503 that closes the connection
    c, t = while_stopped(b, 1.6, [("/api/hello", BROWSER), ("/api/hello", with_token)])
    r = c.read_response()
    assert r.status == 503, r
    assert r.header("Retry-After") == "5"
    assert r.header("Connection") == "close"
    assert c.closed_by_peer()
    assert t.read_response().status == 200
    assert "overloaded: visitors without a clearance token get 503" in b.log()
    # the admin port answers through it all
    assert metric(b.admin_port, 'bulwark_shield_mitigated_total{site="a.test",reason="overload"}') >= 2
    assert metric(b.admin_port, 'bulwark_shield_requests_total{site="a.test",outcome="unavailable"}') >= 1

    # and once nobody waits any more, everyone is served again
    h.wait_until(lambda: h.get(b.port, "/api/hello", headers=BROWSER).status == 200, 10,
                 what="normal service after the overload")
    h.wait_until(lambda: "keeping up again" in b.log(), 5, what="the all-clear in the log")
    assert metric(b.admin_port, 'bulwark_overload_level{worker="0"}') == 0


def test_overload_wait_off_never_sheds():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])], top_extra="overload_wait off;\n")
    h.get(b.port, "/api/hello")
    (c,) = while_stopped(b, 1.2, [("/api/hello", BROWSER)])
    assert c.read_response().status == 200
    assert "overloaded" not in b.log()


def test_reserve_takes_only_clearance_tokens():
    """max_connections 10 with 20 % reserved: past 8 busy connections (none
    of them sheddable), a newcomer needs a clearance token."""
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port], extra="rule challenge path=/token;")],
                           top_extra="max_connections 10;\nconnection_reserve 20%;\n")
    token = get_token(b.port)
    connections_active(b, 0)
    busy = [sent(b.port, "/slow?ms=20000", BROWSER) for _ in range(8)]  # in flight: never shed
    connections_active(b, 8)

    r = h.get(b.port, "/api/hello", headers=BROWSER)
    assert r.status == 503, r
    assert r.header("Retry-After") == "5"
    connections_active(b, 8)
    r = h.get(b.port, "/api/hello", headers=BROWSER + [("Cookie", token)])
    assert r.status == 200, r
    assert metric(b.admin_port, "bulwark_connections_reserve_total") >= 2
    assert metric(b.admin_port, 'bulwark_shield_mitigated_total{site="a.test",reason="reserve"}') == 1
    for c in busy:  # reset: a FIN alone could be a half-close, and bulwark would wait
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    # below the reserve again: anyone gets in
    connections_active(b, 0)
    assert h.get(b.port, "/api/hello", headers=BROWSER).status == 200


def test_shedding_keeps_connections_with_a_token_longest():
    """Full, nobody slow: the idle keep-alive connection to shed is the
    oldest one without a clearance token, not the oldest one."""
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port], extra="under_attack on;")],
                           top_extra="max_connections 3;\nconnection_reserve 0%;\n")
    token = get_token(b.port, "/")
    connections_active(b, 0)
    conns = []
    for headers, status in ((BROWSER + [("Cookie", token)], 200), (BROWSER, 307), (BROWSER, 307)):
        c = h.HTTPConn(b.port)
        c.request("GET", "/api/hello", headers=headers)
        assert c.read_response().status == status
        conns.append(c)
        time.sleep(0.05)
    assert h.get(b.port, "/api/hello", headers=BROWSER).status == 307  # a 4th: one must go
    assert conns[1].closed_by_peer(), "the oldest connection without a token is shed"
    conns[0].request("GET", "/api/hello", headers=BROWSER + [("Cookie", token)])
    assert conns[0].read_response().status == 200
    for c in conns:
        c.close()
