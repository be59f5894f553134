"""`cogito demo`: the whole loop in one command, offline, on the built-in corpus.

pretrain a small concept encoder with a concept regulariser → concept analysis (report + plots)
→ GLUE-format evaluation (a `--glue_dir` in GLUE layout, else built-in probe tasks with real
labels from the corpus) → a row in the experiment log → a model card and a Hub-ready folder that
loads with `AutoModel...(trust_remote_code=True)` → a summary with paths to everything.

Everything is written under `--output_dir`. The corpus, the trained tokenizer and the tokenized
corpus are cached (`$COGITO_CACHE`, the datasets cache), so a second run starts faster.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from cogito._wandb import setup_wandb
from cogito.configuration_cogito import DECODER_TYPES

# Sizes of the built-in demo and of the research runs (`--research_scale`).
DEMO_SCALE = dict(hidden_size=128, num_layers=2, concepts=32, max_seq_length=128, batch_size=32, max_steps=1500)
RESEARCH_SCALE = dict(hidden_size=512, num_layers=6, concepts=128, max_seq_length=512, batch_size=64, max_steps=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cogito demo",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output_dir", type=Path, default=Path("demo_output"), help="where every artefact goes")
    size = parser.add_argument_group("model size (defaults: a CPU-sized model that pretrains in a few minutes)")
    size.add_argument("--hidden_size", type=int, default=DEMO_SCALE["hidden_size"], help="width H")
    size.add_argument("--num_layers", type=int, default=DEMO_SCALE["num_layers"], help="encoder layers L")
    size.add_argument("--concepts", type=int, default=DEMO_SCALE["concepts"], help="concept tokens C")
    size.add_argument("--max_seq_length", type=int, default=DEMO_SCALE["max_seq_length"], help="tokens per example")
    size.add_argument("--decoder_type", default="perceiver", choices=DECODER_TYPES)
    size.add_argument(
        "--research_scale",
        action="store_true",
        help="H512 L6 C128, 512 tokens, batch 64 (the research log's size; needs a GPU to finish in hours)",
    )
    train = parser.add_argument_group("pretraining")
    train.add_argument("--max_steps", type=int, default=DEMO_SCALE["max_steps"], help="optimizer steps")
    train.add_argument("--batch_size", type=int, default=DEMO_SCALE["batch_size"], help="sequences per step")
    train.add_argument("--learning_rate", type=float, default=1e-3)
    train.add_argument("--concept_losses", default="combined", help="regularisers, space-separated, or 'none'")
    train.add_argument("--loss_weighting", default="fixed", choices=["fixed", "learnable", "kendall_gal"])
    train.add_argument("--loss_weight", type=float, default=0.1, help="total regulariser weight for 'fixed'")
    train.add_argument("--seed", type=int, default=42)
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument(
        "--glue_dir",
        type=Path,
        default=None,
        help="GLUE-layout folder (<TASK>/train.tsv, dev.tsv), e.g. ../shared/data/glue; default: built-in probe tasks",
    )
    evaluation.add_argument("--tasks", nargs="+", default=None, help="tasks to run (default: every task found)")
    evaluation.add_argument("--glue_epochs", type=float, default=3.0, help="fine-tuning epochs per task")
    evaluation.add_argument("--glue_max_train_samples", type=int, default=3000, help="cap on training rows per task")
    evaluation.add_argument(
        "--no_baseline",
        action="store_true",
        help="skip fine-tuning a randomly initialised twin of the model (the reference the scores are read against)",
    )
    evaluation.add_argument("--analysis_samples", type=int, default=512, help="validation sentences for the analysis")
    publish = parser.add_argument_group("log and card")
    publish.add_argument(
        "--experiment_log",
        type=Path,
        default=None,
        help="experiment log to append to (default: OUTPUT_DIR/experiment_log.md)",
    )
    publish.add_argument("--namespace", default="your-hf-username", help="Hub namespace used in the card and repo id")
    return parser


def _stage(name: str, timings: dict[str, float]):
    class _Timer:
        def __enter__(self):
            print(f"\n=== {name} ===", flush=True)
            self.started = time.perf_counter()

        def __exit__(self, *exc):
            timings[name] = round(time.perf_counter() - self.started, 1)
            if exc[0] is None:
                print(f"--- {name}: {timings[name]} s", flush=True)

    return _Timer()


def pretrain_stage(args: argparse.Namespace, run_dir: Path, log_path: Path) -> dict[str, Any]:
    from cogito.training.pretrain import parse_args, pretrain

    argv = [
        "--output_dir",
        str(run_dir),
        "--hidden_size",
        str(args.hidden_size),
        "--num_hidden_layers",
        str(args.num_layers),
        "--concept_num",
        str(args.concepts),
        "--decoder_type",
        args.decoder_type,
        "--max_seq_length",
        str(args.max_seq_length),
        "--per_device_train_batch_size",
        str(args.batch_size),
        "--per_device_eval_batch_size",
        str(args.batch_size),
        "--learning_rate",
        str(args.learning_rate),
        "--lr_scheduler_type",
        "cosine",
        "--warmup_steps",
        str(min(100, max(1, args.max_steps // 10))) if args.max_steps else "1500",
        "--weight_decay",
        "0.01",
        "--max_grad_norm",
        "1.0",
        "--logging_steps",
        str(max(1, (args.max_steps or 2000) // 30)),
        "--eval_strategy",
        "steps",
        "--eval_steps",
        str(max(1, (args.max_steps or 2000) // 5)),
        "--save_steps",
        str(max(1, (args.max_steps or 2000) // 5)),
        "--save_total_limit",
        "2",
        "--max_eval_samples",
        "512",
        "--concept_losses",
        args.concept_losses,
        "--seed",
        str(args.seed),
        "--experiment_log",
        str(log_path),
        "--report_to",
        "wandb",
        "--dataloader_num_workers",
        "0",
    ]
    if args.max_steps:
        argv += ["--max_steps", str(args.max_steps)]
    else:
        argv += ["--num_train_epochs", "20"]
    if args.concept_losses != "none":
        argv += ["--loss_weighting", args.loss_weighting]
        if args.loss_weighting == "fixed":
            argv += ["--loss_weight", str(args.loss_weight)]
    if args.research_scale:
        argv += ["--config_overrides", "intermediate_size=2048", "--tokenizer_vocab_size", "30522"]
    return pretrain(*parse_args(argv))


def analysis_stage(model_dir: Path, output_dir: Path, samples: int, max_length: int) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from cogito.data.corpus import builtin_text_files
    from cogito.evaluation.analysis import collect_concept_states, format_summary, grade_geometry, write_report
    from cogito.modeling_cogito import CogitoModel

    lines = [line for line in builtin_text_files()["validation"].read_text().splitlines() if line.strip()]
    model = CogitoModel.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    states = collect_concept_states(model, tokenizer, lines[:samples], max_length=max_length)
    metrics = write_report(states, output_dir)
    print(format_summary(metrics, grade_geometry(metrics)))
    return metrics


def glue_tasks_in(glue_dir: Path) -> list[str]:
    """The GLUE tasks whose folder (e.g. SST-2, RTE) exists in `glue_dir`."""
    from cogito.evaluation.glue.tasks import GLUE_TASKS, find_task_folder

    found = []
    for name, task in GLUE_TASKS.items():
        try:
            find_task_folder(task, glue_dir)
        except ValueError:
            continue
        found.append(name)
    return found


def glue_stage(
    args: argparse.Namespace, run_dir: Path, output_dir: Path, log_path: Path, run_id: str
) -> dict[str, Any]:
    """Fine-tune the pretrained model and (unless --no_baseline) a randomly initialised twin."""
    from transformers import AutoTokenizer, set_seed

    from cogito.evaluation.glue.run import parse_args as glue_args
    from cogito.evaluation.glue.run import run_glue
    from cogito.modeling_cogito import CogitoForMaskedLM

    if args.glue_dir is not None:
        tasks = args.tasks or glue_tasks_in(args.glue_dir)
        if not tasks:
            raise ValueError(f"--glue_dir {args.glue_dir} has no GLUE task folder (SST-2, RTE, MRPC, ...)")
    else:
        tasks = args.tasks or ["austen", "wordnet"]
    # Small models need a larger step than the research protocol's 1e-5 to move in 3 epochs;
    # the epoch is picked on a held-out slice of train, never on the reported validation set.
    common = [
        "--tasks",
        *tasks,
        "--heads",
        "via_decoder",
        "--learning_rate",
        "3e-4",
        "--per_device_train_batch_size",
        "32",
        "--per_device_eval_batch_size",
        "64",
        "--num_train_epochs",
        str(args.glue_epochs),
        "--warmup_steps",
        "20",
        "--max_seq_length",
        str(min(128, args.max_seq_length)),
        "--max_train_samples",
        str(args.glue_max_train_samples),
        "--selection",
        "heldout",
        "--logging_steps",
        "50",
        "--seed",
        str(args.seed),
    ]
    if args.glue_dir is not None:
        common += ["--data_dir", str(args.glue_dir)]
    results = {"tasks": tasks}
    pretrained = run_glue(
        glue_args(
            [
                "--model_name_or_path",
                str(run_dir),
                "--output_dir",
                str(output_dir / "glue" / "pretrained"),
                "--experiment_log",
                str(log_path),
                "--run_id",
                run_id,
                *common,
            ]
        )
    )
    results["pretrained"] = pretrained["scores"]
    if not args.no_baseline:
        baseline_dir = output_dir / "glue" / "random_init_model"
        config = CogitoForMaskedLM.config_class.from_pretrained(run_dir)
        set_seed(args.seed)
        CogitoForMaskedLM(config).save_pretrained(baseline_dir)
        AutoTokenizer.from_pretrained(run_dir).save_pretrained(baseline_dir)
        # The same task data: the probe tasks the first run wrote, or the --glue_dir already in `common`.
        same_data = (
            []
            if args.glue_dir is not None
            else ["--data_dir", str(output_dir / "glue" / "pretrained" / "probe_tasks")]
        )
        baseline = run_glue(
            glue_args(
                [
                    "--model_name_or_path",
                    str(baseline_dir),
                    "--output_dir",
                    str(output_dir / "glue" / "random_init"),
                    *same_data,
                    *common,
                ]
            )
        )
        results["random_init"] = baseline["scores"]
    for name, scores in results.items():
        if name != "tasks":
            print(f"{name:>12}: " + ", ".join(f"{key} {value:.4f}" for key, value in scores.items()))
    return results


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    if args.research_scale:
        # The preset fills in the sizes the user left at the demo's defaults; explicit flags win.
        for key, value in RESEARCH_SCALE.items():
            if getattr(args, key) == DEMO_SCALE[key]:
                setattr(args, key, value)
    output_dir: Path = args.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    log_path = args.experiment_log or output_dir / "experiment_log.md"
    setup_wandb("wandb", directory=output_dir)  # the pretraining stage reports to W&B (offline unless logged in)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    with _stage("1/5 pretraining on the built-in corpus", timings):
        run_dir = output_dir / "pretrain"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a demo run starts clean; caches live elsewhere
        pretrained = pretrain_stage(args, run_dir, log_path)
    with _stage("2/5 concept analysis", timings):
        geometry = analysis_stage(run_dir, output_dir / "analysis", args.analysis_samples, args.max_seq_length)

    evaluated = "pretrained model" if args.no_baseline else "pretrained vs randomly initialised"
    with _stage(f"3/5 GLUE-format evaluation ({evaluated})", timings):
        glue = glue_stage(args, run_dir, output_dir, log_path, pretrained["run_id"])
    with _stage("4/5 experiment log", timings):
        from cogito.hub_cards.log import find_run, read_log, update_run

        probe_scores = {k: v for k, v in glue["pretrained"].items() if k.split("/")[0] in ("austen", "wordnet")}
        if probe_scores:
            # Probe tasks are not GLUE: their scores go into the row's conclusion, next to the baseline.
            baseline = glue.get("random_init") or {}
            text = "Built-in probe tasks (accuracy, pretrained vs random init): " + "; ".join(
                f"{key.split('/')[0]} {value:.3f} vs {baseline.get(key, float('nan')):.3f}"
                for key, value in probe_scores.items()
            )
            update_run(log_path, pretrained["run_id"], {"Conclusion / Takeaway": text})
        row = find_run(read_log(log_path), pretrained["run_id"])
        print(f"{log_path}: row for {row.run_id} (line {row.line}): GLUE {row.cells.get('Key GLUE Scores')}")
    with _stage("5/5 model card and Hub-ready folder", timings):
        from cogito.hub_cards.push import push

        hub_dir = output_dir / "hub"
        if hub_dir.exists():
            shutil.rmtree(hub_dir)
        published = push(run_dir, log=log_path, namespace=args.namespace, dry_run=True, output=hub_dir)
        print(published.verification)

    summary = {
        "run_id": pretrained["run_id"],
        "pretrained_model": str(run_dir),
        "mlm_eval_loss": round(pretrained["metrics"]["eval_loss"], 4),
        "mlm_eval_accuracy": round(pretrained["metrics"].get("eval_accuracy", float("nan")), 4),
        "effective_rank": f"{geometry['effective_rank']:.2f} / {min(args.concepts, args.hidden_size)}",
        "analysis": str(output_dir / "analysis"),
        "glue_tasks": glue["tasks"],
        "glue_pretrained": glue["pretrained"],
        "glue_random_init": glue.get("random_init"),
        "glue_results": str(output_dir / "glue"),
        "experiment_log": str(log_path),
        "hub_folder": str(hub_dir),
        "model_card": str(hub_dir / "README.md"),
        "hub_repo_id": published.repo_id,
        "push_command": f"cogito push --model-dir {run_dir} --log {log_path} --repo-id {published.repo_id}",
        "timings_s": timings,
    }
    summary["total_s"] = round(time.perf_counter() - started, 1)
    return summary


def cli_main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    summary = run_demo(args)
    path = args.output_dir / "demo_summary.json"
    path.write_text(json.dumps(summary, indent=2))
    print("\n=== summary ===")
    print(json.dumps(summary, indent=2))
    print(f"(also written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
