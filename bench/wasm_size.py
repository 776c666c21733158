"""What the browser module is made of: groups `twiggy top` rows by the part of the stack they
belong to (BENCHMARKS.md, "What the module is made of").

    cargo build --release --target wasm32-unknown-unknown -p cifar-web
    twiggy top -n 100000 -f csv $CARGO_TARGET_DIR/wasm32-unknown-unknown/release/cifar_web.wasm \\
        > /tmp/top.csv
    python3 bench/wasm_size.py /tmp/top.csv

Items are matched by the crate names in their (demangled) names, first match wins, so generic
items land with the first crate their name mentions: the split is approximate.
"""
import collections
import csv
import re
import sys

PARTS = [
    ("function names (stripped by wasm-opt)", r'^"function names"'),
    ("data and other sections", r"^(data segment|elem|custom section)"),
    ("the GPU kernel generator: cubecl, cubek, pliron, combine, rustc_apfloat",
     r"\b(cubecl\w*|cubek\w*|pliron\w*|combine|rustc_apfloat)\b"),
    ("wgpu and the JS bindings", r"\b(wgpu\w*|naga|web_sys|js_sys|wasm_bindgen\w*)\b"),
    ("the CPU kernels: burn-flex, gemm, macerator", r"\bburn_flex\b|\bgemm\w*|\bmacerator\b|\bpulp\b"),
    ("other Burn crates", r"\bburn\w*"),
]
REST = "std, alloc, core, serde and the rest"


def main():
    sizes = collections.Counter()
    for row in csv.DictReader(open(sys.argv[1])):
        part = next((name for name, pattern in PARTS if re.search(pattern, row["Name"])), REST)
        sizes[part] += int(row["ShallowSize"])
    total = sum(sizes.values())
    print("| part | bytes | share |\n| --- | ---: | ---: |")
    for part, size in sizes.most_common():
        print(f"| {part} | {size / 1e6:.2f} MB | {100 * size / total:.1f} % |")
    print(f"\ntotal {total} bytes")


if __name__ == "__main__":
    main()
