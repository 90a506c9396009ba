"""Rendering speed of SynthFER on the current process (pin it to one core to measure one core).

```
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 python -m fer_zoo.data.synthfer.benchmark --image-size 64
```

Reports images per CPU-second of the process and per wall-clock second (best of `--repeats`
runs, since a shared machine only ever slows a run down) for three workloads:

* `faceset`: `SynthFER.faceset` over identities x expressions x yaws x lights (the paired grids the
  recipes use; geometry is reused across poses and lights of one face);
* `random, 20 ids`: `SynthFER.sample` with every factor random and identities drawn from 20
  (built once, then cached: the benchmark keeps up to 32 identities);
* `random, fresh ids`: `SynthFER.sample` where nearly every image is a new identity, so the
  per-identity build (~ a few renders' worth) is included.
"""

import argparse
import time

from fer_zoo.data.synthfer.renderer import SynthFER


def _best(fn, repeats):
    """(images per wall-clock second, images per CPU second of this process), best of repeats.

    On a shared machine the wall clock also counts time spent waiting for the core; the process
    CPU time does not, so it is the rate of a dedicated core (with one BLAS/OpenMP thread)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        n = fn()
        best_wall = min(best_wall, (time.perf_counter() - wall) / n)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / n)
    return 1.0 / best_wall, 1.0 / best_cpu


def benchmark(image_size=64, channels=1, n=200, repeats=3):
    """`{workload: (images per wall-clock second, images per CPU second)}`."""
    results = {}
    r = SynthFER(image_size=image_size, channels=channels, seed=0, cache_identities=32)  # all 20 ids stay cached
    r.faceset(identities=range(4), expressions=range(7), yaws=(0,), lights=("even",))  # warm-up

    harsh = r.sample_light(0, harsh=True)

    def faceset():
        fs = r.faceset(identities=range(4), expressions=range(7), yaws=(-60, -30, 0, 30, 60), lights=("even", harsh))
        return len(fs)

    results["faceset"] = _best(faceset, repeats)
    r.sample(40, rng_seed=0, identities=20)
    seeds = iter(range(1, 1000))
    results["random, 20 ids"] = _best(lambda: len(r.sample(n, rng_seed=next(seeds), identities=20)), repeats)
    fresh = iter(range(10**6, 10**9, n))
    results["random, fresh ids"] = _best(
        lambda: len(r.sample(n // 4, rng_seed=0, identities=range(next(fresh), next(fresh)))), repeats
    )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description="Measure SynthFER images/s.")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for name, (wall, cpu) in benchmark(args.image_size, args.channels, args.n, args.repeats).items():
        print(f"{args.image_size}px C={args.channels} {name:>18}: {cpu:6.0f} images/CPU-s  ({wall:6.0f} images/wall-s)")


if __name__ == "__main__":
    main()
