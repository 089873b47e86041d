#!/usr/bin/env python3
"""bench/attack_table.py - the side-by-side table of bench/attack.sh.

    attack_table.py DIR PROXY [PROXY ...]

Reads DIR/PROXY.json (bulwark-siege --report, layout in tools/siege/report.c)
and prints, as markdown: one row per proxy with the real users' success
(ok / sent of the legit scenario) and p99, and for every attack scenario the
requests sent, how many reached the origin (count and share of sent) and the
time to mitigate.  Then the details behind the cells, and a list of
bookkeeping checks on siege's own numbers (only the ones that fail).
Standard library only.
"""
import json
import os
import sys


def fmt_int(n):
    return f"{n:,}"


def fmt_pct(x, digits=2):
    return f"{100.0 * x:.{digits}f} %"


def reached_cell(s):
    t = s["totals"]
    if t.get("reached") is None:
        return "n/a"
    if not t["sent"]:
        return fmt_int(t["reached"])
    return f"{fmt_int(t['reached'])} ({fmt_pct(t['reached'] / t['sent'], 1)})"


def ttm_cell(s):
    if s["totals"].get("reached") is None or not s["totals"]["sent"]:
        return "n/a"
    v = s.get("time_to_mitigate_s")
    return "never" if v is None else f"{v} s"


def attack_seconds(rep):
    """Seconds of the run (timeline rows) in which some attack was on."""
    on = set()
    for s in rep["scenarios"]:
        if s["attack"]:
            a = int(s["start_s"])
            on.update(range(a, a + int(s["duration_s"] + 0.999)))
    return on


def median(xs):
    xs = sorted(xs)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def legit_p99_split(rep, legit):
    """Median of the real users' per-second p99 (ms) in quiet seconds and in
    seconds under attack: the "p99 during the attack <= 2x quiet" check."""
    on = attack_seconds(rep)
    quiet, busy = [], []
    for sec, row in enumerate(legit.get("timeline") or []):
        if row[0] == 0:
            continue
        (busy if sec in on else quiet).append(row[7] / 1000)
    return median(quiet), median(busy)


def after_mitigation_cell(s):
    """Share of the attack's requests that reached the origin from its time
    to mitigate on (the "<= 0.005 % after mitigation" check)."""
    t = s["totals"]
    v = s.get("time_to_mitigate_s")
    if t.get("reached") is None or not t["sent"] or v is None:
        return "n/a"
    first = int(s["start_s"]) + int(v)
    late = sum(row[5] for sec, row in enumerate(s.get("timeline") or []) if sec >= first)
    return f"{fmt_int(late)} ({100.0 * late / t['sent']:.4f} %)"


def checks(proxy, rep):
    """Bookkeeping that should hold whatever the proxy does."""
    out = []
    for s in rep["scenarios"]:
        t, n = s["totals"], s["name"]
        outcomes = t["ok"] + t["blocked"] + t["challenged"] + t["errors"]
        if outcomes != t["sent"]:
            out.append(f"{proxy} {n}: ok+blocked+challenged+errors = {fmt_int(outcomes)} "
                       f"but sent = {fmt_int(t['sent'])} (diff {outcomes - t['sent']:+,})")
        answered = sum(t["status"].values())
        if answered > t["sent"]:
            out.append(f"{proxy} {n}: {fmt_int(answered)} responses by status class > sent {fmt_int(t['sent'])}")
        if t["dropped"] > t["blocked"]:
            out.append(f"{proxy} {n}: dropped {fmt_int(t['dropped'])} > blocked {fmt_int(t['blocked'])}")
        if t["timeouts"] > t["errors"]:
            out.append(f"{proxy} {n}: timeouts {fmt_int(t['timeouts'])} > errors {fmt_int(t['errors'])}")
        if s["attack"]:
            if t.get("reached") is not None and t["reached"] > t["sent"]:
                out.append(f"{proxy} {n}: reached origin {fmt_int(t['reached'])} > sent {fmt_int(t['sent'])}")
            if t.get("reached") is not None and t["reached"] < t["ok"]:
                out.append(f"{proxy} {n}: reached origin {fmt_int(t['reached'])} < answered by the origin "
                           f"(ok) {fmt_int(t['ok'])}")
        else:
            if t["ok"] + t["failed"] != t["sent"]:
                out.append(f"{proxy} {n}: ok+failed = {fmt_int(t['ok'] + t['failed'])} but sent = {fmt_int(t['sent'])}")
        tl = s.get("timeline") or []
        for col, key in ((0, "sent"), (1, "ok"), (2, "blocked"), (3, "challenged"), (4, "errors")):
            tsum = sum(row[col] for row in tl)
            if tl and tsum != t[key]:
                out.append(f"{proxy} {n}: timeline {key} sums to {fmt_int(tsum)}, totals say {fmt_int(t[key])}")
        if tl and t.get("reached") is not None and sum(row[5] for row in tl) != t["reached"]:
            out.append(f"{proxy} {n}: timeline reached sums to {fmt_int(sum(row[5] for row in tl))}, "
                       f"totals say {fmt_int(t['reached'])}")
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    d, proxies = sys.argv[1], sys.argv[2:]
    reps = {}
    for p in proxies:
        with open(os.path.join(d, p + ".json")) as f:
            reps[p] = json.load(f)

    # Attack scenarios in the order of the first report (seed-replay: p1-proxy-flood,
    # p3-http-flood, p3-brute-force, p3-cred-stuffing).
    attacks = [s["name"] for s in reps[proxies[0]]["scenarios"] if s["attack"]]
    head = ["proxy", "legit success", "legit p99 ms", "legit p99 quiet / attack ms"]
    align = ["---", "---:", "---:", "---:"]
    for a in attacks:
        head += [f"{a} sent", f"{a} reached origin", f"{a} mitigated after",
                 f"{a} reached after mitigation"]
        align += ["---:", "---:", "---:", "---:"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(align) + "|")
    notes, problems = [], []
    for p in proxies:
        rep = reps[p]
        by = {s["name"]: s for s in rep["scenarios"]}
        legit = [s for s in rep["scenarios"] if not s["attack"]]
        row = [p]
        if legit:
            lt = legit[0]["totals"]
            row.append(fmt_pct(lt["ok"] / lt["sent"]) if lt["sent"] else "n/a")
            row.append(f"{legit[0]['latency']['p99_us'] / 1000:.2f}" if lt["sent"] else "n/a")
            q, b = legit_p99_split(rep, legit[0])
            row.append(f"{q:.2f} / {b:.2f}" if q is not None and b is not None else "n/a")
            st = lt["status"]
            notes.append(f"- {p}, legit: {fmt_int(lt['sent'])} requests, {fmt_int(lt['ok'])} ok, "
                         f"{fmt_int(lt['failed'])} failed (blocked {fmt_int(lt['blocked'])}, "
                         f"errors {fmt_int(lt['errors'])} of which timeouts {fmt_int(lt['timeouts'])}); "
                         f"p50 {legit[0]['latency']['p50_us'] / 1000:.2f} ms; responses "
                         + ", ".join(f"{k} {fmt_int(v)}" for k, v in st.items() if v))
        else:
            row += ["n/a", "n/a", "n/a"]
        for a in attacks:
            s = by.get(a)
            if s is None:
                row += ["-", "-", "-", "-"]
                continue
            t = s["totals"]
            row += [fmt_int(t["sent"]), reached_cell(s), ttm_cell(s), after_mitigation_cell(s)]
            notes.append(f"- {p}, {a}: answered by the origin {fmt_int(t['ok'])}, blocked {fmt_int(t['blocked'])}"
                         f" (dropped {fmt_int(t['dropped'])}), challenged {fmt_int(t['challenged'])}, "
                         f"errors {fmt_int(t['errors'])} (timeouts {fmt_int(t['timeouts'])}), "
                         f"missed by siege {fmt_int(t['missed'])}; responses "
                         + (", ".join(f"{k} {fmt_int(v)}" for k, v in t["status"].items() if v) or "none"))
        print("| " + " | ".join(row) + " |")
        problems += checks(p, rep)

    print()
    print("legit success: ok / sent of the real users' requests (redirects followed); "
          "reached origin: the probe's count for the attack's addresses, and its share of sent; "
          "mitigated after: seconds into the attack from which on at most 0.1 % of it reached "
          "the origin (\"never\": not within its window); reached after mitigation: what reached "
          "the origin from that second on, and its share of all the attack sent. "
          "legit p99 quiet / attack: median of the users' per-second p99 in seconds without and with "
          "an attack on. "
          "missed: requests siege was due to send but could not (it fell behind its rate).")
    print()
    print("Details:")
    print()
    print("\n".join(notes))
    if problems:
        print()
        print("Checks on siege's bookkeeping that failed:")
        print()
        print("\n".join("- " + x for x in problems))


def logins_line(path, proxy):
    """--logins PROBE_STATS_JSON PROXY: one line on the logins the probe
    answered, real users' (octet 1, 127.1/16) apart from the attackers'."""
    with open(path) as f:
        s = json.load(f)
    ok, failed = s.get("logins_ok_by_octet", {}), s.get("logins_failed_by_octet", {})
    aok = sum(v for k, v in ok.items() if k != "1")
    afail = sum(v for k, v in failed.items() if k != "1")
    print(f"- {proxy}: real users' logins ok {fmt_int(ok.get('1', 0))}, failed "
          f"{fmt_int(failed.get('1', 0))}; attackers' guesses that reached the origin: "
          f"{fmt_int(afail)} failed, {fmt_int(aok)} succeeded")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--logins":
        logins_line(sys.argv[2], sys.argv[3])
    else:
        main()
