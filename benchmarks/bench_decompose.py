"""Cost of the DC split relative to the plain network, measured side by side in one run (issue 3).

For torchvision vgg16, resnet18 and EfficientNet-Lite0 (``hm.models.efficientnet_lite0``: ReLU6, depthwise convs,
residual adds; random init, 224×224), batch 1 and 8, on the CPU (and CUDA when available):

* ``model``:  forward + input gradient of the target logits, weights frozen (``requires_grad=False``);
* ``split32`` / ``split64``: ``hm.decompose(model, dtype=...)`` forward + four-sensitivity backward to the input
  (``split.sensitivities(x, targets, ["input"], alpha=0.4)``), the split built once outside the timed region;
* ratios ``split / model`` and the peak resident memory increase of each measurement (CPU) or peak CUDA memory.

Usage: ``python benchmarks/bench_decompose.py [--models vgg16 resnet18 efficientnet_lite0] [--batches 1 8] [--repeats 3]
[--device cpu] [--threads 2]``
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import time

import torch
import torchvision

import hidden_monotonicity as hm


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


#: ``--clock wall`` (default) or ``cpu``: process CPU time, the honest measure on a machine shared with other jobs
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]


def _time(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median time (``clock``) of ``fn`` over ``repeats`` runs after one warm-up, and the peak memory it used (MiB)."""
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
    memory = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else _peak_rss_mib()
    return sorted(times)[len(times) // 2], memory


MODEL_BUILDERS = {
    "vgg16": lambda: torchvision.models.vgg16(weights=None),
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "efficientnet_lite0": lambda: hm.models.efficientnet_lite0(weights=None),
}


def run(models, batches, repeats, device: torch.device, size: int = 224) -> list[dict]:
    rows = []
    for name in models:
        model = MODEL_BUILDERS[name]().eval().to(device)
        for p in model.parameters():
            p.requires_grad_(False)
        splits = {dtype: hm.decompose(model, dtype=dtype) for dtype in (torch.float32, torch.float64)}
        for batch in batches:
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(batch, 3, size, size, generator=generator).to(device)
            targets = torch.randint(0, 1000, (batch,), generator=generator).to(device)

            def plain():
                xi = x.clone().requires_grad_(True)
                out = model(xi)
                (grad,) = torch.autograd.grad(out.gather(1, targets[:, None]).sum(), xi)
                return grad

            row = {"model": name, "batch": batch, "device": device.type}
            row["model_s"], row["model_mem"] = _time(plain, repeats, device)
            for dtype, label in ((torch.float32, "split32"), (torch.float64, "split64")):
                split = splits[dtype]
                row[f"{label}_s"], row[f"{label}_mem"] = _time(
                    lambda: split.sensitivities(x, targets, ["input"], alpha=0.4), repeats, device
                )
                row[f"{label}_ratio"] = row[f"{label}_s"] / row["model_s"]
            rows.append(row)
            print(_format([row], header=len(rows) == 1), flush=True)
    return rows


def _format(rows: list[dict], header: bool = True) -> str:
    lines = []
    if header:
        lines.append("| model | batch | device | model fwd+grad (s) | split f32 (s) | ratio f32 | split f64 (s) | ratio f64 | peak mem (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['device']} | {r['model_s']:.3f} | {r['split32_s']:.3f} | "
            f"**{r['split32_ratio']:.2f}×** | {r['split64_s']:.3f} | {r['split64_ratio']:.2f}× | {r['split64_mem']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODEL_BUILDERS), choices=list(MODEL_BUILDERS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--device", default=None, help="cpu, cuda or both (default: cpu, and cuda when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the CPU runs")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="wall", help="wall time (default) or process CPU time")
    args = parser.parse_args()
    global clock
    clock = CLOCK[args.clock]
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = [torch.device(args.device)] if args.device else [torch.device("cpu")]
    if args.device is None and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"# bench_decompose  torch {torch.__version__}  {platform.processor() or platform.machine()}  "
          f"threads {torch.get_num_threads()}  clock {args.clock}  {time.strftime('%Y-%m-%d')}")
    for device in devices:
        run(args.models, args.batches, args.repeats, device, args.size)


if __name__ == "__main__":
    main()
