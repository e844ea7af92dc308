# Sourced helper for long runs: run <target> <seconds> [extra libFuzzer flags...]
run() {
    t=$1; s=$2; shift 2
    mkdir -p work/$t logs
    cargo +nightly fuzz run -O "$t" "work/$t" "corpus/$t" -- -max_total_time="$s" -print_final_stats=1 -rss_limit_mb=2048 "$@" > "logs/$t.log" 2>&1
    echo "exit $?" >> "logs/$t.log"
}

# Adds to the committed corpus a greedy set cover of the coverage edges that work/<target> reaches (hit
# counts, comparisons and value profiles ignored), capped per target.
minimize() {
    t=$1
    rm -rf "work/min-$t" && mkdir -p "work/min-$t"
    "target/x86_64-unknown-linux-gnu/release/$t" -set_cover_merge=1 -use_counters=0 -use_value_profile=0 -use_cmp=0 \
        "work/min-$t" "corpus/$t" "work/$t" > "logs/merge-$t.log" 2>&1
    tail -n 1 "logs/merge-$t.log"
    # At most 60 KB per target, smallest inputs first, so the committed corpora stay small.
    ls -Sr "work/min-$t" | while read -r f; do
        size=$(cat "corpus/$t"/* | wc -c)
        [ "$size" -lt 61440 ] && cp -n "work/min-$t/$f" "corpus/$t/"
    done
    echo "corpus/$t: $(ls "corpus/$t" | wc -l) files, $(cat "corpus/$t"/* | wc -c) bytes"
}
