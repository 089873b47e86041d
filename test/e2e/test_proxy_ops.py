"""test_proxy_ops.py - running bulwark: PROXY protocol listeners, SIGHUP
reload (bad file refused with FILE:LINE, good file applied, old connections
kept), SIGTERM drain, and `bulwark -t`.
"""
import ipaddress
import os
import signal
import socket
import struct
import subprocess
import time

import harness as h

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def pp_proxy():
    """An origin and bulwark with one plain and one proxy_protocol listener."""
    o = h.start_origin()
    pp = h.free_port()
    b = h.proxy_with_sites([h.site("a.test", [o.port])],
                           listen_extra=f"listen 127.0.0.1:{pp} proxy_protocol;\n")
    h.wait_port(pp, server=b)
    return b, pp


def headers_via(port, preamble):
    with h.HTTPConn(port, timeout=5) as c:
        c.send(preamble + h.build_request("GET", "/headers"))
        r = c.read_response()
    assert r.status == 200, f"{r} {r.body[:200]!r}"
    return r


def pp_v2(src, dst, sport, dport):
    """A PROXY v2 PROXY-command header for TCP over IPv4 or IPv6."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if s.version == 4 else 0x21
    addrs = s.packed + d.packed + struct.pack("!HH", sport, dport)
    return PP2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(addrs)) + addrs


def test_proxy_protocol_v1():
    b, pp = pp_proxy()
    r = headers_via(pp, b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n")
    assert h.seen_values(r, "X-Forwarded-For") == ["203.0.113.7"], h.headers_seen(r)
    r = headers_via(pp, b"PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n")
    assert h.seen_values(r, "X-Forwarded-For") == ["2001:db8::7"], h.headers_seen(r)
    # on a plain listener a PROXY line is not HTTP: refused, never trusted
    with h.HTTPConn(b.port, timeout=5) as c:
        c.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n" + h.build_request("GET", "/"))
        try:
            r = c.read_response()
            assert r.status == 400, f"PROXY header accepted on a plain listener: {r}"
        except EOFError:
            pass  # closed without a word is fine too


def test_proxy_protocol_v2():
    b, pp = pp_proxy()
    r = headers_via(pp, pp_v2("2001:db8::7", "2001:db8::1", 40000, 443))
    assert h.seen_values(r, "X-Forwarded-For") == ["2001:db8::7"], h.headers_seen(r)
    fwd = h.seen_values(r, "Forwarded")
    assert fwd and 'for="[2001:db8::7]"' in fwd[0], fwd
    r = headers_via(pp, pp_v2("198.51.100.9", "192.0.2.1", 40000, 443))
    assert h.seen_values(r, "X-Forwarded-For") == ["198.51.100.9"], h.headers_seen(r)


def test_sighup_reload():
    a, bo = h.start_origin("A"), h.start_origin("B")
    port, admin = h.free_port(), h.free_port()
    good_a = h.config(port, admin, [h.site("a.test", [a.port])])
    b = h.start_bulwark(good_a, port=port, admin_port=admin)
    old = h.HTTPConn(port)
    try:
        old.request("GET", "/healthz")
        assert old.read_response().header("X-Origin-Name") == "A"

        bad = good_a + "}\n"  # a stray brace on the last line
        bad_line = bad.count("\n")
        h.write_file(b.conf_path, bad)
        b.signal(signal.SIGHUP)
        h.wait_until(lambda: f"{b.conf_path}:{bad_line}" in b.log(), 5,
                     what=f"{b.conf_path}:{bad_line} in the error log")
        assert b.alive(), "bulwark exited on a bad reload"
        r = h.get(port, "/healthz")
        assert r.status == 200 and r.header("X-Origin-Name") == "A", r

        h.write_file(b.conf_path, h.config(port, admin, [h.site("a.test", [bo.port])]))
        b.signal(signal.SIGHUP)
        h.wait_until(lambda: h.get(port, "/healthz").header("X-Origin-Name") == "B", 5,
                     what="new requests to reach origin B after the reload")

        old.request("GET", "/healthz")
        r = old.read_response()
        assert r.status == 200, f"keep-alive connection from before the reloads: {r}"
    finally:
        old.close()


def connect_refused(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def test_sigterm_drain():
    o = h.start_origin()
    b = h.proxy_with_sites([h.site("a.test", [o.port])])
    with h.HTTPConn(b.port, timeout=10) as c:
        c.request("GET", "/slow?ms=1500")
        time.sleep(0.3)
        b.signal(signal.SIGTERM)
        h.wait_until(lambda: connect_refused(b.port), 5.0, interval=0.02,
                     what="new connections to be refused after SIGTERM")
        r = c.read_response()
        assert r.status == 200 and r.body == b"slow", f"in-flight request during drain: {r}"
    try:
        rc = b.wait(5)
    except subprocess.TimeoutExpired:
        raise AssertionError("bulwark still running 5 s after SIGTERM with nothing in flight")
    assert rc == 0, f"exit status {rc} after SIGTERM"


def run_t(conf_text):
    d = h.tmpdir()
    path = os.path.join(d, "test.conf")
    h.write_file(path, conf_text)
    p = subprocess.run([h.binary("bulwark"), "-t", "-c", path], capture_output=True,
                       timeout=10, text=True)
    return path, p


def test_config_test_flag():
    good = h.config(h.free_port(), h.free_port(), [h.site("a.test", [h.free_port()])])
    path, p = run_t(good)
    assert p.returncode == 0, f"-t on a good config: status {p.returncode}: {p.stderr}"
    assert "test is successful" in p.stderr, p.stderr

    bad = good + "}\n"
    path, p = run_t(bad)
    line = bad.count("\n")
    assert p.returncode == 1, f"-t on a bad config: status {p.returncode}: {p.stderr}"
    assert f"{path}:{line}:" in p.stderr, f"expected {path}:{line}: in {p.stderr!r}"

    lines = good.splitlines()
    lines.insert(2, "no_such_directive on;")
    path, p = run_t("\n".join(lines) + "\n")
    assert p.returncode == 1 and f"{path}:3:" in p.stderr, (p.returncode, p.stderr)
