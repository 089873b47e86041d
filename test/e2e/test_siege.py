"""test_siege.py - bulwark-siege and bulwark-probe, end to end: siege ->
bulwark (quick mode) -> probe, where the origin's own count of what reached
it must agree with siege's count of what was answered; the same straight at
the probe with rotating addresses; and siege's command-line errors.

Runs are a few seconds long and at low rates: correctness, not speed (the
speed figure is bench/siege.sh's).
"""
import json
import os
import subprocess

import harness as h


def siege(target_port, probe_port, *args, seconds=3, timeout=60):
    """Run siege to the end; returns (report dict, stdout text)."""
    d = h.tmpdir()
    report = os.path.join(d, "report.json")
    svg = os.path.join(d, "run.svg")
    argv = [h.binary("bulwark-siege"), "-t", f"127.0.0.1:{target_port}",
            "-p", f"127.0.0.1:{probe_port}", "-d", str(seconds), "-q",
            "--report", report, "--svg", svg] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"siege exited {p.returncode}: {p.stderr[-2000:]}"
    with open(report) as f:
        rep = json.load(f)
    with open(svg) as f:
        assert "</svg>" in f.read()
    return rep, p.stdout


def scenario(rep, name):
    for s in rep["scenarios"]:
        if s["name"] == name:
            return s
    raise AssertionError(f"no scenario {name} in {[s['name'] for s in rep['scenarios']]}")


def assert_counts_agree(s, redirects=0):
    """Every request was answered by the origin, and the origin counted each
    (plus the redirects a legit user followed within one logical request)."""
    t = s["totals"]
    assert t["sent"] > 0, s
    assert t["errors"] == 0 and t["blocked"] == 0, t
    assert t["ok"] == t["sent"], t
    assert t["reached"] == t["ok"] + redirects, \
        f"{s['name']}: origin saw {t['reached']}, siege got {t['ok']} (+{redirects} redirects)"
    per_second = sum(row[5] for row in s["timeline"])  # reached column
    assert per_second == t["reached"], (per_second, t["reached"])


def test_siege_counts_agree_through_bulwark():
    probe = h.start_probe()
    port, admin = h.free_port(), h.free_port()
    h.start_bulwark(args=["--listen", f"127.0.0.1:{port}", "--origin",
                          f"127.0.0.1:{probe.port}", "--workers", "1",
                          "--admin", f"127.0.0.1:{admin}"], port=port)
    rep, out = siege(port, probe.port, "-s", "legit:users=8,think=100",
                     "-s", "http-flood:rate=200", "-s", "cred-stuffing:rate=40",
                     "-s", "post-flood:rate=40")
    assert rep["timeline_columns"][5] == "reached"
    legit = scenario(rep, "legit")
    assert legit["totals"]["failed"] == 0, legit["totals"]
    stats = json.loads(h.get(probe.port, "/__probe/stats").body)
    assert_counts_agree(legit, redirects=stats["logins_ok"])  # login -> 303 -> /account
    for name in ("http-flood", "cred-stuffing", "post-flood"):
        assert_counts_agree(scenario(rep, name))
    flood = scenario(rep, "http-flood")
    # open-loop pacing: exactly rate x duration sends (or owned up to as missed)
    assert flood["totals"]["sent"] + flood["totals"]["missed"] == 600, flood["totals"]
    assert flood["time_to_mitigate_s"] is None  # nothing stops it: no shield yet
    assert "http-flood" in out and "not mitigated" in out


def test_siege_straight_at_probe_rotates_addresses():
    probe = h.start_probe()
    rep, _ = siege(probe.port, probe.port, "-s", "http-flood:rate=300,per-ip=3", seconds=2)
    flood = scenario(rep, "http-flood")
    assert_counts_agree(flood)
    # no X-Forwarded-For here: the probe files by peer address, so the
    # scenario's own block of second octets (16..31 for the first attack)
    # must hold every arrival
    stats = json.loads(h.get(probe.port, "/__probe/stats").body)
    by_octet = {int(k): v for k, v in stats["by_octet"].items()}
    assert sum(v for k, v in by_octet.items() if 16 <= k <= 31) == flood["totals"]["sent"]
    assert len([k for k in by_octet if 16 <= k <= 31]) >= 8  # spread, not one /16


def test_siege_legit_login_follows_redirect_with_cookies():
    probe = h.start_probe()
    rep, _ = siege(probe.port, probe.port, "-s", "legit:users=20,think=50", seconds=3)
    legit = scenario(rep, "legit")
    t = legit["totals"]
    assert t["failed"] == 0 and t["ok"] == t["sent"] > 100, t
    assert legit["latency"]["p99_us"] > 0
    stats = json.loads(h.get(probe.port, "/__probe/stats").body)
    assert stats["logins_failed"] == 0 and stats["logins_ok"] > 0, stats
    # a login is POST /login -> 303 -> GET /account: one logical request,
    # two at the origin
    assert_counts_agree(legit, redirects=stats["logins_ok"])


def test_siege_usage_errors():
    def run(*args):
        return subprocess.run([h.binary("bulwark-siege")] + list(args), capture_output=True,
                              text=True, timeout=10)
    p = run("-t", "127.0.0.1:1", "-s", "ddos")
    assert p.returncode == 2 and "unknown scenario 'ddos'" in p.stderr, p.stderr
    p = run("-t", "10.0.0.1:80", "-s", "http-flood")
    assert p.returncode == 2 and "127.0.0.0/8" in p.stderr, p.stderr
    p = run("-t", "127.0.0.1:1", "-s", "http-flood:rate=x")
    assert p.returncode == 2 and "rate=x" in p.stderr, p.stderr
    p = run("-s", "legit")
    assert p.returncode == 2 and "--target" in p.stderr, p.stderr
    p = run("--help")
    assert p.returncode == 0 and "seed-replay" in p.stdout
