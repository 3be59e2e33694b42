"""Benchmark: seconds per training update on one process and on two (`train(..., processes=p)`),
alternating, three runs each, for the pooled and the attention network. Run alone.

    python -m benchmarks.train_speed
"""

from __future__ import annotations

import statistics
import time

from cpsched.learned_pdr.training import TrainingConfig, train


def main() -> None:
    for network, updates in (("pooled", 20), ("attention", 8)):
        config = TrainingConfig(validate_every=10**6, network=network)
        seconds: dict[int, list[float]] = {1: [], 2: []}
        for processes in (1, 2, 1, 2, 1, 2):
            began = time.perf_counter()
            train(config, updates=updates, processes=processes)
            seconds[processes].append((time.perf_counter() - began) / updates)
        one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
        print(f"{network}: {one:.3f} s per update on one process, {two:.3f} s on two ({one / two:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
