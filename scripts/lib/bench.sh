# scripts/lib/bench.sh: what the benchmark scripts share.

# bench_ratio X F: X/F with one decimal; ">X/F" when X was capped (">CAP(count)"), "n/a" when F
# was capped or a case did not run ("nan").
bench_ratio() {
  python3 - "$1" "$2" <<'PY'
import sys
x, f = sys.argv[1], sys.argv[2]
num = lambda v: float(v.lstrip(">").split("(")[0])
if f.startswith(">") or "nan" in (x, f):
    print("n/a")
else:
    print("%s%.1f" % (">" if x.startswith(">") else "", num(x) / num(f)))
PY
}
