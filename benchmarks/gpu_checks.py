"""Correctness on a device (issue 18, item 1): the paper's exact invariants and every method, run where the models live.

For VGG16, ResNet18 (random init, seed 0: the ImageNet weights are not on the device machine) and EfficientNet-Lite0
(ImageNet weights from its pip package, random init when that is missing), at ``--size`` px, batch 2, on ``--device``:

* reconstruction (paper section A): ``max |g − h − f| / max |f|`` in float64 and float32 (limits 1e-9 and 1e-4);
* sensitivities (paper B.3): at the input, α = 0.4, ``δ^{+,g} − δ^{+,h} = ∂f/∂x`` and ``δ^{−,g} − δ^{−,h} = −∂f/∂x``
  (pairwise invariants, float64, relative to max |∂f/∂x|, limit 1e-6) and α = 0.5 gives ``δ^{+,g} = ½ ∂f/∂x``;
* every registered method (cheap settings for the perturbation baselines): a finite map of shape (N, 1, H, W) on the
  device, and its seconds.

Prints one line per check and writes them as JSON (``--out``); exit status 1 if any check fails. The same script runs
on the CPU (``--device cpu --size 64``), which is how it is tested before a device session.

Usage: ``python benchmarks/gpu_checks.py --device cuda --size 224 --out gpu_checks.json``
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch

import hidden_monotonicity as hm

#: cheap settings of the baselines that repeat forward passes (the defaults are tested on the CPU)
CHEAP = {
    "integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_samples": 4},
    "occlusion": {"window": 56, "stride": 56},
    "feature_ablation": {"patch_size": 56},
}
LIMITS = {"reconstruction float64": 1e-9, "reconstruction float32": 1e-4, "pairwise invariant": 1e-6,
          "half gradient": 1e-6}


def load(name: str, device: str) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "efficientnet_lite0":
            try:
                model = hm.models.load(name, weights="imagenet")
            except Exception:  # the pip package is missing: the architecture is what is checked
                model = hm.models.load(name, allow_random_init=True, seed=0)
        else:
            model = hm.models.load(name, allow_random_init=True, seed=0)
    return model.eval().to(device)


def input_gradient(model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    model(x).gather(1, targets.view(-1, 1)).sum().backward()
    return x.grad.detach()


def check_model(name: str, device: str, size: int, methods: list[str]) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    model = load(name, device)
    x = torch.rand(2, 3, size, size, device=device)
    targets = torch.tensor([3, 281], device=device)

    def record(check: str, value: float, seconds: float, limit: float | None = None) -> None:
        ok = bool(torch.isfinite(torch.tensor(value))) and (limit is None or value <= limit)
        rows.append({"model": name, "check": check, "value": value, "limit": limit, "ok": ok, "seconds": round(seconds, 4)})
        print(f"{name:20s} {check:40s} {value:12.3e} {'ok' if ok else 'FAILED'}  ({seconds:.3f} s)", flush=True)

    for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
        reference = model.to(dtype)
        with torch.no_grad():
            f = reference(x.to(dtype))
        start = time.perf_counter()
        split = hm.decompose(reference, dtype=dtype)
        out = split(x.to(dtype))
        error = ((out.g - out.h) - f).abs().max() / f.abs().max()
        record(f"reconstruction {label}", float(error), time.perf_counter() - start, LIMITS[f"reconstruction {label}"])
    model = model.double()
    x64 = x.double()
    gradient = input_gradient(model, x64, targets)
    scale = gradient.abs().max()
    split = hm.decompose(model)
    start = time.perf_counter()
    sensitivities = split.sensitivities(x64, targets, ["input"], alpha=0.4)["input"]
    positive = ((sensitivities.delta_pos_g - sensitivities.delta_pos_h) - gradient).abs().max() / scale
    negative = ((sensitivities.delta_neg_g - sensitivities.delta_neg_h) + gradient).abs().max() / scale
    record("pairwise invariant", float(max(positive, negative)), time.perf_counter() - start, LIMITS["pairwise invariant"])
    start = time.perf_counter()
    half = split.sensitivities(x64, targets, ["input"], alpha=0.5)["input"]
    record("half gradient", float((half.delta_pos_g - 0.5 * gradient).abs().max() / scale), time.perf_counter() - start,
           LIMITS["half gradient"])
    model = model.float()
    for method in methods:
        start = time.perf_counter()
        try:
            maps = hm.explain(model, x, targets, method, **CHEAP.get(method, {}))
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            right = (tuple(maps.shape) == (2, 1, size, size) and maps.device.type == torch.device(device).type
                     and bool(torch.isfinite(maps).all()))
            record(f"explain {method}", 0.0 if right else float("nan"), seconds)
        except Exception as error:  # recorded, so one failing method does not hide the others
            print(f"{name:20s} explain {method}: {type(error).__name__}: {error}", flush=True)
            rows.append({"model": name, "check": f"explain {method}", "value": None, "ok": False, "error": str(error)[:300]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet18", "efficientnet_lite0"])
    parser.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    methods = args.methods or sorted(hm.methods())
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"device {args.device} ({name}), torch {torch.__version__}, size {args.size}", flush=True)
    rows = [row for model in args.models for row in check_model(model, args.device, args.size, methods)]
    failed = [row for row in rows if not row["ok"]]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump({"device": args.device, "device_name": name, "torch": torch.__version__, "size": args.size,
                       "checks": rows}, handle, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
