#!/bin/sh
# `make run`: start the demo origin on 127.0.0.1:9000 and bulwark with its
# built-in configuration (edge on :8080, admin on 127.0.0.1:9090) in the
# foreground.  Ctrl-C stops both.
BUILD=${BUILD:-build}
set -e
"$BUILD/bulwark-origin" --listen 127.0.0.1:9000 --name demo-origin --quiet &
ORIGIN=$!
sleep 0.3
if ! kill -0 $ORIGIN 2>/dev/null; then
    echo "make run: the demo origin could not start (is 127.0.0.1:9000 in use?)" >&2
    exit 1
fi
trap 'kill $ORIGIN 2>/dev/null; wait $ORIGIN 2>/dev/null' EXIT INT TERM
cat <<MSG

  bulwark is starting in front of a demo origin.

    site:       http://127.0.0.1:8080/          (try: curl -i http://127.0.0.1:8080/api/hello)
    metrics:    http://127.0.0.1:9090/metrics
    stats:      http://127.0.0.1:9090/api/v1/stats
    origin:     http://127.0.0.1:9000/          (the demo origin itself)

  Ctrl-C stops both.

MSG
"$BUILD/bulwark" "$@"
