"""Same-run ratios against PyTorch over several rounds, with their medians.

One round of `bench/pytorch_reference.py` then `trainer bench` says little on this machine:
PyTorch's own narrow-net training ranged over 438–613 img/s in one session, as wide as the gap
being measured. This script runs ROUNDS rounds. Each round measures PyTorch and the trainer
on every model, each measurement in its own process, and alternates which side goes first so
that a slow stretch of the machine does not always fall on the same side. It then prints
each round's ratio and the median, minimum and maximum per model and step.

    PY=/path/to/venv/bin/python   # a Python with torch
    $PY bench/ratio_rounds.py --rounds 5 --trainer target/release/trainer \
        --model resnet18 --model narrow --config configs/fast-cpu.json --json ratios.json

Run it alone on the machine: anything beside it moves both sides by different amounts.
`pytorch_reference.py` gives PyTorch the trainer's allocator settings (see its docstring).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = {
    "train": ("train_images_per_second", "train_images_per_second"),
    "inference": ("infer_images_per_second", "infer_images_per_second"),
    # The trainer's folded figure against PyTorch's eval-mode inference, as `trainer bench` does.
    "folded inference": ("infer_folded_images_per_second", "infer_images_per_second"),
}


def run_json(command, path):
    """Runs `command` (which writes JSON to `path`) and returns what it wrote."""
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stdout}")
    with open(path) as f:
        return json.load(f)


def pytorch(args, name, model_args, path):
    command = [args.python, os.path.join(HERE, "pytorch_reference.py"), "--threads", str(args.threads),
               "--iterations", str(args.iterations), "--json", path] + model_args
    return run_json(command, path)[name]


def ours(args, name, model_args, path):
    command = [args.trainer, "bench", "--device", "cpu", "--iterations", str(args.iterations),
               "--json", path] + model_args
    return run_json(command, path)[name]


def summary(rounds):
    """{model: {step: {"ratios": [...], "median": …, "min": …, "max": …}}} from the rounds'
    figures, each round {model: {"pytorch": {...}, "ours": {...}}}."""
    table = {}
    for model in rounds[0]:
        table[model] = {}
        for step, (our_key, their_key) in STEPS.items():
            ratios = [r[model]["ours"][our_key] / r[model]["pytorch"][their_key] for r in rounds
                      if r[model]["ours"].get(our_key) is not None]
            if ratios:
                table[model][step] = {"ratios": ratios, "median": statistics.median(ratios),
                                      "min": min(ratios), "max": max(ratios)}
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's threads (the trainer uses all cores)")
    parser.add_argument("--python", default=sys.executable, help="the Python with torch (default: this one)")
    parser.add_argument("--trainer", default=os.path.join("target", "release", "trainer"))
    parser.add_argument("--model", action="append", default=[], help="a `trainer bench --model` preset")
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="the model of a training config, named after the file")
    parser.add_argument("--json", help="also write every round's figures and the summary here")
    args = parser.parse_args()
    if args.rounds < 1 or not (args.model or args.config):
        parser.error("give --rounds ≥ 1 and at least one --model or --config")
    if not os.access(args.trainer, os.X_OK):
        parser.error(f"--trainer {args.trainer}: not an executable file (build it with cargo build --release)")
    models = [(m, ["--model", m]) for m in args.model]
    models += [(os.path.splitext(os.path.basename(c))[0], ["--config", c]) for c in args.config]

    rounds = []
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "figures.json")
        for index in range(args.rounds):
            figures = {}
            for name, model_args in models:
                sides = [("pytorch", pytorch), ("ours", ours)]
                if index % 2:
                    sides.reverse()
                figures[name] = {side: measure(args, name, model_args, path) for side, measure in sides}
                ratio = figures[name]["ours"]["train_images_per_second"] / figures[name]["pytorch"]["train_images_per_second"]
                print(f"round {index + 1} {name}: train {figures[name]['ours']['train_images_per_second']:.1f} "
                      f"vs PyTorch {figures[name]['pytorch']['train_images_per_second']:.1f} img/s ({ratio:.2f}×)",
                      flush=True)
            rounds.append(figures)

    table = summary(rounds)
    print(f"\n{args.rounds} rounds, ratio = ours / PyTorch: median (min–max)")
    for model, steps in table.items():
        for step, s in steps.items():
            print(f"{model:>10} {step:>16}: {s['median']:.2f}× ({s['min']:.2f}–{s['max']:.2f})  "
                  + " ".join(f"{r:.2f}" for r in s["ratios"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": rounds, "summary": table}, f, indent=2)


if __name__ == "__main__":
    main()
