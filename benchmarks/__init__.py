"""fer_zoo benchmark suite: training throughput, input pipeline, inference, and `fer` comparison.

Run `python -m benchmarks [--quick] [--out DIR]` (or `fer-zoo bench ...`); it writes
`results.json` and `results.md` into DIR. See docs/performance.md for measured numbers.
"""
