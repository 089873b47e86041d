"""test_login.py - login protection end to end (docs/LOGIN.md), in front
of bulwark-probe's /login (accounts "admin" and "userN", password "pw-"
+ name; 401 on failure, 303 on success): a brute force on one account
from rotating addresses is challenged, then blocked; the account's owner,
from elsewhere, passes the challenge and logs in during the attack; no
password reaches a log.
"""
import os
import socket
import subprocess
import urllib.parse

import harness as h

BOT = [("User-Agent", "python-requests/2.31"), ("Accept", "*/*"),
       ("Content-Type", "application/x-www-form-urlencoded")]
OWNER = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) owner"), ("Accept", "text/html"),
         ("Accept-Language", "en"), ("Content-Type", "application/x-www-form-urlencoded")]


def login_from(port, src, user, password, headers, cookie=None):
    body = urllib.parse.urlencode({"username": user, "password": password}).encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    hdrs = list(headers) + ([("Cookie", cookie)] if cookie else [])
    with h.HTTPConn(port, sock=s) as c:
        c.request("POST", "/login", headers=hdrs, body=body)
        return c.read_response("POST")


def test_brute_force_is_challenged_then_blocked_and_the_owner_gets_in():
    probe = h.start_probe()
    b = h.proxy_with_sites([h.site("a.test", [probe.port], extra="login /login;")],
                           top_extra="access_log stdout;\n")
    statuses = []
    for i in range(45):  # a new address each time, as the seed's botnet did
        r = login_from(b.port, f"127.9.{i // 200}.{i % 200 + 1}", "admin", f"guess-{i:04d}", BOT)
        statuses.append(r.status)
        if i == 25:
            # the owner, from home, during the attack: challenged (the account
            # is under attack), passes the cookie challenge, logs in
            r = login_from(b.port, "127.1.0.7", "admin", "pw-admin", OWNER)
            assert r.status == 307 and r.header("X-Bulwark-Challenge") == "cookie", r
            cookie = h.clearance_cookie(r)
            r = login_from(b.port, "127.1.0.7", "admin", "pw-admin", OWNER, cookie=cookie)
            assert r.status == 303 and r.header("Location") == "/account", r
    # the first ten guesses reach the origin and fail; then the account is
    # under brute force: challenges the bot does not follow; then blocks
    assert statuses[:10] == [401] * 10, statuses
    assert statuses[10] == 307, statuses
    assert 403 in statuses, statuses
    first_block = statuses.index(403)
    assert all(s == 307 for s in statuses[10:first_block]), statuses
    assert all(s == 403 for s in statuses[first_block:]), statuses

    m = h.metric
    assert m(b.admin_port, 'bulwark_login_attempts_total{site="a.test",outcome="failed"}') == 10
    assert m(b.admin_port, 'bulwark_login_attempts_total{site="a.test",outcome="ok"}') == 1
    assert m(b.admin_port, 'bulwark_login_guessing_total{site="a.test",vector="brute-force"}') >= 35
    assert m(b.admin_port, 'bulwark_shield_mitigated_total{site="a.test",reason="login"}') >= 35
    # an attack event of its own, with the vector's name
    def brute_force_event():
        evs = h.admin_get(b.admin_port, "/api/v1/attacks").json()
        evs = evs.get("attacks", evs) if isinstance(evs, dict) else evs
        return [e for e in evs if e["cause"] == "brute-force"]
    ev = h.wait_until(brute_force_event, 5, what="a brute-force event")[0]
    assert ev["vector"].startswith("brute-force") and ev["site"] == "a.test", ev
    assert ev["requests"] >= 35 and ev["mitigated"] >= 35, ev
    assert "brute-force" in b.log()
    # the origin saw exactly the ten guesses and the owner's login
    stats = h.get(probe.port, "/__probe/stats").json()
    assert stats["logins_failed"] == 10 and stats["logins_ok"] == 1, stats
    # no password in any log line (the access log is flushed on a timer)
    h.wait_until(lambda: b.log().count('"path":"/login"') >= 47, 5, what="the access log lines")
    log = b.log()
    assert "guess-" not in log and "pw-admin" not in log


def test_login_config_errors():
    probe = h.start_probe()
    for bad, what in (("login login;", "a path starting with /"),
                      ("login /login user=cookie:x;", "user= expects form:FIELD"),
                      ("login /login fail=abc;", "fail= expects"),
                      ("login /login method=post;", "upper-case")):
        conf = h.config(h.free_port(), h.free_port(), [h.site("a.test", [probe.port], extra=bad)])
        path = os.path.join(h.tmpdir(), "bad.conf")
        h.write_file(path, conf)
        p = subprocess.run([h.binary("bulwark"), "-t", "-c", path], capture_output=True, text=True,
                           timeout=10)
        line = conf.splitlines().index("    " + bad) + 1
        assert p.returncode == 1 and f"bad.conf:{line}:" in p.stderr and what in p.stderr, (bad, p.stderr)


def test_password_spraying_challenges_that_password():
    """One password over many accounts, from clients that all look
    different (another address and browser each time): neither the
    accounts nor the clients stand out, the password does."""
    probe = h.start_probe()
    b = h.proxy_with_sites([h.site("a.test", [probe.port], extra="login /login;")])
    statuses = []
    for i in range(30):
        who = [("User-Agent", f"Mozilla/5.0 (sprayer {i})"), ("Accept", "text/html"),
               ("Accept-Language", f"x-{i}"), ("Content-Type", "application/x-www-form-urlencoded")]
        r = login_from(b.port, f"127.9.{i + 1}.1", f"user{i + 100}", "Winter2025!", who)
        statuses.append(r.status)
    # challenged once the password has failed on about 20 accounts (distinct
    # accounts are estimated with a 64-bit register: a few either way)
    first = statuses.index(307)
    assert 16 <= first <= 27 and statuses[:first] == [401] * first, statuses
    assert all(s == 307 for s in statuses[first:]), statuses
    # another password, from another client, on another account: not concerned
    other = [("User-Agent", "Mozilla/5.0 (someone else)"), ("Accept", "text/html"),
             ("Content-Type", "application/x-www-form-urlencoded")]
    assert login_from(b.port, "127.9.200.1", "user7", "wrong-but-mine", other).status == 401
    assert login_from(b.port, "127.9.201.1", "user8", "pw-user8", other).status == 303
    assert h.metric(b.admin_port, 'bulwark_login_guessing_total{site="a.test",vector="password-spraying"}') == 30 - first

    def spraying_event():
        evs = h.admin_get(b.admin_port, "/api/v1/attacks").json()
        evs = evs.get("attacks", evs) if isinstance(evs, dict) else evs
        return [e for e in evs if e["cause"] == "password-spraying"]
    h.wait_until(spraying_event, 5, what="a password-spraying event")
