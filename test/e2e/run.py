#!/usr/bin/env python3
"""run.py - bulwark's end-to-end test runner (stdlib only, no pytest).

    python3 test/e2e/run.py --build build [--counts FILE] [-k NAME] [--timeout S] [--list]

Finds every test_* function in test/e2e/test_*.py (files in name order,
functions in source order) and runs each in its own forked child process,
in its own process group, so that a test that hangs or crashes takes its
servers with it:
  * the child arms SIGALRM at --timeout seconds; the handler raises, so the
    test fails with a traceback and its finally blocks and the harness
    cleanup still run (servers stopped, log tails reported);
  * the parent waits a little longer and then SIGKILLs the whole group.
Prints "PASS name", "FAIL name: reason" (followed by the servers' log tails)
or "SKIP name: reason", then "e2e: N passed, N failed"; writes "N M" to the
--counts file; exits 1 if anything failed.
"""
import argparse
import importlib
import inspect
import json
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


class TestTimeout(Exception):
    pass


def discover(pattern):
    tests = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        try:
            mod = importlib.import_module(fname[:-3])
        except Exception as e:  # a broken file is a failure, not a crash
            err = f"cannot import {fname}: {type(e).__name__}: {e}"

            def broken(err=err):
                raise AssertionError(err)
            tests.append((fname[:-3] + ".<import>", broken))
            continue
        fns = [f for n, f in vars(mod).items()
               if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
        fns.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in fns:
            name = f"{mod.__name__}.{f.__name__}"
            if not pattern or pattern in name:
                tests.append((name, f))
    return tests


def where(tb):
    """file:line of the innermost frame in a test file (or the harness)."""
    frames = traceback.extract_tb(tb)
    for fr in reversed(frames):
        base = os.path.basename(fr.filename)
        if base.startswith("test_"):
            return f"{base}:{fr.lineno}"
    if frames:
        return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"
    return "?"


def run_child(fn, timeout, wfd):
    """In the forked child: run one test, report one JSON object on wfd."""
    os.setpgid(0, 0)

    def on_alarm(signum, frame):
        raise TestTimeout(f"timed out after {timeout}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    result = {"status": "PASS", "reason": "", "logs": []}
    try:
        fn()
    except harness.Skip as e:
        result.update(status="SKIP", reason=str(e))
    except BaseException as e:  # noqa: B902 - everything is a test failure here
        msg = str(e).strip() or type(e).__name__
        if not isinstance(e, AssertionError):
            msg = f"{type(e).__name__}: {msg}"
        result.update(status="FAIL", reason=f"{where(e.__traceback__)}: {msg}",
                      trace=traceback.format_exc())
    finally:
        signal.alarm(0)
        try:
            tails = harness.cleanup()
        except BaseException as e:  # noqa: B902
            tails = [f"(cleanup failed: {e})"]
        if result["status"] == "FAIL":
            result["logs"] = tails
        harness.remove_tmpdirs()
    os.write(wfd, json.dumps(result).encode())
    os.close(wfd)
    os._exit(0)


def read_all(fd):
    chunks = []
    while True:
        d = os.read(fd, 65536)
        if not d:
            return b"".join(chunks)
        chunks.append(d)


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_one(fn, timeout):
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            run_child(fn, timeout, wfd)
        finally:
            os._exit(1)
    os.close(wfd)
    try:
        os.setpgid(pid, pid)  # also done by the child; whichever runs first
    except OSError:
        pass
    deadline = time.monotonic() + timeout + 15
    status = None
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            kill_group(pid)
            os.waitpid(pid, 0)
            os.close(rfd)
            return {"status": "FAIL", "reason": f"hung past {timeout + 15}s; killed", "logs": []}
        raw = read_all(rfd)
    finally:
        kill_group(pid)  # anything the test left running
    os.close(rfd)
    try:
        return json.loads(raw)
    except ValueError:
        return {"status": "FAIL", "reason": f"test process died (wait status {status})",
                "logs": []}


def main():
    ap = argparse.ArgumentParser(description="bulwark end-to-end tests")
    ap.add_argument("--build", default="build", help="folder with bulwark and bulwark-origin")
    ap.add_argument("--counts", help='write "PASSED FAILED" to this file')
    ap.add_argument("-k", dest="pattern", default="", help="only tests whose name contains this")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per test (default 60)")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="full traceback on failure")
    args = ap.parse_args()

    harness.BUILD = os.path.abspath(args.build)
    os.environ["BULWARK_BUILD"] = harness.BUILD
    tests = discover(args.pattern)
    if args.list:
        for name, _ in tests:
            print(name)
        return 0

    passed = failed = skipped = 0
    t_start = time.monotonic()
    for name, fn in tests:
        t0 = time.monotonic()
        res = run_one(fn, args.timeout)
        dt = time.monotonic() - t0
        if res["status"] == "PASS":
            passed += 1
            print(f"PASS {name} ({dt:.1f}s)")
        elif res["status"] == "SKIP":
            skipped += 1
            print(f"SKIP {name}: {res['reason']}")
        else:
            failed += 1
            print(f"FAIL {name}: {res['reason']}")
            if args.verbose and res.get("trace"):
                print(res["trace"].rstrip())
            for tail in res.get("logs", []):
                print("    " + tail.replace("\n", "\n    "))
        sys.stdout.flush()

    extra = f" ({skipped} skipped)" if skipped else ""
    print(f"e2e: {passed} passed, {failed} failed{extra} in {time.monotonic() - t_start:.0f}s")
    if args.counts:
        with open(args.counts, "w") as f:
            f.write(f"{passed} {failed}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
