"""``cogito push``: publish a trained run (weights, code, tokenizer, model card) to the Hub.

The repo-name rule and the token handling are described in ``cogito.hub_cards.push``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from cogito._io import DEFAULT_LOG, RUN_FILE
from cogito.cli._args import USER_ERRORS, cli_command, parse
from cogito.hub_cards.push import PushResult, push

# Old spellings still read (earlier releases' flags).
ALIASES = {
    "--model-dir": "--model_name_or_path",
    "--model_dir": "--model_name_or_path",
    "--run": "--run_id",
    "--log": "--experiment_log",
    "--repo-id": "--repo_id",
    "--revision-message": "--commit_message",
    "--dry-run": "--dry_run",
    "--output": "--output_dir",
}


@dataclass
class PushArguments:
    model_name_or_path: str = field(
        metadata={"help": "Output folder of `cogito pretrain` (a saved model + tokenizer)."}
    )
    run_id: str | None = field(
        default=None, metadata={"help": f"Run id of the log row (default: run_id from the folder's {RUN_FILE})."}
    )
    experiment_log: str = field(default=str(DEFAULT_LOG), metadata={"help": "Experiment log with the run's row."})
    repo_id: str | None = field(
        default=None, metadata={"help": "USER/NAME to push to (default: derived from the run, see the rule)."}
    )
    namespace: str | None = field(
        default=None, metadata={"help": "User or organisation for the derived name (default: your Hub login)."}
    )
    private: bool = field(
        default=False, metadata={"help": "Create the repo private (refused if it exists and is public)."}
    )
    commit_message: str | None = field(
        default=None, metadata={"help": "Commit message (default: 'Upload RUN_ID with cogito push')."}
    )
    dry_run: bool = field(
        default=False, metadata={"help": "Write and verify the folder, print the plan, call no Hub API."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Write the upload folder here and keep it (a new or empty directory)."}
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Verify and publish code files that differ from this cogito's own (review them first)."},
    )


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def format_plan(result: PushResult) -> str:
    """Human-readable summary of a push (the plan of a dry run)."""
    run = result.run
    width = max(len(name) for name in result.files)
    lines = [
        f"run:        {run.run_id} (log line {run.line})",
        f"repo id:    {result.repo_id}  ({result.repo_id_reason})",
        f"visibility: {'private' if result.private else 'public (new repo); an existing repo keeps its visibility'}",
        f"commit:     {result.commit_message}",
        f"folder:     {result.folder if result.folder is not None else '(temporary, removed after upload)'}",
        "files:",
        *(f"  {name.ljust(width)}  {_size(size):>9}" for name, size in result.files.items()),
        f"  {'total'.ljust(width)}  {_size(sum(result.files.values())):>9}",
        "card:",
        *(f"  {key}: {value}" for key, value in result.card_metadata.items()),
        "verified in a fresh process without cogito:",
        *(f"  {line}" for line in result.verification.splitlines()),
    ]
    return "\n".join(lines)


@cli_command("push")
def cli_main(argv: list[str]) -> int:
    """Entry point of ``cogito push``: 0 ok, 2 bad input, 1 the Hub refused or could not be reached."""
    (args,) = parse(
        "push",
        [PushArguments],
        argv,
        description="Publish a trained run (weights, code, tokenizer, model card from the experiment log) to the "
        "Hub. Repo name rule and token handling: see the docstring of cogito.hub_cards.push.",
        aliases=ALIASES,
    )
    try:
        result = push(
            args.model_name_or_path,
            run_id=args.run_id,
            log=args.experiment_log,
            repo_id=args.repo_id,
            namespace=args.namespace,
            private=args.private,
            commit_message=args.commit_message,
            dry_run=args.dry_run,
            output=args.output_dir,
            trust_remote_code=args.trust_remote_code,
        )
    except OSError as err:
        if isinstance(err, USER_ERRORS):
            raise
        # A Hub call failed (HTTP status, network, offline): not a usage error, not a bug.
        print(f"cogito push: error: {err}", file=sys.stderr)
        return 1
    if result.dry_run:
        print("cogito push --dry_run: nothing was uploaded")
        print(format_plan(result))
        print(f"folder kept at {result.folder}")
    else:
        print(format_plan(result))
        print(f"pushed {result.repo_id}: commit {result.commit_oid or '?'}")
        print(result.commit_url)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
