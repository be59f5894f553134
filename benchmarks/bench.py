"""`cogito bench`: a Cogito masked-LM model and BERT side by side, speed and memory against N.

Three models run: Cogito; `bert_sparse`, a `BertForMaskedLM` whose LM head, like Cogito's, scores
only the labelled positions (the like-for-like comparison, reported first); and `bert`, the stock
`BertForMaskedLM`, which computes logits at every position (reported second, labelled as such).
All get the same width H, depth L, heads, vocabulary V and (FLOP-matched) feed-forward
size, random initialisation, SDPA attention and fp32 on CPU (bf16 autocast with `--device cuda`).
For every sequence length N the batch is sized so B·N stays constant (`--tokens_per_batch`), and
the models run alternately in one process (Cogito, BERT, BERT, Cogito, ...) so that drift of
a shared machine hits all alike. BERT is skipped above `--bert_max_size`.

What is measured, per model and N:

- **encoder forward**: `model.cogito(input_ids)` / `model.bert(input_ids)` under `torch.no_grad`
  in eval mode — the encoders alone, no MLM head. Cogito's encoder returns the C concept states,
  BERT's the N token states.
- **training step**: forward with labels + backward + `AdamW.step()`. A fixed 15% of the positions
  of every row are labelled (`IGNORE_INDEX` elsewhere). Cogito decodes and scores only the labelled
  positions (sparse MLM), and so does `bert_sparse`; the stock `BertForMaskedLM` computes logits
  for all B·N positions and then ignores the unlabelled ones, as transformers does.
- **memory** (unless `--skip_memory`), in a fresh subprocess per (model, N): one warm-up training
  step creates the gradients and AdamW state; then "resident before" is the process RSS, the
  kernel's peak-RSS mark is reset (`/proc/self/clear_refs` ← 5) and one more training step runs;
  **activation memory = peak RSS during the step − RSS before it** (activations, logits and
  temporaries; parameters, gradients and optimiser state are in the baseline). The same is done
  for one encoder forward. The child runs with `MALLOC_MMAP_THRESHOLD_=65536` so freed tensors go
  back to the kernel and RSS tracks live memory. On CUDA: `torch.cuda.max_memory_allocated`.
- **FLOPs**: analytic matmul FLOPs (below), achieved FLOP/s = FLOPs / median time, and MFU
  against the best of several `torch.mm` of two `matmul_size`² fp32 matrices on this machine.

FLOPs formula. A matmul of (m×k)·(k×n) costs 2·m·n·k; attention with q queries and k keys over
width H costs 2·q·k·H for the scores plus 2·q·k·H for the weighted sum. Only matmuls are counted
(no softmax, norm, activation, embedding lookup); training ≈ 3 × forward (backward = 2 × forward).
With T = B·N tokens, C concepts, I the FFN size (I_c for Cogito's gated FFN), K = labelled
positions per row and M = B·K:

    BERT layer     = 2·T·H·3H + 4·B·N²·H + 2·T·H·H + 2·T·H·I + 2·T·I·H
    BERT MLM head  = 2·T·H·H + 2·T·H·V                         (stock: all T positions)
                   = 2·M·H·H + 2·M·H·V                         (bert_sparse: labelled positions only)
    Cogito layer   = 2·BC·H·H + 2·T·H·2H + 4·B·C·N·H + 2·BC·H·H   (concepts <- tokens)
                   + 2·BC·H·3H + 4·B·C²·H + 2·BC·H·H              (concepts <- concepts)
                   + 2·BC·H·2I_c + 2·BC·I_c·H                     (gated FFN, BC = B·C)
    Cogito decoder = per decoder layer (perceiver, perceiver_posonly):
                     2·M·H·H + 2·BC·H·2H + 4·B·K·C·H + 2·M·H·H + 2·M·H·2I_c + 2·M·I_c·H
                     (weighted: 2·B·K·C·H)
    Cogito MLM head = 2·M·H·H + 2·M·H·V                        (labelled positions only)
    forward = L·layer + decoder + head;  train = 3 · forward;  encoder forward = L·layer

Cogito's FFN is gated (three H×I matrices against BERT's two), so by default Cogito gets
I_c = 2/3·I rounded to a multiple of 32 (1376 for I = 2048): the same FFN parameters and FLOPs
within 1%. `--cogito_intermediate_size 2048` gives it BERT's I instead.

Outputs: a Markdown table (printed and `bench.md`), `bench.json` and a log-log plot `bench.png`
in `--output_dir`; with `--profile N`, `profile_N{N}.md` with the top operators of one training
step of each model. It is a benchmark, not a test: `tests/test_bench.py` runs it at a tiny size.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import linear_regression, median

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForMaskedLM
from transformers.modeling_outputs import MaskedLMOutput

from cogito._io import git_commit
from cogito.configuration_cogito import DECODER_TYPES
from cogito.modeling_cogito import IGNORE_INDEX

# Cogito and its two BERT baselines: `bert_sparse` scores only the labelled positions (the same
# head work as Cogito), `bert` is the stock BertForMaskedLM (logits at every position).
MODELS = ("cogito", "bert_sparse", "bert")
BASELINES = {"bert_sparse": "BERT, LM head at the labelled positions only", "bert": "stock BertForMaskedLM"}

DEFAULTS = dict(
    sizes=[128, 512, 2048, 8192, 32768],
    hidden_size=512,
    num_layers=6,
    num_heads=8,
    intermediate_size=2048,
    cogito_intermediate_size=None,
    vocab_size=30522,
    concepts=128,
    decoder_type="perceiver",
    num_decoder_layers=1,
    tokens_per_batch=8192,
    bert_max_size=8192,
    repeats=3,
    warmup=1,
    dropout=0.0,
    mlm_probability=0.15,
    matmul_size=2048,
    device="cpu",
    threads=None,
    seed=0,
    skip_memory=False,
    gradient_checkpointing=False,
    profile=None,
    output_dir="bench_out",
)

# `--tiny`: runs in seconds, for CI. Explicit flags still override it.
TINY = dict(
    sizes=[64, 128],
    hidden_size=64,
    num_layers=2,
    num_heads=2,
    intermediate_size=256,
    vocab_size=1000,
    concepts=16,
    tokens_per_batch=256,
    repeats=1,
    warmup=1,
    matmul_size=512,
)


@dataclass
class BenchSettings:
    """Everything one benchmark run depends on; see the module docstring for what is measured."""

    sizes: list[int] = field(default_factory=lambda: list(DEFAULTS["sizes"]))
    hidden_size: int = 512
    num_layers: int = 6
    num_heads: int = 8
    intermediate_size: int = 2048
    cogito_intermediate_size: int | None = None
    vocab_size: int = 30522
    concepts: int = 128
    decoder_type: str = "perceiver"
    num_decoder_layers: int = 1
    tokens_per_batch: int = 8192
    bert_max_size: int = 8192
    repeats: int = 3
    warmup: int = 1
    dropout: float = 0.0
    mlm_probability: float = 0.15
    matmul_size: int = 2048
    device: str = "cpu"
    threads: int | None = None
    seed: int = 0
    skip_memory: bool = False
    gradient_checkpointing: bool = False
    profile: int | None = None
    output_dir: str = "bench_out"

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ValueError("sizes must list at least one sequence length, got an empty list")
        for size in self.sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 2:
                raise ValueError(f"sizes must be integers >= 2, got {size!r} in {self.sizes}")
        self.sizes = sorted(set(self.sizes))
        for name in (
            "hidden_size", "num_layers", "num_heads", "intermediate_size", "vocab_size", "concepts",
            "num_decoder_layers", "tokens_per_batch", "bert_max_size", "repeats", "matmul_size",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup!r}")
        if self.cogito_intermediate_size is not None and self.cogito_intermediate_size < 1:
            raise ValueError(
                f"cogito_intermediate_size must be a positive integer or None (FLOP-matched), "
                f"got {self.cogito_intermediate_size!r}"
            )
        if self.decoder_type not in DECODER_TYPES:
            raise ValueError(f"decoder_type must be one of {', '.join(DECODER_TYPES)}; got {self.decoder_type!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {self.mlm_probability!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for but torch.cuda.is_available() is False; use --device cpu")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")
        if self.profile is not None and self.profile not in self.sizes:
            raise ValueError(f"profile must be one of the benchmarked sizes {self.sizes}, got {self.profile!r}")

    @property
    def cogito_ffn(self) -> int:
        """Cogito's intermediate size: as given, or FLOP-matched to BERT's."""
        if self.cogito_intermediate_size is not None:
            return self.cogito_intermediate_size
        return matched_intermediate_size(self.intermediate_size)

    def batch_size(self, seq_len: int) -> int:
        return max(1, self.tokens_per_batch // seq_len)

    def labelled_per_row(self, seq_len: int) -> int:
        return max(1, round(self.mlm_probability * seq_len))

    def models_for(self, seq_len: int) -> tuple[str, ...]:
        return MODELS if seq_len <= self.bert_max_size else ("cogito",)


def matched_intermediate_size(bert_intermediate: int, multiple: int = 32) -> int:
    """Gated-FFN width with the parameters/FLOPs of a plain FFN of `bert_intermediate`: 3·H·I_c ≈ 2·H·I."""
    return max(multiple, round(2 * bert_intermediate / 3 / multiple) * multiple)


# ---------------------------------------------------------------------------------------------
# Analytic FLOPs (matmuls only; see the module docstring for the formula).


def linear_flops(rows: int, in_features: int, out_features: int) -> int:
    """(rows × in) · (in × out): 2·rows·in·out."""
    return 2 * rows * in_features * out_features


def attention_flops(batch: int, q_len: int, k_len: int, hidden: int) -> int:
    """Scores Q·Kᵀ and weighted sum A·V over all heads: 2 · (2·B·q·k·H)."""
    return 4 * batch * q_len * k_len * hidden


def bert_flops(
    batch: int,
    seq_len: int,
    hidden: int,
    layers: int,
    intermediate: int,
    vocab: int,
    labelled_per_row: int | None = None,
) -> dict[str, int]:
    """Forward matmul FLOPs of `BertForMaskedLM` with labels: full logits, as transformers computes
    them, or with `labelled_per_row` K the LM head at the B·K labelled positions only (`bert_sparse`)."""
    tokens = batch * seq_len
    head_rows = tokens if labelled_per_row is None else batch * labelled_per_row
    layer = (
        linear_flops(tokens, hidden, 3 * hidden)  # Q, K, V
        + attention_flops(batch, seq_len, seq_len, hidden)
        + linear_flops(tokens, hidden, hidden)  # attention output
        + linear_flops(tokens, hidden, intermediate)
        + linear_flops(tokens, intermediate, hidden)
    )
    head = linear_flops(head_rows, hidden, hidden) + linear_flops(head_rows, hidden, vocab)
    encoder = layers * layer
    forward = encoder + head
    return {"encoder_forward": encoder, "forward": forward, "train": 3 * forward}


def cogito_flops(
    batch: int,
    seq_len: int,
    hidden: int,
    layers: int,
    intermediate: int,
    vocab: int,
    concepts: int,
    labelled_per_row: int,
    decoder_type: str = "perceiver",
    num_decoder_layers: int = 1,
) -> dict[str, int]:
    """Forward matmul FLOPs of `CogitoForMaskedLM` with labels (sparse: K labelled positions per row)."""
    tokens, concept_rows = batch * seq_len, batch * concepts
    queries = batch * labelled_per_row  # M
    layer = (
        linear_flops(concept_rows, hidden, hidden)  # cross-attention Q (concepts)
        + linear_flops(tokens, hidden, 2 * hidden)  # cross-attention K, V (tokens)
        + attention_flops(batch, concepts, seq_len, hidden)
        + linear_flops(concept_rows, hidden, hidden)  # cross-attention output
        + linear_flops(concept_rows, hidden, 3 * hidden)  # self-attention Q, K, V
        + attention_flops(batch, concepts, concepts, hidden)
        + linear_flops(concept_rows, hidden, hidden)  # self-attention output
        + linear_flops(concept_rows, hidden, 2 * intermediate)  # gate and up
        + linear_flops(concept_rows, intermediate, hidden)  # down
    )
    if decoder_type == "weighted":
        decoder = 2 * batch * labelled_per_row * concepts * hidden  # (K × C) · (C × H) per row
    else:
        decoder = num_decoder_layers * (
            linear_flops(queries, hidden, hidden)
            + linear_flops(concept_rows, hidden, 2 * hidden)
            + attention_flops(batch, labelled_per_row, concepts, hidden)
            + linear_flops(queries, hidden, hidden)
            + linear_flops(queries, hidden, 2 * intermediate)
            + linear_flops(queries, intermediate, hidden)
        )
    head = linear_flops(queries, hidden, hidden) + linear_flops(queries, hidden, vocab)
    encoder = layers * layer
    forward = encoder + decoder + head
    return {"encoder_forward": encoder, "forward": forward, "train": 3 * forward}


def model_flops(name: str, settings: BenchSettings, seq_len: int) -> dict[str, int]:
    batch = settings.batch_size(seq_len)
    if name in BASELINES:
        return bert_flops(
            batch,
            seq_len,
            settings.hidden_size,
            settings.num_layers,
            settings.intermediate_size,
            settings.vocab_size,
            settings.labelled_per_row(seq_len) if name == "bert_sparse" else None,
        )
    return cogito_flops(
        batch,
        seq_len,
        settings.hidden_size,
        settings.num_layers,
        settings.cogito_ffn,
        settings.vocab_size,
        settings.concepts,
        settings.labelled_per_row(seq_len),
        settings.decoder_type,
        settings.num_decoder_layers,
    )


# ---------------------------------------------------------------------------------------------
# Models, inputs and the two timed operations.


class SparseHeadBertForMaskedLM(BertForMaskedLM):
    """`BertForMaskedLM` whose LM head runs only at the labelled positions, as Cogito's does.

    The encoder is BERT's own; the head (transform + decoder to V) and the loss see only the
    B·K rows with a label, so no `(B, N, V)` logits exist. Same loss as the stock model.
    """

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> MaskedLMOutput:
        hidden = self.bert(input_ids=input_ids).last_hidden_state  # (B, N, H)
        selected = labels != IGNORE_INDEX  # (B, N)
        logits = self.cls(hidden[selected])  # (M, V), M = labelled positions
        loss = F.cross_entropy(logits.float(), labels[selected])
        return MaskedLMOutput(loss=loss, logits=logits)


def build_model(name: str, settings: BenchSettings, seq_len: int, attn_implementation: str = "sdpa"):
    """A randomly initialised masked-LM model of `name` ("cogito" or "bert") sized for `seq_len`."""
    torch.manual_seed(settings.seed)
    if name == "cogito":
        from cogito import CogitoConfig, CogitoForMaskedLM

        config = CogitoConfig(
            vocab_size=settings.vocab_size,
            hidden_size=settings.hidden_size,
            num_hidden_layers=settings.num_layers,
            num_attention_heads=settings.num_heads,
            intermediate_size=settings.cogito_ffn,
            concept_num=settings.concepts,
            max_position_embeddings=seq_len,
            decoder_type=settings.decoder_type,
            num_decoder_layers=settings.num_decoder_layers,
            hidden_dropout_prob=settings.dropout,
            attention_probs_dropout_prob=settings.dropout,
            attn_implementation=attn_implementation,
        )
        model = CogitoForMaskedLM(config)
        if settings.gradient_checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif name in BASELINES:
        config = BertConfig(
            vocab_size=settings.vocab_size,
            hidden_size=settings.hidden_size,
            num_hidden_layers=settings.num_layers,
            num_attention_heads=settings.num_heads,
            intermediate_size=settings.intermediate_size,
            max_position_embeddings=seq_len,
            hidden_dropout_prob=settings.dropout,
            attention_probs_dropout_prob=settings.dropout,
            attn_implementation=attn_implementation,
        )
        model = (SparseHeadBertForMaskedLM if name == "bert_sparse" else BertForMaskedLM)(config)
    else:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {name!r}")
    return model.to(settings.device)


def encoder_of(model) -> torch.nn.Module:
    return model.cogito if hasattr(model, "cogito") else model.bert


def parameter_counts(model) -> dict[str, int]:
    """Unique parameters (tied matrices once) of the whole model and of its encoder layers."""
    layers = model.cogito.layers if hasattr(model, "cogito") else model.bert.encoder
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "encoder_layers": sum(p.numel() for p in layers.parameters()),
    }


def make_batch(settings: BenchSettings, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids `(B, N)` and labels with exactly K = round(p·N) labelled positions per row."""
    generator = torch.Generator().manual_seed(settings.seed + seq_len)
    batch, labelled = settings.batch_size(seq_len), settings.labelled_per_row(seq_len)
    input_ids = torch.randint(5, settings.vocab_size, (batch, seq_len), generator=generator)
    positions = torch.rand(batch, seq_len, generator=generator).argsort(dim=1)[:, :labelled]  # (B, K)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels.scatter_(1, positions, torch.gather(input_ids, 1, positions))
    return input_ids.to(settings.device), labels.to(settings.device)


class Workload:
    """One model with its optimiser and batch; `infer()` and `train_step()` are what is timed."""

    def __init__(self, name: str, settings: BenchSettings, seq_len: int):
        self.name, self.settings, self.seq_len = name, settings, seq_len
        self.model = build_model(name, settings, seq_len)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.input_ids, self.labels = make_batch(settings, seq_len)

    def _autocast(self):
        if self.settings.device == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def infer(self) -> None:
        self.model.eval()
        with torch.no_grad(), self._autocast():
            encoder_of(self.model)(input_ids=self.input_ids)

    def train_step(self, set_to_none: bool = True) -> float:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=set_to_none)
        with self._autocast():
            loss = self.model(input_ids=self.input_ids, labels=self.labels).loss
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def measure_matmul_peak(device: str = "cpu", size: int = 2048, repeats: int = 8) -> float:
    """Best achieved FLOP/s of `torch.mm` on two size×size matrices (fp32 on CPU, bf16 on CUDA)."""
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = min(_timed(lambda: torch.mm(a, b), device) for _ in range(repeats))
    return 2 * size**3 / best


def _stats(values: list[float]) -> dict:
    return {"min": min(values), "median": median(values), "max": max(values), "runs": values}


# ---------------------------------------------------------------------------------------------
# Memory, in a fresh process per (model, N).

_MEMORY_CHILD = (
    "import json, sys; sys.path.insert(0, sys.argv[2]); from bench import memory_child_main; "
    "print(json.dumps(memory_child_main(json.loads(sys.argv[1]))))"
)


def _proc_status_mb() -> dict[str, float]:
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(line.split()[1]) / 1024  # kB -> MB
    return values


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where that is impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def memory_child_main(spec: dict) -> dict:
    """Runs in a fresh process: peak memory of one training step and one encoder forward."""
    settings = BenchSettings(**spec["settings"])
    torch.set_num_threads(spec["threads"])
    work = Workload(spec["model"], settings, spec["seq_len"])
    # Warm-up step: gradients and AdamW state exist from here on and count as resident.
    work.train_step(set_to_none=False)
    gc.collect()
    result: dict = {"method": "cuda_max_memory_allocated" if settings.device == "cuda" else "rss_hwm_reset"}
    for phase, run in (("train", lambda: work.train_step(set_to_none=False)), ("infer", work.infer)):
        gc.collect()
        if settings.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated() / 2**20
            run()
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            before = _proc_status_mb()["VmRSS"]
            reset = _reset_peak_rss()
            if not reset and phase == "infer":
                # The lifetime peak already holds the training step's: nothing to say about inference.
                result["infer"] = None
                continue
            if not reset:
                result["method"] = "ru_maxrss_lifetime"
            run()
            peak = _proc_status_mb()["VmHWM"] if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result[phase] = {"resident_before_mb": before, "peak_mb": peak, "activation_mb": max(0.0, peak - before)}
    return result


def measure_memory(name: str, settings: BenchSettings, seq_len: int, threads: int) -> dict:
    """Run `memory_child_main` for one (model, N) in a fresh Python process and return its result."""
    spec = {"settings": asdict(settings), "model": name, "seq_len": seq_len, "threads": threads}
    env = dict(os.environ)
    # Every allocation above 64 KiB is its own mmap, returned to the kernel on free: RSS = live memory.
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    completed = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, json.dumps(spec), str(Path(__file__).resolve().parent)],
        capture_output=True,
        text=True,
        env=env,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"memory measurement of {name} at N={seq_len} failed (exit {completed.returncode}):\n"
            f"{completed.stderr[-3000:]}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Profiling: where does the time of one training step go?

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear")


def op_category(name: str) -> str:
    if name in MATMUL_OPS:
        return "matmul"
    if "scaled_dot_product" in name or "flash_attention" in name:
        return "attention kernel"
    return "other"


def profile_step(work: Workload, top: int = 20) -> dict:
    """Self CPU time per operator of one training step (after the timed runs warmed it up)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if work.settings.device == "cuda" else [])
    with profile(activities=activities) as prof:
        work.train_step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    by_category: dict[str, float] = {}
    for event in events:
        category = op_category(event.key)
        by_category[category] = by_category.get(category, 0.0) + event.self_cpu_time_total
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return {
        "total_ms": total / 1000,
        "by_category_ms": {k: v / 1000 for k, v in sorted(by_category.items())},
        "top_ops": [
            {
                "op": e.key,
                "calls": e.count,
                "self_ms": e.self_cpu_time_total / 1000,
                "share": e.self_cpu_time_total / total,
            }
            for e in events[:top]
        ],
    }


def render_profile(seq_len: int, profiles: dict[str, dict]) -> str:
    lines = [f"# One training step at N={seq_len}: self CPU time per operator", ""]
    for name, prof in profiles.items():
        lines.append(f"## {name} (profiled total {prof['total_ms']:.0f} ms)")
        lines.append("")
        shares = ", ".join(f"{k} {v:.0f} ms ({v / prof['total_ms']:.0%})" for k, v in prof["by_category_ms"].items())
        lines += [f"By category: {shares}.", "", "| op | calls | self ms | share |", "|---|---:|---:|---:|"]
        for op in prof["top_ops"]:
            lines.append(f"| `{op['op']}` | {op['calls']} | {op['self_ms']:.1f} | {op['share']:.1%} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The run.


def machine_description(threads: int) -> dict:
    model_name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model_name = line.split(":", 1)[1].strip()
    commit = git_commit(Path(__file__).resolve().parent)
    import transformers

    return {
        "cpu": model_name,
        "logical_cpus": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "commit": commit[:7] if commit else None,
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def run_bench(settings: BenchSettings, log=print) -> dict:
    """Time both models at every N (alternating), measure memory and FLOPs; return the results."""
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    threads = torch.get_num_threads()
    machine = machine_description(threads)
    dtype = "bf16 autocast" if settings.device == "cuda" else "fp32"
    log(
        f"cogito bench: device {settings.device} ({dtype}), torch threads {threads}, dropout {settings.dropout}, "
        f"H={settings.hidden_size} L={settings.num_layers} heads={settings.num_heads} V={settings.vocab_size} "
        f"C={settings.concepts} FFN bert={settings.intermediate_size} cogito={settings.cogito_ffn} (gated)"
    )
    # The peak is re-measured after every N and the best reading kept: on a shared machine one
    # reading may fall in a busy moment.
    peaks = [measure_matmul_peak(settings.device, settings.matmul_size)]
    log(f"matmul peak ({settings.matmul_size}² torch.mm, best of 8): {peaks[0] / 1e9:.1f} GFLOP/s")

    rows, profiles = [], {}
    for seq_len in settings.sizes:
        names = settings.models_for(seq_len)
        works = {name: Workload(name, settings, seq_len) for name in names}
        times: dict[str, dict[str, list[float]]] = {name: {"infer": [], "train": []} for name in names}
        for step in range(settings.warmup + settings.repeats):
            for phase in ("infer", "train"):
                for name in names:  # A B A B: drift hits both models alike
                    work = works[name]
                    elapsed = _timed(work.infer if phase == "infer" else work.train_step, settings.device)
                    if step >= settings.warmup:
                        times[name][phase].append(elapsed)
        peaks.append(measure_matmul_peak(settings.device, settings.matmul_size))
        for name in names:
            flops = model_flops(name, settings, seq_len)
            train, infer = _stats(times[name]["train"]), _stats(times[name]["infer"])
            row = {
                "model": name,
                "seq_len": seq_len,
                "batch": settings.batch_size(seq_len),
                "tokens": settings.batch_size(seq_len) * seq_len,
                "labelled": settings.batch_size(seq_len) * settings.labelled_per_row(seq_len),
                "params": parameter_counts(works[name].model),
                "infer_s": infer,
                "train_s": train,
                "flops": flops,
                "train_flops_per_s": flops["train"] / train["median"],
                "infer_flops_per_s": flops["encoder_forward"] / infer["median"],
                "train_mfu": None,  # filled in below, against the best peak of the whole run
                "infer_mfu": None,
                "memory": None,
            }
            rows.append(row)
            log(
                f"N={seq_len:>6} B={row['batch']:>4} {name:>6}: encoder forward {infer['median'] * 1e3:9.1f} ms, "
                f"train step {train['median'] * 1e3:9.1f} ms, {row['train_flops_per_s'] / 1e9:6.1f} GFLOP/s"
            )
        if settings.profile == seq_len:
            profiles = {name: profile_step(works[name]) for name in names}
        del works
        gc.collect()
        if not settings.skip_memory:
            for row in rows:
                if row["seq_len"] == seq_len:
                    row["memory"] = measure_memory(row["model"], settings, seq_len, threads)
                    train_mem = row["memory"]["train"]
                    log(
                        f"N={seq_len:>6} {row['model']:>6}: training activation memory "
                        f"{train_mem['activation_mb']:.0f} MB (peak {train_mem['peak_mb']:.0f} MB)"
                    )
    peak = max(peaks)
    log(f"matmul peak, best of {len(peaks)} readings: {peak / 1e9:.1f} GFLOP/s")
    for row in rows:
        row["train_mfu"] = row["train_flops_per_s"] / peak
        row["infer_mfu"] = row["infer_flops_per_s"] / peak
    return {
        "settings": asdict(settings),
        "cogito_intermediate_size": settings.cogito_ffn,
        "dtype": dtype,
        "machine": machine,
        "matmul_peak_flops_per_s": peak,
        "matmul_peak_readings": peaks,
        "rows": rows,
        "ratios": _ratios(rows, "bert_sparse"),
        "ratios_stock_bert": _ratios(rows, "bert"),
        "memory_slopes_mb_per_1k_tokens": _slopes(rows),
        "profile": {"seq_len": settings.profile, "models": profiles} if profiles else None,
    }


def _row(rows: list[dict], name: str, seq_len: int) -> dict | None:
    return next((r for r in rows if r["model"] == name and r["seq_len"] == seq_len), None)


def _activation(row: dict, phase: str) -> float | None:
    memory = row["memory"]
    if not memory or not memory.get(phase):
        return None
    return memory[phase]["activation_mb"]


def _ratios(rows: list[dict], baseline: str) -> list[dict]:
    """`baseline` / Cogito per N where both ran: >1 means Cogito is faster or smaller. Beside each
    measured time ratio, the analytic FLOP ratio (what the matmul counts alone would predict)."""
    ratios = []
    for seq_len in sorted({r["seq_len"] for r in rows}):
        bert, cogito = _row(rows, baseline, seq_len), _row(rows, "cogito", seq_len)
        if bert is None or cogito is None:
            continue
        entry = {
            "seq_len": seq_len,
            "baseline": baseline,
            "infer_time": bert["infer_s"]["median"] / cogito["infer_s"]["median"],
            "infer_flops": bert["flops"]["encoder_forward"] / cogito["flops"]["encoder_forward"],
            "train_time": bert["train_s"]["median"] / cogito["train_s"]["median"],
            "train_flops": bert["flops"]["train"] / cogito["flops"]["train"],
            "train_memory": None,
            "infer_memory": None,
        }
        for phase in ("train", "infer"):
            b, c = _activation(bert, phase), _activation(cogito, phase)
            if b is not None and c:
                entry[f"{phase}_memory"] = b / c
        ratios.append(entry)
    return ratios


def _slopes(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    """Least-squares slope of activation memory against N, in MB per 1000 tokens of sequence length."""
    slopes = {}
    for name in MODELS:
        slopes[name] = {}
        for phase in ("train", "infer"):
            points = [(r["seq_len"] / 1000, _activation(r, phase)) for r in rows if r["model"] == name]
            points = [(x, y) for x, y in points if y is not None]
            slopes[name][phase] = linear_regression(*zip(*points)).slope if len(points) >= 2 else None
    return slopes


# ---------------------------------------------------------------------------------------------
# Reporting.


def _ms(stats: dict) -> str:
    return f"{stats['min'] * 1e3:.1f} / **{stats['median'] * 1e3:.1f}** / {stats['max'] * 1e3:.1f}"


def _gflop(flops: int) -> str:
    return f"{flops / 1e9:,.0f}" if flops >= 1e10 else f"{flops / 1e9:.3g}"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _ratio_table(ratios: list[dict], title: str) -> list[str]:
    """A baseline / Cogito table: measured median-time ratio beside the analytic FLOP ratio."""
    if not ratios:
        return []
    lines = [
        "",
        title + " Above 1× Cogito is faster or smaller; *FLOPs* is the analytic matmul-FLOP ratio, what the "
        "arithmetic alone predicts.",
        "",
        "| N | train step time | train FLOPs | encoder fwd time | encoder fwd FLOPs | train memory | fwd memory |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ratio in ratios:
        lines.append(
            f"| {ratio['seq_len']} | {_ratio(ratio['train_time'])} | *{_ratio(ratio['train_flops'])}* "
            f"| {_ratio(ratio['infer_time'])} | *{_ratio(ratio['infer_flops'])}* "
            f"| {_ratio(ratio['train_memory'])} | {_ratio(ratio['infer_memory'])} |"
        )
    return lines


def render_markdown(result: dict) -> str:
    s, machine = result["settings"], result["machine"]
    rows = result["rows"]
    params = {name: _row(rows, name, s["sizes"][0]) for name in MODELS}
    lines = [
        f"Run {machine['date']} at commit `{machine['commit']}` — {machine['cpu']}, "
        f"{machine['logical_cpus']} logical CPUs, torch {machine['torch']} with {machine['torch_threads']} threads, "
        f"transformers {machine['transformers']}; device {s['device']}, {result['dtype']}.",
        "",
        f"Models: H={s['hidden_size']}, L={s['num_layers']}, {s['num_heads']} heads, V={s['vocab_size']}, "
        f"dropout {s['dropout']}, random init, SDPA. BERT FFN {s['intermediate_size']}; Cogito gated FFN "
        f"{result['cogito_intermediate_size']}, C={s['concepts']} concepts, decoder `{s['decoder_type']}` × "
        f"{s['num_decoder_layers']}. Batch B = {s['tokens_per_batch']} // N (at least 1); "
        f"{s['mlm_probability']:.0%} of positions labelled. Cogito and `bert_sparse` decode only those; "
        f"the stock `bert` computes logits at every position (as transformers does), which its FLOPs include.",
        "",
        "Parameters (unique, tied embeddings once; the position table grows with N) at "
        f"N={s['sizes'][0]}: "
        + "; ".join(
            f"{name} {p['params']['total'] / 1e6:.2f} M total, {p['params']['encoder_layers'] / 1e6:.2f} M in "
            "encoder layers"
            for name, p in params.items()
            if p is not None
        )
        + ".",
        "",
        f"Times: min / **median** / max over {s['repeats']} runs after {s['warmup']} warm-up, alternating models. "
        f"GFLOP/s = analytic training FLOPs / median step; MFU against the measured matmul peak of "
        f"{result['matmul_peak_flops_per_s'] / 1e9:.1f} GFLOP/s (best of {len(result['matmul_peak_readings'])} "
        f"readings of {s['matmul_size']}² `torch.mm`, one per N and one at the start). Memory: activation = "
        "peak RSS during one step − "
        "RSS before it, in a fresh process per row.",
        "",
        "| model | N | B | params (M) | encoder fwd ms | train step ms | train GFLOP | GFLOP/s | MFU "
        "| train act. MB | fwd act. MB | train peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        peak = row["memory"]["train"]["peak_mb"] if row["memory"] else None
        lines.append(
            f"| {row['model']} | {row['seq_len']} | {row['batch']} | {row['params']['total'] / 1e6:.1f} "
            f"| {_ms(row['infer_s'])} | {_ms(row['train_s'])} | {_gflop(row['flops']['train'])} "
            f"| {row['train_flops_per_s'] / 1e9:.1f} | {row['train_mfu']:.0%} "
            f"| {_mb(_activation(row, 'train'))} | {_mb(_activation(row, 'infer'))} | {_mb(peak)} |"
        )
    lines += _ratio_table(
        result["ratios"],
        "**Like with like: BERT with the LM head at the labelled positions only (`bert_sparse`) / Cogito** — "
        "both score only the masked positions, so the ratio is the encoders' difference.",
    )
    lines += _ratio_table(
        result.get("ratios_stock_bert", []),
        "Second view: **stock `BertForMaskedLM` (logits at all B·N positions) / Cogito** — what a user of "
        "transformers' BERT would see; it adds BERT's dense `(B, N, V)` head work to the gap.",
    )
    slope_parts = []
    for name, slopes in result["memory_slopes_mb_per_1k_tokens"].items():
        if slopes["train"] is not None:
            infer = "—" if slopes["infer"] is None else f"{slopes['infer']:.1f}"
            slope_parts.append(f"{name} {slopes['train']:.1f} (train) / {infer} (fwd)")
    if slope_parts:
        lines += [
            "",
            "Slope of activation memory against N (least squares over the rows above, MB per 1k of N; "
            "tokens per batch fixed except where B hits 1): " + "; ".join(slope_parts) + ".",
        ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"cogito": "tab:blue", "bert_sparse": "tab:green", "bert": "tab:orange"}
    for name in MODELS:
        mine = [r for r in rows if r["model"] == name]
        if not mine:
            continue
        # Per 1000 tokens: B·N is constant until B reaches 1, and this keeps the rows after it comparable.
        sizes, per_k = [r["seq_len"] for r in mine], [1000 / r["tokens"] for r in mine]
        train = [r["train_s"]["median"] * 1e3 * k for r, k in zip(mine, per_k)]
        infer = [r["infer_s"]["median"] * 1e3 * k for r, k in zip(mine, per_k)]
        ax_time.plot(sizes, train, "o-", color=colours[name], label=f"{name} train step")
        ax_time.plot(sizes, infer, "s--", color=colours[name], label=f"{name} encoder fwd")
        memory = [(r["seq_len"], _activation(r, "train") * k) for r, k in zip(mine, per_k) if _activation(r, "train")]
        if memory:
            ax_mem.plot(*zip(*memory), "o-", color=colours[name], label=f"{name} train step")
    ax_time.set(
        xscale="log", yscale="log", xlabel="sequence length N", ylabel="ms per 1000 tokens", title="Median time"
    )
    ax_mem.set(
        xscale="log", yscale="log", xlabel="sequence length N", ylabel="MB per 1000 tokens", title="Activation memory"
    )
    if not ax_mem.lines:
        ax_mem.text(
            0.5, 0.5, "memory not measured (--skip_memory)", ha="center", va="center", transform=ax_mem.transAxes
        )
    for ax in (ax_time, ax_mem):
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8, loc="lower left")
    s = result["settings"]
    fig.suptitle(
        f"Cogito vs BERT (sparse head, stock), H={s['hidden_size']} L={s['num_layers']}, "
        f"{s['tokens_per_batch']} tokens per batch, "
        f"{result['dtype']}, {result['machine']['torch_threads']} threads",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(result: dict, output_dir: Path) -> dict[str, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": output_dir / "bench.md", "json": output_dir / "bench.json", "png": output_dir / "bench.png"}
    paths["md"].write_text(render_markdown(result))
    paths["json"].write_text(json.dumps(result, indent=2))
    plot(result, paths["png"])
    if result["profile"]:
        paths["profile"] = output_dir / f"profile_N{result['profile']['seq_len']}.md"
        paths["profile"].write_text(render_profile(result["profile"]["seq_len"], result["profile"]["models"]))
    return paths


# ---------------------------------------------------------------------------------------------
# Command line.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line `cogito bench: error: ...` (cli_main), not usage + exit
        raise ValueError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cogito bench",
        description="Cogito vs BERT masked-LM, side by side: time, memory and FLOPs against sequence length.",
    )
    d = DEFAULTS
    add = parser.add_argument
    add("--sizes", type=int, nargs="+", help=f"sequence lengths N (default {' '.join(map(str, d['sizes']))})")
    add("--hidden_size", type=int, help=f"H (default {d['hidden_size']})")
    add("--num_layers", type=int, help=f"L (default {d['num_layers']})")
    add("--num_heads", type=int, help=f"attention heads (default {d['num_heads']})")
    add("--intermediate_size", type=int, help=f"BERT FFN size (default {d['intermediate_size']})")
    add("--cogito_intermediate_size", type=int, help="Cogito gated-FFN size (default: 2/3 of BERT's, FLOP-matched)")
    add("--vocab_size", type=int, help=f"V (default {d['vocab_size']})")
    add("--concepts", type=int, help=f"Cogito concept tokens C (default {d['concepts']})")
    add("--decoder_type", choices=DECODER_TYPES, help=f"Cogito MLM decoder (default {d['decoder_type']})")
    add("--num_decoder_layers", type=int, help=f"Cogito decoder layers (default {d['num_decoder_layers']})")
    add("--tokens_per_batch", type=int, help=f"B·N kept constant (default {d['tokens_per_batch']})")
    add("--bert_max_size", type=int, help=f"skip BERT above this N (default {d['bert_max_size']})")
    add("--repeats", type=int, help=f"timed runs per model and N (default {d['repeats']})")
    add("--warmup", type=int, help=f"untimed runs first (default {d['warmup']})")
    add("--dropout", type=float, help=f"dropout of both models (default {d['dropout']})")
    add("--mlm_probability", type=float, help=f"labelled fraction of positions (default {d['mlm_probability']})")
    add("--matmul_size", type=int, help=f"side of the torch.mm peak measurement (default {d['matmul_size']})")
    add("--device", choices=("cpu", "cuda"), help="cpu (fp32) or cuda (bf16 autocast); default cpu")
    add("--threads", type=int, help="torch threads (default: torch.get_num_threads())")
    add("--seed", type=int, help=f"seed of weights and batches (default {d['seed']})")
    add("--skip_memory", action="store_true", default=None, help="do not spawn the memory-measuring subprocesses")
    add(
        "--gradient_checkpointing",
        action="store_true",
        default=None,
        help="recompute Cogito's layers in the backward pass (trades time for activation memory)",
    )
    add("--profile", type=int, metavar="N", help="also profile one training step of each model at this N")
    add("--output_dir", help=f"where bench.md, bench.json and bench.png go (default {d['output_dir']})")
    add(
        "--tiny",
        action="store_true",
        help="a preset that runs in seconds (H=64, L=2, V=1000, N=64 128); flags override it",
    )
    return parser


def settings_from_args(argv: list[str]) -> BenchSettings:
    args = vars(build_parser().parse_args(argv))
    values = dict(DEFAULTS)
    if args.pop("tiny"):
        values.update(TINY)
    values.update({key: value for key, value in args.items() if value is not None})
    return BenchSettings(**values)


def cli_main(argv: list[str]) -> int:
    from cogito.cli._args import check_output_dir

    try:
        settings = settings_from_args(argv)
        check_output_dir("--output_dir", settings.output_dir)  # before minutes of measuring
    except ValueError as err:
        print(f"cogito bench: error: {err}", file=sys.stderr)
        return 2
    result = run_bench(settings, log=lambda message: print(message, file=sys.stderr, flush=True))
    paths = write_outputs(result, Path(settings.output_dir))
    print(render_markdown(result))
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
