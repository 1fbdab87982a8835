"""Instructions per action, ours beside the minimal book, counted under valgrind.

    python -m bench.instructions [plain standard flash many] [--size 200000]

Time on a shared machine moves by a few percent from run to run; an instruction count
does not move at all, so it shows what a change adds to or takes from the hot path even
when the timing cannot. It is not a time: a change can take instructions away and still
cost time (bench/HISTORY.md has one), so a kept change is always timed too.

How: the workload is built and saved and the kernels compiled in a first child process;
a second one loads it and runs our kernel and the minimal book once each under callgrind, which counts every
instruction of the compiled code. The count of a function is its own instructions plus
everything it calls (inclusive), read from callgrind's output by the function's address.
Both children compile for a fixed x86-64 target (Haswell, AVX2), because valgrind does
not run the AVX-512 code Numba would otherwise emit here, so counts are for that target.
Needs valgrind; about 2 minutes a workload at the default size.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

from bench.workloads import WORKLOADS

# Valgrind runs AVX2 but not AVX-512; Numba compiles for these in both children, so the
# second finds the first's cache (its key holds the target).
TARGET = {
    "NUMBA_CPU_NAME": "haswell",
    "NUMBA_CPU_FEATURES": "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fxsr,+lzcnt,+mmx,"
                          "+movbe,+popcnt,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave",
}


def inclusive_counts(callgrind_out: str, addresses: dict[str, int]) -> dict[str, int]:
    """Instructions executed in each named function and in what it called, from a callgrind
    output file written with ``--compress-strings=no --compress-pos=no --dump-instr=yes``.
    Functions without symbols (compiled code) are named there by their entry address."""
    wanted = {f"0x{address:016x}": name for name, address in addresses.items()}
    totals: Counter[str] = Counter()
    current = None
    with open(callgrind_out) as lines:
        for line in lines:
            if line.startswith("fn="):
                current = wanted.get(line[3:].strip().split("'")[0])
            elif line.startswith("0x") and current is not None:
                # "address line cost": an instruction's own cost, or after a "calls=" line
                # the inclusive cost of that call
                totals[current] += int(line.split()[-1])
    return {name: totals.get(name, 0) for name in addresses}


def _child(name: str, size: int, saved: str, count: bool) -> None:
    """Compile and save the workload to ``saved``; or (``count``) load it and run our kernel
    and the minimal book once each. The counted run builds nothing compiled before them:
    compiled code freed there could leave its count at the address ours is loaded to."""
    import pickle

    from bench.runner import prepare_workload, touched_outputs
    from exchange.engine import run_kernel
    from exchange.nb.matching_nb import process
    from bench.minimal_book import minimal_run

    if not count:
        prepared = prepare_workload(name, size)
        prepared.minimal.run()
        with open(saved, "wb") as file:
            pickle.dump(prepared.workload, file)
        return
    with open(saved, "rb") as file:
        prepared = prepare_workload(name, size, warm_up=False, workload=pickle.load(file))
    actions = prepared.actions
    state = prepared.base.copy()
    events, trades = touched_outputs(len(actions), prepared.resting_before)
    run_kernel(state, actions, events, trades)
    prepared.minimal.run()
    for label, dispatcher in (("ours", process), ("minimal", minimal_run)):
        (signature,) = dispatcher.signatures
        compiled = dispatcher.overloads[signature]
        address = compiled.library.get_pointer_to_function(compiled.fndesc.llvm_func_name)
        print(f"address {label} {address}", flush=True)
    print(f"actions {len(actions)}", flush=True)


def count(name: str, size: int) -> dict:
    """{ours, minimal, ratio}: instructions per action of one workload."""
    env = dict(os.environ, **TARGET)
    with tempfile.TemporaryDirectory() as scratch:
        env["NUMBA_CACHE_DIR"] = os.path.join(scratch, "numba")
        child = [sys.executable, "-m", "bench.instructions", "--child", name, "--size", str(size),
                 "--saved", os.path.join(scratch, "workload.pickle")]
        subprocess.run(child + ["--compile-only"], env=env, check=True, capture_output=True)
        out = os.path.join(scratch, "callgrind.out")
        done = subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
                               "--compress-strings=no", f"--callgrind-out-file={out}", *child],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise ChildProcessError(f"valgrind on {name} failed:\n{done.stderr[-2000:]}")
        addresses = {m[0]: int(m[1]) for m in re.findall(r"^address (\w+) (\d+)$", done.stdout, re.M)}
        n = int(re.search(r"^actions (\d+)$", done.stdout, re.M).group(1))
        counts = inclusive_counts(out, addresses)
    ours, minimal = counts["ours"] / n, counts["minimal"] / n
    return {"ours": ours, "minimal": minimal, "ratio": ours / minimal}


def _actions(text: str) -> int:
    """--size: a whole number of actions, at least 1,000 (the workloads need some history)."""
    if not text.isdigit() or int(text) < 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1000")
    return int(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["plain", "standard", "flash", "many"],
                        choices=sorted(name for name in WORKLOADS if name != "deep"),
                        help="workloads without a prefill (deep's prefill would be counted too)")
    parser.add_argument("--size", type=_actions, default=200_000, help="actions per workload (at least 1,000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compile-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--saved", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.workloads[0], args.size, args.saved, not args.compile_only)
        return
    if shutil.which("valgrind") is None:
        parser.exit(2, "bench.instructions: valgrind is not installed (it counts the instructions)\n")
    for name in args.workloads:
        try:
            result = count(name, args.size)
        except (ChildProcessError, subprocess.CalledProcessError) as failed:
            parser.exit(1, f"bench.instructions: {failed}\n")
        print(f"{name:9s} ours {result['ours']:6.1f}  minimal {result['minimal']:6.1f}  instructions/action"
              f"  ratio {result['ratio']:.2f}", flush=True)


if __name__ == "__main__":
    main()
