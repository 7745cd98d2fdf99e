"""Benchmark: seconds per optimizer step and peak memory, LoRA vs full fine-tuning of one random LLaVA.

    python bench/training.py [--geometry bench|tiny|tinyllava] [--device cpu|cuda] [--steps 3] [--batch-size 1]

The model is built once by ``make_tiny_model`` (default: the ``bench`` geometry, the drafting
benchmark's ~100M-parameter LLaVA; ``tinyllava`` is TinyLLaVA's real 1.4B geometry). Each mode runs
in a fresh child process (this script with ``--child``), so its memory is its own, through the real
training code: ``training.finetune.build`` (load, freeze, LoRA), the trainer's ``AnswerLoss`` and
``optimizer_step`` (AdamW, clipping) on one batch of ``--batch-size`` noise photos with fixed-length
answers, encoded once (data loading is not timed), gradient accumulation 1; one warm-up step, then
``--steps`` timed steps.

Defaults are those of memory-conscious training in both modes: batch 1, gradient checkpointing,
no LoRA dropout (``--batch-size``, ``--no-gradient-checkpointing``, ``--lora-dropout`` change them).

Memory, CPU: the peak resident set *during training* (the kernel's VmHWM, reset once the model is
loaded, its lazily mapped weights touched and the batch encoded, as ``reset_peak_memory_stats`` does
on CUDA), of a second child per mode run with glibc told to hand large blocks back at free
(``MALLOC_MMAP_THRESHOLD_``; the default allocator's figure, mostly what malloc kept, is
``peak_mb_default_malloc``; ``--keep-malloc`` skips the second child). The goal compares the peak
above the runtime (interpreter and libraries before any model: the same for both modes), the CPU
analogue of CUDA's allocator peak; the plain RSS ratio and the growth over the loaded weights are
reported too. CUDA: ``torch.cuda.max_memory_allocated`` (weights included). Each mode also reports
the activations autograd keeps for backward (measured) and its gradients + AdamW moments (computed).
Prints one JSON line.
Goal: LoRA's peak memory under half of full fine-tuning's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ANSWER = "It is a case of eczema; use a moisturising cream twice daily and a mild steroid for flares. "


def reset_peak_rss() -> None:
    """Linux: make the kernel's peak resident set (VmHWM) start again from the current one."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """Linux: the peak resident set since the last reset (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not in /proc/self/status")


def rss_mb() -> float:
    """The resident set now (Linux /proc), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def saved_activations_mb(objective, rows, pad: int, device) -> float:
    """MiB of tensors autograd keeps for the backward pass of one forward (each storage counted once)."""
    import torch

    from training.dataset import collate

    storages: dict[tuple[int, int], int] = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    inputs = {k: v.to(device) for k, v in collate(rows, pad).items()}
    params = {p.untyped_storage().data_ptr() for p in objective.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_sum, _ = objective(**inputs)
    del loss_sum
    return sum(n for (ptr, _), n in storages.items() if ptr not in params) / 2**20


def child(args: argparse.Namespace) -> None:
    """One mode in this process; prints its JSON result."""
    import gc

    import torch
    from PIL import Image

    from training.examples import Example
    from training.finetune import DataArguments, ModelArguments, TrainArguments, build
    from training.trainer import AnswerLoss, make_optimizer, optimizer_step, pad_id_of

    cuda = args.device.startswith("cuda")
    gc.collect()
    runtime = rss_mb()  # Python, torch, transformers, peft imported; no model yet
    photos = Path(args.workdir) / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    examples = []
    for i in range(args.batch_size):
        path = photos / f"{i}.jpg"
        Image.effect_noise((640, 480), 40 + i).convert("RGB").save(path)
        answer = (ANSWER * args.answer_repeats).strip()
        examples.append(Example(f"case:{i}", (str(path),), (str(i),), f"Itchy red patch {i} on the arm", 1, (answer,)))
    margs = ModelArguments(model_name=args.model_dir)
    targs = TrainArguments(
        output_dir=args.workdir,
        method=args.child,
        device=args.device,
        progress=False,
        lora_dropout=args.lora_dropout,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    setup = build(margs, DataArguments(max_seq_len=4096), targs, examples, [])
    accelerator, pad = setup.accelerator, pad_id_of(setup.processor)
    objective = AnswerLoss(setup.model)
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, 1e-4)
    objective, optimizer = accelerator.prepare(objective, optimizer)
    objective.train()  # dropout and gradient checkpointing act in training mode only
    rows = [[setup.train_set.encode(i, epoch=0) for i in range(args.batch_size)]]
    with torch.no_grad():
        # safetensors maps weights lazily: touch every page now, so "after load" holds the weights.
        for parameter in setup.model.parameters():
            parameter.sum()
    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        after_load = torch.cuda.memory_allocated() / 2**20
    else:
        after_load = rss_mb()
        reset_peak_rss()  # the peak of training, not of loading (like reset_peak_memory_stats on CUDA)
    optimizer_step(accelerator, objective, optimizer, rows, pad, params, 1.0)  # warm-up: allocator, Adam state
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        optimizer_step(accelerator, objective, optimizer, rows, pad, params, 1.0)
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / args.steps
    activations = saved_activations_mb(objective, rows[0], pad, accelerator.device)  # after the peak was taken
    result = {
        "mode": args.child,
        "seconds_per_step": round(seconds, 4),
        "steps_per_s": round(1 / seconds, 4),
        "trainable_parameters": sum(p.numel() for p in params),
        "weights_dtype": str(next(setup.model.parameters()).dtype).replace("torch.", ""),
        "mixed_precision": accelerator.mixed_precision,
        "tokens_per_row": len(rows[0][0].row.input_ids),
        "answer_tokens_per_row": rows[0][0].row.answer_tokens,
        "after_load_mb": round(after_load, 1),
        # What each mode adds to the weights: activations kept for backward (measured), and gradients
        # plus AdamW's two moments of the trainable parameters (computed: 3 x their size).
        "saved_activations_mb": round(activations, 1),
        "grads_and_adam_mb": round(3 * sum(p.numel() * p.element_size() for p in params) / 2**20, 1),
    }
    if cuda:
        result["peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        result["device_name"] = torch.cuda.get_device_name()
    else:
        result["peak_mb"] = round(peak_rss_mb(), 1)
        # The CPU analogue of CUDA's allocator peak: what the model and its training added to the
        # runtime (the interpreter and libraries, the same for both modes).
        result["runtime_mb"] = round(runtime, 1)
        result["peak_above_runtime_mb"] = round(result["peak_mb"] - runtime, 1)
    print(json.dumps(result), flush=True)


def spawn(mode: str, model_dir: Path, workdir: Path, args: argparse.Namespace, steps: int, env: dict) -> dict:
    """Run one mode in a child process; its peak RSS comes from the kernel's accounting for that child."""
    command = [sys.executable, __file__, "--child", mode, "--model-dir", str(model_dir), "--workdir", str(workdir)]
    command += ["--device", args.device, "--steps", str(steps), "--batch-size", str(args.batch_size)]
    command += ["--answer-repeats", str(args.answer_repeats), "--lora-dropout", str(args.lora_dropout)]
    command += [] if args.gradient_checkpointing else ["--no-gradient-checkpointing"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed with exit status {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["process_peak_mb_with_loading"] = round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB
    return result


def run_mode(mode: str, model_dir: Path, workdir: Path, args: argparse.Namespace) -> dict:
    """Timing from a child with the default allocator; on CPU, memory from a second child (see the docstring)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = spawn(mode, model_dir, workdir, args, args.steps, env)
    if not args.device.startswith("cuda") and not args.keep_malloc:
        # glibc keeps freed heap memory and raises its mmap threshold as it goes, so a CPU process's RSS
        # peak mostly measures what the allocator kept. Large blocks through mmap are handed back at
        # free, so this child's peak RSS follows live tensors (mmap per block is slow: not timed).
        live = spawn(mode, model_dir, workdir, args, 1, {**env, "MALLOC_MMAP_THRESHOLD_": str(64 * 1024)})
        result["peak_mb_default_malloc"] = result["peak_mb"]
        for key in ("peak_mb", "after_load_mb", "runtime_mb", "peak_above_runtime_mb"):
            result[key] = live[key]
    result["growth_mb"] = round(result["peak_mb"] - result["after_load_mb"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geometry", default="bench", choices=["tiny", "bench", "tinyllava"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per mode (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--answer-repeats", type=int, default=4, help="answer length: this many ~20-token sentences")
    parser.add_argument("--lora-dropout", type=float, default=0.0, help="as [training] lora_dropout")
    parser.add_argument(
        "--no-gradient-checkpointing",
        dest="gradient_checkpointing",
        action="store_false",
        help="keep every activation (default: checkpointing, as memory-conscious training does in both modes)",
    )
    parser.add_argument("--keep-malloc", action="store_true", help="CPU: leave glibc's allocator settings alone")
    parser.add_argument("--child", choices=["lora", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from dermvqa.drafting.tiny_model import make_tiny_model

    with tempfile.TemporaryDirectory(prefix="dermbot-bench-training-") as tmp:
        root = Path(tmp)
        model_dir = make_tiny_model(root / "model", args.geometry)
        params = json.loads((model_dir / "dermbot_tiny_model.json").read_text())["parameters"]
        modes = {mode: run_mode(mode, model_dir, root / mode, args) for mode in ("lora", "full")}
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lora, full = modes["lora"], modes["full"]
    key = "peak_mb" if args.device.startswith("cuda") else "peak_above_runtime_mb"
    peak_ratio = lora[key] / full[key]
    rss_ratio = lora["peak_mb"] / full["peak_mb"]
    print(
        json.dumps(
            {
                "bench": "training",
                "model": f"random LLaVA, {args.geometry} geometry",
                "parameters": params,
                "device": args.device,
                "memory": "torch.cuda.max_memory_allocated"
                if args.device.startswith("cuda")
                else "child VmHWM during training minus the runtime before loading"
                + ("" if args.keep_malloc else " (MALLOC_MMAP_THRESHOLD_=65536)"),
                "batch_size": args.batch_size,
                "timed_steps": args.steps,
                "lora": lora,
                "full": full,
                "lora_vs_full_peak": round(peak_ratio, 3),
                "lora_vs_full_peak_rss_with_runtime": round(rss_ratio, 3),
                "lora_vs_full_growth": round(lora["growth_mb"] / full["growth_mb"], 3) if full["growth_mb"] else None,
                "settings": {
                    "lora_dropout": args.lora_dropout,
                    "gradient_checkpointing": args.gradient_checkpointing,
                    "answer_repeats": args.answer_repeats,
                },
                "parent_peak_mb": round(own, 1),
                "goal": {"lora_peak_under_half_of_full": peak_ratio < 0.5},
            }
        )
    )


if __name__ == "__main__":
    main()
