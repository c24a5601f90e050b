#!/usr/bin/env bash
# Runs every test of keypost: vet, the Go tests under the race detector,
# a short run of every fuzz target, every benchmark once (so they keep
# compiling), and the browser client's tests in headless Chromium.
# It installs what the tests need and is missing (Debian's chromium, the
# npm packages of web/), so it works on a fresh machine; CI runs it as is.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-4s}

step() { printf '\n== %s\n' "$*"; }

if [ -f web/package.json ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    step "installing Debian's chromium (browser tests)"
    if [ "$(id -u)" -ne 0 ]; then
      echo "chromium is missing: run 'apt-get install -y chromium' as root" >&2
      exit 1
    fi
    apt-get update -qq
    # The emoji font only makes screenshots show emoji instead of boxes.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
  fi
  step "npm ci (web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

step "gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...

step "go test -race"
go test -race -count=1 ./...

# fuzz_one runs one target. Go's fuzzer sometimes ends a short run with
# "context deadline exceeded" and no failing input (the time ran out while
# a worker was busy): that is no finding, so it is tried again, and only
# noted if it repeats. Any real failure writes a failing input and fails.
fuzz_one() {
  local out
  for attempt in 1 2 3; do
    if out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" 2>&1); then
      return 0
    fi
    if ! grep -q 'context deadline exceeded' <<<"$out" || grep -q 'Failing input written' <<<"$out"; then
      printf '%s\n' "$out" >&2
      exit 1
    fi
  done
  echo "  (the fuzzer's run timed out three times without a finding)"
}

step "fuzz targets, $FUZZTIME each"
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  dir=$(dirname "$f")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "$dir $target"
    fuzz_one "$dir" "$target"
  done
done

step "benchmarks, once"
go test -run '^$' -bench . -benchtime 1x ./... >/dev/null

if [ -f web/package.json ]; then
  step "browser client (web/): type check, unit tests, Chromium"
  (cd web && npm test)
fi
step "all tests passed"
