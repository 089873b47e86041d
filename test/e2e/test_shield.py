"""test_shield.py - the shield end to end: a rotating-address flood gets an
automatic rule and blocked answers while real users go on; the cookie and
proof-of-work challenges are passed by a client that follows them; a
clearance token does not work from another /24 or with another
User-Agent; under-attack mode; policy rules (block, allow, rate limit,
GeoIP); the attack event in /api/v1/attacks and the shield's metrics.
"""
import hashlib
import json
import os
import re
import socket
import subprocess

import harness as h

UA = "Mozilla/5.0 (X11; Linux x86_64) e2e"
BROWSER = [("User-Agent", UA), ("Accept", "text/html"), ("Accept-Language", "en")]


def conn_from(port, src):
    """A connection to bulwark from source address src (any of 127/8)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return h.HTTPConn(port, sock=s)


def get_from(port, src, target="/", headers=BROWSER):
    with conn_from(port, src) as c:
        c.request("GET", target, headers=headers)
        return c.read_response("GET")


clearance_cookie = h.clearance_cookie


def shielded(extra="", top="", probe=False):
    o = h.start_probe() if probe else h.start_origin()
    extra = "default;\n    " + extra  # siege's Host is not a.test
    b = h.proxy_with_sites([h.site("a.test", [o.port], extra=extra)], top_extra=top)
    return o, b


metric = h.metric


# ---- challenges -------------------------------------------------------------

def test_cookie_challenge_is_passed_by_a_client_that_keeps_cookies():
    o, b = shielded("under_attack on;\n    challenge cookie;")
    r = get_from(b.port, "127.0.0.1", "/?x=1")
    assert r.status == 307, r
    assert r.header("X-Bulwark-Challenge") == "cookie"
    assert r.header("Location") == "/?x=1"
    cookie = clearance_cookie(r)
    assert "HttpOnly" in r.header("Set-Cookie")
    # a client without cookies stays challenged
    assert get_from(b.port, "127.0.0.1", "/?x=1").status == 307
    # the one that follows with its cookie gets the origin's page
    r2 = get_from(b.port, "127.0.0.1", "/?x=1", BROWSER + [("Cookie", f"a=b; {cookie}")])
    assert r2.status == 200, r2
    assert r2.header("X-Bulwark-Challenge") is None
    assert metric(b.admin_port, 'bulwark_shield_requests_total{site="a.test",outcome="challenge"}') >= 2


def leading_zero_bits(digest):
    n = 0
    for byte in digest:
        if byte == 0:
            n += 8
            continue
        n += 8 - byte.bit_length()
        break
    return n


def solve(challenge, bits):
    n = 0
    while leading_zero_bits(hashlib.sha256(f"{challenge}:{n}".encode()).digest()) < bits:
        n += 1
    return n


def pow_meta(resp):
    m = re.search(rb'<meta name="bulwark-pow" content="([^" ]+) (\d+) ([^"]+)"', resp.body)
    assert m, resp.body[:500]
    return m.group(1).decode(), int(m.group(2)), m.group(3).decode()


def test_pow_challenge_is_passed_by_a_client_that_solves_it():
    o, b = shielded("under_attack on;\n    challenge pow;", top="pow_difficulty 10;\n")
    r = get_from(b.port, "127.0.0.1", "/chat")
    assert r.status == 403 and r.header("X-Bulwark-Challenge") == "pow", r
    assert b"<noscript>" in r.body  # people without JavaScript are told what is going on
    challenge, bits, ret = pow_meta(r)
    assert bits == 10 and ret == "/chat"
    nonce = solve(challenge, bits)
    # a wrong answer gets the page again
    bad = nonce + 1 if leading_zero_bits(hashlib.sha256(f"{challenge}:{nonce + 1}".encode()).digest()) < bits else nonce + 2
    wrong = get_from(b.port, "127.0.0.1", f"/.bulwark/pow?c={challenge}&n={bad}&r=/chat")
    if leading_zero_bits(hashlib.sha256(f"{challenge}:{bad}".encode()).digest()) < bits:
        assert wrong.status == 403 and wrong.header("X-Bulwark-Challenge") == "pow", wrong
    ok = get_from(b.port, "127.0.0.1", f"/.bulwark/pow?c={challenge}&n={nonce}&r=/chat")
    assert ok.status == 303, ok
    assert ok.header("Location") == "/chat"
    cookie = clearance_cookie(ok)
    r2 = get_from(b.port, "127.0.0.1", "/chat", BROWSER + [("Cookie", cookie)])
    assert r2.status != 403 and r2.header("X-Bulwark-Challenge") is None, r2
    # the solved challenge is bound to the client: another /24 cannot cash it
    other = get_from(b.port, "127.0.9.1", f"/.bulwark/pow?c={challenge}&n={nonce}&r=/chat")
    assert other.status == 403, other


def test_clearance_token_does_not_travel_to_another_prefix_or_browser():
    o, b = shielded("under_attack on;")
    cookie = clearance_cookie(get_from(b.port, "127.0.0.1"))
    with_cookie = BROWSER + [("Cookie", cookie)]
    assert get_from(b.port, "127.0.0.1", "/", with_cookie).status == 200
    assert get_from(b.port, "127.0.0.77", "/", with_cookie).status == 200  # same /24
    assert get_from(b.port, "127.0.1.1", "/", with_cookie).status == 307   # another /24
    other_ua = [("User-Agent", "curl/8"), ("Accept", "text/html"), ("Accept-Language", "en"),
                ("Cookie", cookie)]
    assert get_from(b.port, "127.0.0.1", "/", other_ua).status == 307
    # a tampered token is worthless
    name, val = cookie.split("=", 1)
    flipped = val[:-1] + ("A" if val[-1] != "A" else "B")
    assert get_from(b.port, "127.0.0.1", "/", BROWSER + [("Cookie", f"{name}={flipped}")]).status == 307


def test_under_attack_off_and_shield_off_pass_everything():
    o, b = shielded("under_attack off;")
    assert get_from(b.port, "127.0.0.1").status == 200
    o2, b2 = shielded("shield off;\n    rule block;")
    assert get_from(b2.port, "127.0.0.1").status == 200


# ---- policies ------------------------------------------------------------------

def test_policy_block_allow_and_first_match_wins():
    o, b = shielded("rule allow ip=127.0.0.9;\n    rule block path=/admin*;\n"
                    "    rule block header:User-Agent~sqlmap;")
    r = get_from(b.port, "127.0.0.1", "/admin/login")
    assert r.status == 403, r
    assert get_from(b.port, "127.0.0.9", "/admin/login").status != 403  # allowed first
    sq = [("User-Agent", "sqlmap/1.7")]
    assert get_from(b.port, "127.0.0.1", "/", sq).status == 403
    assert get_from(b.port, "127.0.0.1", "/").status == 200
    assert metric(b.admin_port, 'bulwark_shield_mitigated_total{site="a.test",reason="policy"}') == 2


def test_policy_rate_limit_per_address():
    o, b = shielded("rule rate-limit rate=1/m burst=2 key=ip path=/api/*;")
    codes = [get_from(b.port, "127.0.0.1", "/api/hello").status for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
    r = get_from(b.port, "127.0.0.1", "/api/hello")
    assert int(r.header("Retry-After")) >= 1
    assert get_from(b.port, "127.0.0.2", "/api/hello").status == 200  # another address
    assert get_from(b.port, "127.0.0.1", "/").status == 200            # another route


def test_bad_rule_is_refused_with_its_line():
    port, admin = h.free_port(), h.free_port()
    conf = h.config(port, admin, [h.site("a.test", [1], extra="rule block paht=/x;")])
    d = h.tmpdir()
    path = os.path.join(d, "bad.conf")
    h.write_file(path, conf)
    p = subprocess.run([h.binary("bulwark"), "-t", "-c", path], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1
    line = conf.splitlines().index("    rule block paht=/x;") + 1
    assert f"bad.conf:{line}:" in p.stderr and "paht" in p.stderr, p.stderr


# ---- detection ------------------------------------------------------------------

def siege(port, *args, seconds):
    d = h.tmpdir()
    report = os.path.join(d, "report.json")
    argv = [h.binary("bulwark-siege"), "-t", f"127.0.0.1:{port}", "-d", str(seconds), "-q",
            "--report", report] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    with open(report) as f:
        return json.load(f)


def scenario(rep, name):
    return next(s for s in rep["scenarios"] if s["name"] == name)


def test_rotating_address_flood_gets_a_rule_and_is_blocked():
    """Real users first (the baseline), then a flood from addresses that
    each send 3 requests: the shield finds the bots' fingerprint by itself
    and blocks it; the users keep going."""
    db = os.path.join(os.path.dirname(h.binary("bulwark")), "test", "data", "geoip-test.mmdb")
    geo = os.path.exists(db)
    o, b = shielded(probe=True, top=f"geoip_db {db};\n" if geo else "")
    rep = siege(b.port, "-p", f"127.0.0.1:{o.port}", "-s", "legit:users=30,think=300",
                "-s", "http-flood:rate=3000,start=5,duration=4", seconds=10)
    flood = scenario(rep, "http-flood")["totals"]
    legit = scenario(rep, "legit")["totals"]
    assert flood["sent"] > 5000
    # most of the flood was answered by bulwark (blocked), not the origin
    assert flood["blocked"] > 0.8 * flood["sent"], flood
    assert flood["reached"] < 0.2 * flood["sent"], flood  # the origin's own count
    assert legit["failed"] == 0, legit
    attacks = h.admin_get(b.admin_port, "/api/v1/attacks").json()["attacks"]
    assert attacks, "no attack event"
    ev = attacks[0]
    assert ev["site"] == "a.test" and ev["mitigated"] > 0.8 * flood["sent"], ev
    assert "block" in ev["vector"] and re.match(r"(fp|ua|order|fp\+path|path)=", ev["vector"]), ev
    assert ev["top_prefixes"] and all(p.endswith("/24") for p in ev["top_prefixes"])
    # the test database puts siege's first attack range, 127.16/12, in RU
    assert ev["top_countries"] == (["RU"] if geo else []), ev
    assert metric(b.admin_port, "bulwark_shield_attacks_total") >= 1
    blocked = metric(b.admin_port, 'bulwark_shield_requests_total{site="a.test",outcome="block"}')
    assert blocked == flood["blocked"], (blocked, flood)
    # clean traffic = what was passed, never the mitigated flood
    clean = metric(b.admin_port, 'bulwark_clean_requests_total{site="a.test"}')
    passed = metric(b.admin_port, 'bulwark_shield_requests_total{site="a.test",outcome="pass"}')
    assert clean == passed, (clean, passed)
    # ... and agrees with what the origin itself counted
    assert abs(clean - (legit["reached"] + flood["reached"])) <= 5, (clean, legit, flood)
    stats = h.admin_get(b.admin_port, "/api/v1/stats").json()
    sh = stats["shield"]["sites"][0]
    assert sh["site"] == "a.test" and sh["mitigated"]["block"] == blocked


def test_geoip_policy_registration_only_from_one_country():
    """The seed's "registration only for +86 numbers", as an edge rule:
    /register is blocked unless the client is in CN (test database:
    127.0/16 -> CN, 127.1/16 -> US, see test/data/README.md)."""
    db = os.path.join(os.path.dirname(h.binary("bulwark")), "test", "data", "geoip-test.mmdb")
    if not os.path.exists(db):
        raise h.Skip(f"{db} not built (needs libmaxmind-db-writer-perl: make test-deps)")
    o, b = shielded("rule block path=/register* country!=CN;", top=f"geoip_db {db};\n")
    assert get_from(b.port, "127.0.3.4", "/register").status != 403    # CN
    assert get_from(b.port, "127.1.3.4", "/register").status == 403    # US
    assert get_from(b.port, "127.1.3.4", "/").status == 200            # US, another page


def test_country_rule_without_geoip_db_is_refused():
    port, admin = h.free_port(), h.free_port()
    conf = h.config(port, admin, [h.site("a.test", [1], extra="rule block country=CN;")])
    path = os.path.join(h.tmpdir(), "geo.conf")
    h.write_file(path, conf)
    p = subprocess.run([h.binary("bulwark"), "-t", "-c", path], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1 and "geoip_db" in p.stderr, p.stderr


def test_challenge_redirect_stays_on_the_site():
    """A challenged "//evil.example/x" must not bounce the visitor to
    another site (browsers read "//host" and "/\\host" as one)."""
    o, b = shielded("under_attack on;")
    for target in ("//evil.example/x", "/\\evil.example/x"):
        r = get_from(b.port, "127.0.0.1", target)
        assert r.status == 307 and r.header("Location") == "/", (target, r.header("Location"))


def test_stale_proof_of_work_goes_back_to_the_page_not_in_a_loop():
    o, b = shielded("under_attack on;\n    challenge pow;", top="pow_difficulty 8;\n")
    r = get_from(b.port, "127.0.0.1", "/chat")
    challenge, bits, ret = pow_meta(r)
    # a wrong answer: a new page whose way back is still /chat, not the endpoint
    wrong = get_from(b.port, "127.0.0.1", f"/.bulwark/pow?c={challenge}&n=x&r=/chat")
    assert wrong.status == 403
    assert pow_meta(wrong)[2] == "/chat", pow_meta(wrong)
    # an answer that points back at the endpoint itself is sent to "/"
    nonce = solve(challenge, bits)
    loop = get_from(b.port, "127.0.0.1", f"/.bulwark/pow?c={challenge}&n={nonce}&r=/.bulwark/pow")
    assert loop.status == 303 and loop.header("Location") == "/", loop


def test_blocked_client_gets_no_proof_of_work_service():
    """A client the policy blocks cannot make bulwark verify and sign through
    the proof-of-work endpoint."""
    o, b = shielded("rule block header:User-Agent~badbot;\n    under_attack on;\n    challenge pow;")
    r = get_from(b.port, "127.0.0.1", "/.bulwark/pow?c=AAAA&n=1&r=/",
                 [("User-Agent", "badbot/1")])
    assert r.status == 403 and r.header("X-Bulwark-Challenge") is None, r


def test_log_only_rule_counts_and_goes_on():
    o, b = shielded("rule log-only path=/api/*;\n    rule block path=/api/secret;")
    assert get_from(b.port, "127.0.0.1", "/api/hello").status == 200
    assert get_from(b.port, "127.0.0.1", "/api/secret").status == 403  # the next rule still applies
    assert metric(b.admin_port, 'bulwark_shield_policy_logged_total{site="a.test"}') == 2
    h.wait_until(lambda: "rule 1 matched" in b.log(), 5, what="the log-only line")


def test_post_flood_below_the_floor_is_caught_by_the_origin_s_health():
    """A POST flood on the expensive route at a rate far under the surge
    floor: the request rate says nothing, but the origin's latency does.
    The shield declares the attack ("origin degraded") and stops the flood;
    the users, who keep cookies, get through."""
    o = h.start_probe(chat_cost_us=20000)  # 20 ms of CPU a chat
    port = o.port
    b = h.proxy_with_sites([h.site("a.test", [port], extra="default;")])
    rep = siege(b.port, "-p", f"127.0.0.1:{port}", "-s", "legit:users=30,think=300",
                "-s", "post-flood:rate=120,start=4,duration=8", seconds=14)
    flood = scenario(rep, "post-flood")["totals"]
    assert flood["sent"] > 800
    attacks = h.admin_get(b.admin_port, "/api/v1/attacks").json()["attacks"]
    assert attacks and attacks[-1]["cause"] == "origin degraded", attacks
    # most of the flood never reached the origin
    assert flood["reached"] < 0.5 * flood["sent"], flood
    assert flood["blocked"] + flood["challenged"] > 0.5 * flood["sent"], flood
    legit = scenario(rep, "legit")["totals"]
    assert legit["ok"] > 0.9 * legit["sent"], legit


def test_tarpit_holds_the_connection_without_an_answer():
    o, b = shielded("rule tarpit path=/trap*;", top="client_header_timeout 2s;\n")
    with conn_from(b.port, "127.0.0.1") as c:
        c.request("GET", "/trap", headers=BROWSER)
        c.sock.settimeout(1.0)
        try:
            data = c.sock.recv(100)
            assert False, f"the tarpit answered: {data!r}"
        except socket.timeout:
            pass  # held: no byte, no close
        # ... and let go of after client_header_timeout, still without a byte
        c.sock.settimeout(5.0)
        assert c.sock.recv(100) == b""
    assert get_from(b.port, "127.0.0.1", "/").status == 200  # other requests unaffected
    assert metric(b.admin_port, 'bulwark_shield_requests_total{site="a.test",outcome="tarpit"}') == 1
