#!/usr/bin/env bash
# Load benchmark of the storefront: requests/s and p50/p99 latency with wrk, at 1 and 64
# connections, for home, category, product and search pages on the demo catalogue, on SQLite
# and on PostgreSQL. Run from the repo root:  bash host/benches/load.sh
# env: CACHE_TTL=10 (0 = no caching: every request queries and renders)
#      COOKIE=1 (send a cookie: bypasses the rendered-page cache, as a visitor with a basket)
#      PRODUCTS=1000 DURATION=10 BACKENDS="sqlite postgres" CONNS="1 64" ADDR=127.0.0.1:8002
#      PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres
#      ANALYTICS=false (the analytics recorder off)  PAGES="home category product search"
#      PROFILE=debug (the debug binary: no 10-minute release build, for relative figures only)
#      BIN=path (a binary already built: nothing is built)
set -euo pipefail
cd "$(dirname "$0")/../.."
PRODUCTS=${PRODUCTS:-1000} DURATION=${DURATION:-10} ADDR=${ADDR:-127.0.0.1:8002}
BACKENDS=${BACKENDS:-"sqlite postgres"} CONNS=${CONNS:-"1 64"}
PAGES=${PAGES:-"home category product search"}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BIN:-}" ]; then
  BIN=$(realpath "$BIN")
elif [ "${PROFILE:-release}" = debug ]; then
  cargo build -q -p emporium --bin emporium
  BIN=$PWD/target/debug/emporium
else
  cargo build --release -q -p emporium
  BIN=$PWD/target/release/emporium
fi
WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== Emporium load benchmark, $(date -u +%FT%TZ), $(nproc) cores, $PRODUCTS products, wrk ${DURATION}s per row, cache TTL ${CACHE_TTL:-10}s${COOKIE:+, with a cookie}, analytics ${ANALYTICS:-true}, loadavg $(cut -d' ' -f1 /proc/loadavg)"
printf '%-9s %-8s %-44s %5s %10s %9s %9s\n' backend page path conns req/s p50_ms p99_ms
for backend in $BACKENDS; do
  data="$WORK/$backend"
  mkdir -p "$data"
  case $backend in
    sqlite) url="sqlite://$data/shop.db?mode=rwc" ;;
    postgres)
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS emporium_bench" -c "CREATE DATABASE emporium_bench" >/dev/null
      url="${PG_ADMIN%/*}/emporium_bench" ;;
  esac
  EMPORIUM_DATABASE_URL=$url "$BIN" --data-dir "$data" demo --products "$PRODUCTS" >/dev/null
  EMPORIUM_ANALYTICS=${ANALYTICS:-true} EMPORIUM_CACHE_TTL_SECS=${CACHE_TTL:-10} EMPORIUM_LOG=warn EMPORIUM_DATABASE_URL=$url "$BIN" --data-dir "$data" serve --addr "$ADDR" &
  SERVER=$!
  for _ in $(seq 50); do curl -sf -o /dev/null "http://$ADDR/" && break; sleep 0.2; done
  base="http://$ADDR"
  # Pick pages the way a shopper reaches them: a category from the menu, a product from it.
  category=/catalogue/category/books/fiction/
  product=$(curl -s "$base/catalogue/category/coffee/" | grep -o 'href="&#x2f;catalogue&#x2f;[a-z0-9-]*_[0-9]*&#x2f;"' \
    | head -1 | cut -d'"' -f2 | sed 's/&#x2f;/\//g')
  for page in "home /" "category $category" "product $product" "search /search?q=classic"; do
    set -- $page
    [[ " $PAGES " == *" $1 "* ]] || continue
    for c in $CONNS; do
      cookie=(); [ -n "${COOKIE:-}" ] && cookie=(-H "Cookie: visitor=1")
      out=$(wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"${DURATION}s" --latency "${cookie[@]}" "$base$2")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      p50=$(awk '$1=="50%" {print $2}' <<<"$out")
      p99=$(awk '$1=="99%" {print $2}' <<<"$out")
      errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
      ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0; else printf "%.0f", v*1000 }'; }
      printf '%-9s %-8s %-44s %5s %10s %9s %9s %s\n' "$backend" "$1" "$2" "$c" "$rps" "$(ms "$p50")" "$(ms "$p99")" "$errors"
    done
  done
  echo "$backend server RSS: $(ps -o rss= -p "$SERVER" | awk '{printf "%.0f MiB", $1/1024}')"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
done
