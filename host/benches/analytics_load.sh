#!/usr/bin/env bash
# What recording analytics costs the hottest page: product-page requests/s with the recorder
# on and off (EMPORIUM_ANALYTICS), for a cookie-less visitor (the rendered-page cache answers;
# the view is queued from the cache hit) and for a visitor with a cookie (the handler renders
# the page and queues the view). Runs host/benches/load.sh four times and prints on/off.
# Run from the repo root:  bash host/benches/analytics_load.sh
# env: BACKENDS=sqlite CONNS=64 DURATION=10 ROUNDS=2 (alternating on/off rounds, best kept)
set -euo pipefail
cd "$(dirname "$0")/../.."
export BACKENDS=${BACKENDS:-sqlite} CONNS=${CONNS:-64} DURATION=${DURATION:-10} PAGES=product
ROUNDS=${ROUNDS:-2}
printf '%-9s %-8s %5s %12s %12s %7s\n' backend visitor conns on_req/s off_req/s on/off
for cookie in "" 1; do
  declare -A best=()
  for _ in $(seq "$ROUNDS"); do
    for analytics in true false; do
      while read -r backend _ _ conns rps _; do
        key="$backend $conns $analytics"
        if awk -v a="$rps" -v b="${best[$key]:-0}" 'BEGIN { exit !(a > b) }'; then best[$key]=$rps; fi
      done < <(ANALYTICS=$analytics COOKIE=$cookie bash host/benches/load.sh | awk '$2 == "product"')
    done
  done
  for backend in $BACKENDS; do
    for c in $CONNS; do
      on=${best["$backend $c true"]:-0} off=${best["$backend $c false"]:-0}
      printf '%-9s %-8s %5s %12s %12s %7s\n' "$backend" "$([ -n "$cookie" ] && echo cookie || echo anon)" "$c" "$on" "$off" \
        "$(awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')"
    done
  done
  unset best
done
