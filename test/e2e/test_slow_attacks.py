"""test_slow_attacks.py - slow attacks against bulwark: when a worker is full
it sheds the connection least worth keeping (slowest head first, then the
longest idle keep-alive) instead of refusing the newcomer; a body that
trickles below client_body_min_rate is cut; and, with bulwark-siege, real
users keep >= 99.9 % success while slowloris holds 15,000 connections, or
slow-post trickles bodies.
"""
import json
import os
import socket
import subprocess
import time

import harness as h


metric = h.metric


def partial_head(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: ")
    return s


def closed(sock, timeout=3.0):
    """True once the peer has closed (EOF or reset), False if it stays open."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_full_worker_sheds_the_oldest_slow_head():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])],
                           top_extra="max_connections 4;\nclient_header_timeout 60s;\n")
    slow = [partial_head(b.port)]
    time.sleep(0.2)
    slow += [partial_head(b.port) for _ in range(3)]
    h.wait_until(lambda: metric(b.admin_port, "bulwark_connections_active") == 4, 5,
                 what="4 connections held")
    time.sleep(1.1)  # older than the 1 s grace: fair game when full
    r = h.get(b.port, "/api/hello")  # the 5th: served, not refused
    assert r.status == 200, r
    assert closed(slow[0]), "the oldest slow head should have been shed"
    assert not closed(slow[3], timeout=0.3), "only one connection is shed per newcomer"
    assert metric(b.admin_port, "bulwark_connections_shed_total") >= 1
    for s in slow:
        s.close()


def test_full_worker_sheds_the_longest_idle_keepalive():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])], top_extra="max_connections 3;\n")
    conns = []
    for _ in range(3):
        c = h.HTTPConn(b.port)
        c.send(h.build_request("GET", "/api/hello"))
        assert c.read_response().status == 200
        conns.append(c)
        time.sleep(0.05)
    r = h.get(b.port, "/api/hello")
    assert r.status == 200, r
    assert conns[0].closed_by_peer(), "the longest idle keep-alive connection is shed"
    # the others still work
    conns[2].send(h.build_request("GET", "/api/hello"))
    assert conns[2].read_response().status == 200
    for c in conns:
        c.close()


def test_full_worker_with_busy_clients_refuses_the_newcomer():
    """Nobody to shed (young heads only): the new client is refused, counted."""
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])],
                           top_extra="max_connections 2;\nclient_header_timeout 60s;\n")
    # the readiness probe's connection counts against the 2 until bulwark
    # has seen it close: wait for that, or the second slow head is refused
    h.wait_until(lambda: metric(b.admin_port, "bulwark_connections_accepted_total") >= 1 and
                 metric(b.admin_port, "bulwark_connections_active") == 0, 5,
                 what="the readiness probe's connection closed")
    # the heads must still be young (< 1 s, the shedding grace) when the
    # newcomer arrives, or shedding one of them is the right answer; on a
    # slow build (ASan) the metric polling alone can take that long, so a
    # round that was too slow is discarded and run again
    for _ in range(5):
        t0 = time.monotonic()
        slow = [partial_head(b.port) for _ in range(2)]
        h.wait_until(lambda: metric(b.admin_port, "bulwark_connections_active") == 2, 5,
                     interval=0.01, what="2 connections held")
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        if time.monotonic() - t0 < 0.7:
            break
        for x in slow + [s]:
            x.close()
        h.wait_until(lambda: metric(b.admin_port, "bulwark_connections_active") == 0, 5,
                     what="the discarded round's connections closed")
    assert closed(s), "a full worker with nobody to shed closes the newcomer"
    assert metric(b.admin_port, "bulwark_connections_refused_total") >= 1
    assert not closed(slow[0], timeout=0.3)
    for x in slow + [s]:
        x.close()


def test_trickling_body_is_cut():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])],
                           top_extra="client_body_min_rate 1k;\n")
    s = socket.create_connection(("127.0.0.1", b.port), timeout=30)
    s.sendall(b"POST /sink HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100000\r\n\r\n")
    cut_at = None
    start = time.monotonic()
    while time.monotonic() - start < 20:
        try:
            s.sendall(b"x")
        except OSError:
            cut_at = time.monotonic() - start
            break
        if closed(s, timeout=0.5):
            cut_at = time.monotonic() - start
            break
    assert cut_at is not None, "a 2 bytes/s body must be cut"
    assert cut_at >= 9.5, f"cut after {cut_at:.1f}s: the first 10 s are a grace period"
    assert metric(b.admin_port, "bulwark_slow_bodies_total") == 1
    assert "slower than 1024 bytes/s" in b.log()
    s.close()


# ---- with bulwark-siege ----------------------------------------------------

def siege_run(target, probe, *scenarios, seconds):
    d = h.tmpdir()
    report = os.path.join(d, "report.json")
    argv = [h.binary("bulwark-siege"), "-t", f"127.0.0.1:{target}", "-p", f"127.0.0.1:{probe}",
            "-d", str(seconds), "-q", "--report", report]
    for s in scenarios:
        argv += ["-s", s]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    assert p.returncode == 0, p.stderr[-2000:]
    with open(report) as f:
        rep = json.load(f)
    return {s["name"]: s for s in rep["scenarios"]}


def assert_legit_unharmed(legit):
    t = legit["totals"]
    assert t["sent"] > 500, t
    success = t["ok"] / t["sent"]
    assert success >= 0.999, f"legit success {success:.4%}: {t}"


def test_slowloris_15000_connections_legit_keeps_999():
    """bulwark holds all 15,000 slow heads (they cost it ~0.3 KiB each) and
    real users do not notice."""
    probe = h.start_probe()
    b = h.proxy_with_sites([h.site("a.test", [probe.port])], top_extra="max_connections 18000;\n")
    res = siege_run(b.port, probe.port, "legit:users=50,think=200",
                    "slowloris:rate=3000,conns=15000,interval=2000", seconds=20)
    assert_legit_unharmed(res["legit"])
    loris = res["slowloris"]
    held = max(row[6] for row in loris["timeline"])  # "active" column
    assert held >= 14500, f"siege held at most {held} slowloris connections"
    assert loris["totals"]["reached"] == 0
    assert metric(b.admin_port, "bulwark_connections_active") >= 0  # admin still answers
    assert b.alive()


def test_slowloris_above_the_connection_cap_is_shed():
    """15,000 slow heads against a worker capped at 5,000: each newcomer
    sheds the oldest slow head, so real users still get in."""
    probe = h.start_probe()
    b = h.proxy_with_sites([h.site("a.test", [probe.port])], top_extra="max_connections 5000;\n")
    res = siege_run(b.port, probe.port, "legit:users=50,think=200",
                    "slowloris:rate=3000,conns=15000,interval=2000", seconds=15)
    assert_legit_unharmed(res["legit"])
    assert res["slowloris"]["totals"]["dropped"] > 1000
    assert metric(b.admin_port, "bulwark_connections_shed_total") > 1000
    assert b.alive()


def test_slow_post_legit_keeps_999():
    probe = h.start_probe()
    b = h.proxy_with_sites([h.site("a.test", [probe.port])])
    res = siege_run(b.port, probe.port, "legit:users=50,think=200",
                    "slow-post:rate=500,conns=2000,interval=1000", seconds=16)
    assert_legit_unharmed(res["legit"])
    sp = res["slow-post"]["totals"]
    assert sp["blocked"] > 0, sp  # cut by client_body_min_rate after 10 s
    assert metric(b.admin_port, "bulwark_slow_bodies_total") > 0
    assert b.alive()


# ---- per-address and per-prefix caps ---------------------------------------

def connect_from(src, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def served(sock):
    sock.sendall(b"GET /api/hello HTTP/1.1\r\nHost: a.test\r\n\r\n")
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, socket.timeout):
        return False
    return data.startswith(b"HTTP/1.1 200")


def test_per_ip_and_per_prefix_caps():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])],
                           top_extra="max_connections_per_ip 3;\nmax_connections_per_prefix 5;\n")
    same_ip = [connect_from("127.0.9.1", b.port) for _ in range(3)]
    assert all(served(s) for s in same_ip)
    fourth = connect_from("127.0.9.1", b.port)
    assert closed(fourth), "the 4th connection from one address is closed at once"
    # two more addresses of the same /24 fit the prefix cap (3 + 2 = 5) ...
    more = [connect_from("127.0.9.2", b.port), connect_from("127.0.9.3", b.port)]
    assert all(served(s) for s in more)
    # ... the 6th connection from 127.0.9.0/24 does not, another /24 does
    assert closed(connect_from("127.0.9.4", b.port))
    other = connect_from("127.0.10.1", b.port)
    assert served(other)
    assert metric(b.admin_port, "bulwark_connections_over_ip_cap_total") == 2
    # a closed connection frees its place
    same_ip[0].close()
    h.wait_until(lambda: served(connect_from("127.0.9.1", b.port)), 5,
                 what="a place freed by a close")
    for s in same_ip + more + [fourth, other]:
        s.close()
