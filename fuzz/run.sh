#!/usr/bin/env bash
# Runs one fuzz target under AFL++ (cargo-afl, stable Rust) for a bounded
# time, then prints its figures: executions, executions/s, corpus, crashes.
#
#   fuzz/run.sh TARGET [SECONDS]      TARGET: verify | parse (default 60 s)
#
# Installs cargo-afl from crates.io when missing (it builds AFL++ from the
# source bundled in the crate). The queue in fuzz/out/TARGET is resumed
# across runs; fuzz/out and fuzz/target are not committed. Exits 1 when the
# run holds a crash (saved in fuzz/out/TARGET/default/crashes/).
set -euo pipefail

target="${1:?usage: fuzz/run.sh TARGET [SECONDS] (TARGET: verify | parse)}"
seconds="${2:-60}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

case "$target" in
    verify | parse) ;;
    *) echo "unknown target $target (verify | parse)" >&2; exit 2 ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "SECONDS must be a whole number" >&2; exit 2; }

if ! cargo afl --version >/dev/null 2>&1; then
    echo "installing cargo-afl (builds AFL++; a few minutes)" >&2
    cargo install --locked cargo-afl
fi
# AFL++ is built once per rustc; this fails harmlessly when it already is.
if ! cargo afl config --build >/tmp/cargo-afl-config.$$.log 2>&1; then
    grep -q "already built" /tmp/cargo-afl-config.$$.log || cat /tmp/cargo-afl-config.$$.log >&2
fi
rm -f /tmp/cargo-afl-config.$$.log

export CARGO_TARGET_DIR="$here/target"
cargo afl build --release --quiet --bin "$target"

out="$here/out/$target"
mkdir -p "$out"
# No screen; resume the previous queue; this box's CPU governor and core
# pattern are not ours to change.
export AFL_NO_UI=1 AFL_AUTORESUME=1 AFL_SKIP_CPUFREQ=1 \
    AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY="${AFL_NO_AFFINITY:-1}"
log="$out/afl.log"
echo "fuzzing $target for ${seconds}s (log: $log)" >&2
status=0
cargo afl fuzz -V "$seconds" -i "seeds/$target" -o "$out" -x "dict/$target.dict" \
    -- "$CARGO_TARGET_DIR/release/$target" >"$log" 2>&1 || status=$?

stats="$out/default/fuzzer_stats"
if [[ ! -f "$stats" ]]; then
    tail -n 30 "$log" >&2
    echo "afl-fuzz did not run (exit $status)" >&2
    exit 1
fi
field() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "target:          $target"
echo "run time:        $(field run_time) s"
echo "executions:      $(field execs_done)"
echo "executions/s:    $(field execs_per_sec)"
echo "corpus:          $(field corpus_count) inputs, edges $(field edges_found) ($(field bitmap_cvg))"
echo "crashes:         $(field saved_crashes)"
echo "hangs:           $(field saved_hangs)"
crashes=("$out"/default/crashes/id:*)
if [[ -e "${crashes[0]}" ]]; then
    echo "crash inputs (replay: $CARGO_TARGET_DIR/release/$target < FILE):"
    printf '  %s\n' "${crashes[@]}"
    exit 1
fi
