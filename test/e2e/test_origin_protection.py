"""test_origin_protection.py - max_conns= on an origin caps the requests in
flight to it (per worker); the rest wait in the site's queue, first come
first served, for at most queue_timeout, then get 503 with Retry-After; a
full queue (max_queue) answers 503 at once.  So a flood that gets past the
shield cannot melt the origin.
"""
import threading

import harness as h


metric = h.metric


def in_threads(fns):
    out = [None] * len(fns)

    def run(i, fn):
        try:
            out[i] = fn()
        except Exception as e:  # reported by the assertion below
            out[i] = e
    ts = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(fns)]
    for t in ts:
        t.start()
    return ts, out


def test_max_conns_queues_the_rest_and_serves_them_all():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [f"127.0.0.1:{o.port} max_conns=2"])])
    ts, out = in_threads([lambda: h.get(b.port, "/slow?ms=400", timeout=15)] * 5)
    for t in ts:
        t.join(20)
    for r in out:
        assert not isinstance(r, Exception) and r.status == 200, r
    # never more than two origin connections: the cap held
    conns = {r.header("X-Origin-Conn") for r in out}
    assert len(conns) <= 2, conns
    assert metric(b.admin_port, "bulwark_origin_queued_total") == 3


def test_queue_timeout_503_and_full_queue_503():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [f"127.0.0.1:{o.port} max_conns=1"],
                                   extra="queue_timeout 300ms;\n    max_queue 1;")])
    ts, out = in_threads([lambda: h.get(b.port, "/slow?ms=1500", timeout=15)])
    h.wait_until(lambda: metric(b.admin_port, "bulwark_connections_active") >= 1, 5,
                 what="the slow request in flight")
    # the origin is busy: the next request waits 300 ms, then 503
    ts2, out2 = in_threads([lambda: h.get(b.port, "/api/hello", timeout=15)])
    h.wait_until(lambda: metric(b.admin_port, "bulwark_origin_queued_total") >= 1, 5,
                 what="a queued request")
    # the queue (max_queue 1) is full now: 503 at once
    r = h.get(b.port, "/api/hello")
    assert r.status == 503 and r.header("Retry-After") == "5", r
    for t in ts + ts2:
        t.join(20)
    assert out2[0].status == 503 and out2[0].header("Retry-After") == "5", out2[0]
    assert out[0].status == 200, out[0]
    assert metric(b.admin_port, 'bulwark_origin_queue_rejected_total{reason="timeout"}') == 1
    assert metric(b.admin_port, 'bulwark_origin_queue_rejected_total{reason="full"}') == 1
    # and once the origin is free again, requests go straight through
    assert h.get(b.port, "/api/hello").status == 200


def test_client_leaving_the_queue_frees_its_place():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [f"127.0.0.1:{o.port} max_conns=1"],
                                   extra="queue_timeout 10s;\n    max_queue 1;")])
    ts, out = in_threads([lambda: h.get(b.port, "/slow?ms=800", timeout=15)])
    h.wait_until(lambda: metric(b.admin_port, "bulwark_connections_active") >= 1, 5,
                 what="the slow request in flight")
    c = h.HTTPConn(b.port)
    c.send(h.build_request("GET", "/api/hello"))
    h.wait_until(lambda: metric(b.admin_port, "bulwark_origin_queued_total") >= 1, 5,
                 what="a queued request")
    c.close()  # gives up while queued
    ts[0].join(20)
    assert out[0].status == 200
    # its place is free: the next one queues (not "full") and is served
    assert h.get(b.port, "/api/hello", timeout=15).status == 200
    assert metric(b.admin_port, 'bulwark_origin_queue_rejected_total{reason="full"}') == 0


def test_circuit_breaker_rests_a_failing_origin():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port], extra="max_fails 3;\n    fail_timeout 1s;")])
    # failures interrupted by a success do not open it
    for path in ("/status/500", "/status/503", "/api/hello", "/status/500", "/status/502"):
        r = h.get(b.port, path)
        assert r.header("X-Origin-Name") == "origin", (path, r)
    # the third failure in a row opens it: the origin gets nothing for 1 s
    assert h.get(b.port, "/status/500").header("X-Origin-Name") == "origin"
    r = h.get(b.port, "/api/hello")
    assert r.status == 503 and r.header("X-Origin-Name") is None, r
    assert r.header("Retry-After") == "5"
    assert "3 failures in a row" in b.log()
    # after fail_timeout it gets requests again
    h.wait_until(lambda: h.get(b.port, "/api/hello").status == 200, 5,
                 what="the breaker to close after fail_timeout")
