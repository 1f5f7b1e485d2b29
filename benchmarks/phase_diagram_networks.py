"""Benchmark: CPU cost of one training step of the network phase diagrams' cells
(``experiments/phase_diagram_networks.py``), per network, in a batch, and of one evaluation.

1. The transformer of ``phase-diagram-transformer``'s full configuration (p, d_model, training
   fraction of ``TRANSFORMER_FULL``) in batches of ``--members`` networks: CPU seconds per
   network-step and per network-evaluation (train and test accuracy).
2. One network at the paper's size (p = 53, d_model = 256, 80 % of the pairs; one member), to
   extrapolate the paper's grid.
3. The MLP of ``phase-diagram-images`` (8 x 8 digits, mini-batches of 200) in batches of
   ``--members``.

Times are process CPU time (``time.process_time``), the best of ``--repeats``: on a machine
shared with other jobs the wall time is longer by the share of a core the process gets. The last
line printed is JSON.

    python benchmarks/phase_diagram_networks.py [--members 10] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time


def cpu_best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def cost(config, members: int, steps: int, repeats: int) -> dict:
    """CPU seconds per network-step and per network-evaluation of ``members`` cells of ``config``."""
    from grokking_workbench.experiments import phase_diagram_networks as pdn
    from grokking_workbench.numerics.networks import train as T

    split = pdn._split(config, 0)
    scale = getattr(config, "init_scale", 1.0)
    tr = T.Trainer(pdn._model(config, int(split.x_train.shape[-1])), T.stack_data([split]),
                   pdn._train_config(config), [T.Member(seed=k, lr=1e-3, weight_decay=1.0, init_scale=scale)
                                               for k in range(members)], classes=split.classes)

    def run_steps():
        for _ in range(steps):
            tr.step()

    step = cpu_best(run_steps, repeats) / steps / members
    measure = cpu_best(tr.measure, repeats) / members
    return {"members": members, "step_s": step, "evaluation_s": measure}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch

    from grokking_workbench.experiments import phase_diagram_networks as pdn

    torch.set_num_threads(1)
    out = {"transformer": cost(pdn.TRANSFORMER_FULL, args.members, args.steps, args.repeats),
           "transformer_paper_size": cost(dataclasses.replace(pdn.TRANSFORMER_FULL, p=53, d_model=256), 1,
                                          max(args.steps // 4, 2), args.repeats),
           "images": cost(pdn.IMAGES_FULL, args.members, args.steps, args.repeats)}
    for name, r in out.items():
        print(f"{name}: {1e3 * r['step_s']:.2f} ms per network-step, {1e3 * r['evaluation_s']:.2f} ms per "
              f"network-evaluation (batch of {r['members']})")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
