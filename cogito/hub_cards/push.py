"""``cogito push``: publish one trained run (weights, code, tokenizer, model card) to the Hub.

The run's folder (the output of ``cogito pretrain``) holds far more than a Hub repo should:
checkpoints, optimizer states, ``training_args.bin``, W&B and TensorBoard logs. ``push``
copies only what a user of the model needs into a fresh upload folder, writes the model card
from the run's row of the experiment log, proves in a fresh process without the ``cogito``
package that the folder loads with every Auto class and runs a fill-mask pipeline, and only
then creates the repo and uploads the folder in one commit.

Repository names
----------------
The name is ``repo_name_for_run(run_id, concept_losses, weighting)`` (see ``naming.py``):
``perceiver_mlm_H512L6C128_20260208_211633`` -> ``perceiver-mlm-l6``; with ``combined`` +
``kendall_gal`` -> ``perceiver-mlm-l6-combined-kendall-gal``. When several rows of the log map
to the same name, the rule (:func:`repo_names_for_log`) is:

1. rows are named in log order; the earliest row keeps the plain name;
2. a later row whose name is taken gets ``-<YYYYMMDD>``: the date of the ``_YYYYMMDD_HHMMSS``
   timestamp that ends its run id (the log's Date column when the id has none);
3. if that is taken too (an earlier run of the same day), ``-<YYYYMMDD>-<HHMMSS>``;
4. a row for which all three are taken cannot be named: the push stops and asks for ``--repo_id``.

A row's name depends only on the rows above it and runs are only ever appended to the log, so
publishing a new run never renames one already on the Hub. ``--repo_id USER/NAME`` overrides it.

The Hub token comes from ``HF_TOKEN`` or the stored login (``huggingface_hub.get_token``). It is
handed to ``HfApi`` and nothing else: it is never printed, written to the folder or the card, and
the verification subprocess runs without it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import RepositoryNotFoundError
from huggingface_hub.utils import HFValidationError, validate_repo_id

from cogito._io import TOKENIZER_FILES, current_umask
from cogito.hub_cards.card import CogitoCardData, card_data_from_run, render_card
from cogito.hub_cards.folder import count_safetensors_parameters, mask_token_from_dir
from cogito.hub_cards.log import DEFAULT_LOG, RUN_FILE, RunRecord, find_run, read_log
from cogito.hub_cards.verify import VERIFY_TIMEOUT_S, VerificationError
from cogito.hub_cards.verify import verify_folder as verify
from cogito.modeling_cogito import write_sentence_transformers_config

CODE_FILES: tuple[str, ...] = ("configuration_cogito.py", "modeling_cogito.py")
# Every Auto class the card and the Hub widget rely on; transformers' save_pretrained writes only
# the saved class, so a folder missing one of these cannot serve that class.
REQUIRED_AUTO_CLASSES: tuple[str, ...] = (
    "AutoConfig",
    "AutoModel",
    "AutoModelForMaskedLM",
    "AutoModelForSequenceClassification",
)
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
CARD_FILE = "README.md"
LOGIN_HINT = "log in with `hf auth login` (or set the HF_TOKEN environment variable to a write token)"
_RUN_STAMP = re.compile(r"_(\d{8})_(\d{6})$")
_MAX_REPO_NAME = 96


@dataclasses.dataclass(frozen=True)
class DerivedName:
    """A repo name from the log and why it is that name."""

    name: str
    reason: str


@dataclasses.dataclass
class PushResult:
    """What ``push`` did (or, for a dry run, would do)."""

    run: RunRecord
    repo_id: str
    repo_id_reason: str
    private: bool
    commit_message: str
    folder: Path | None  # None after a real push without --output_dir: the temp folder is gone
    files: dict[str, int]  # file name -> size in bytes
    card: CogitoCardData
    card_metadata: dict[str, Any]
    verification: str  # the child's report
    dry_run: bool
    commit_url: str | None = None
    commit_oid: str | None = None


# --------------------------------------------------------------------------- repo names


def _base_name(run: RunRecord) -> str:
    # card_data_from_run owns how the weighting is written (``fixed=0.1``): reuse it so the
    # repo and the card's own repo name can never disagree.
    return card_data_from_run(run).repo_name


def _stamp(run: RunRecord) -> tuple[str, str | None] | None:
    """(YYYYMMDD, HHMMSS or None) of a run: from its id's timestamp, else the log's date."""
    match = _RUN_STAMP.search(run.run_id)
    if match:
        return match.group(1), match.group(2)
    if run.date is not None:
        return run.date.strftime("%Y%m%d"), None
    return None


def repo_names_for_log(records: list[RunRecord]) -> dict[str, str | None]:
    """Repo name of every nameable row, by run id (``None``: cannot be told apart; see module doc).

    Rows are named in log order and each takes the first free one of ``<name>``,
    ``<name>-<YYYYMMDD>``, ``<name>-<YYYYMMDD>-<HHMMSS>``: a row's name depends only on the rows
    above it, so appending runs never renames one already named.
    """
    names: dict[str, str | None] = {}
    taken: set[str] = set()
    for record in records:
        try:
            base = _base_name(record)
        except ValueError:
            continue  # a run id with no derivable name cannot take a name from one that has one
        candidates = [base]
        stamp = _stamp(record)
        if stamp is not None:
            candidates.append(f"{base}-{stamp[0]}")
            if stamp[1] is not None:
                candidates.append(f"{base}-{stamp[0]}-{stamp[1]}")
        name = next((candidate for candidate in candidates if candidate not in taken), None)
        names[record.run_id] = name
        if name is not None:
            taken.add(name)
    return names


def derive_repo_name(run_id: str, records: list[RunRecord]) -> DerivedName:
    """The Hub repo name of ``run_id`` under the module's rule, with the reason for it."""
    run = find_run(records, run_id)
    base = _base_name(run)  # raises the naming error for ids without a derivable name
    names = repo_names_for_log(records)
    name = names[run_id]
    same_base = [r.run_id for r in records if r.run_id in names and _safe_base(r) == base]
    if name is None:
        raise ValueError(
            f"run {run_id!r} cannot be given a unique repo name: runs {', '.join(same_base)} all map to "
            f"{base!r} and their run ids/dates do not tell them apart; pass --repo_id USER/NAME"
        )
    if len(name) > _MAX_REPO_NAME:
        raise ValueError(
            f"repo name {name!r} is longer than the Hub's {_MAX_REPO_NAME} characters; pass --repo_id USER/NAME"
        )
    if name == base:
        reason = "derived from the run id"
        if len(same_base) > 1:
            reason += f"; the earliest of {len(same_base)} runs of the log with this name, so it keeps it"
    else:
        holder = next(other for other, other_name in names.items() if other_name == base)
        appended = "date and time are" if "-" in name[len(base) + 1 :] else "date is"
        reason = (
            f"derived from the run id; {base!r} is taken by an earlier run of the log ({holder}), so this "
            f"run's {appended} appended"
        )
    return DerivedName(name=name, reason=reason)


def _safe_base(run: RunRecord) -> str | None:
    try:
        return _base_name(run)
    except ValueError:
        return None


def _split_repo_id(repo_id: str) -> tuple[str, str]:
    if repo_id.count("/") != 1:
        raise ValueError(f"--repo_id {repo_id!r} must be USER/NAME (exactly one '/')")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"--repo_id {repo_id!r} is not a valid Hub repo id: {err}") from None
    namespace, name = repo_id.split("/")
    return namespace, name


# --------------------------------------------------------------------------- the model folder


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value


def run_id_from_dir(model_dir: Path) -> str:
    """The ``run_id`` recorded in ``model_dir/cogito_run.json``."""
    path = model_dir / RUN_FILE
    if not path.is_file():
        raise ValueError(f"{model_dir} has no {RUN_FILE} (written by `cogito pretrain`); pass --run_id RUN_ID")
    run_id = _read_json(path).get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"{path} has no run_id string; pass --run_id RUN_ID")
    return run_id


def _check_run_file_matches_log(model_dir: Path, run: RunRecord) -> None:
    """A ``cogito_run.json`` must describe the same run as the log row the card is built from."""
    path = model_dir / RUN_FILE
    if not path.is_file():
        return
    info = _read_json(path)
    if info.get("run_id") not in (None, run.run_id):
        raise ValueError(f"{path} is run {info['run_id']!r}, not {run.run_id!r}: these weights belong to another run")
    losses = info.get("concept_losses")
    if isinstance(losses, str):
        listed = [] if losses.strip().lower() == "none" else losses.split()
        if listed != run.concept_losses:
            raise ValueError(
                f"{path} says concept_losses={losses!r} but the log row of {run.run_id!r} (line {run.line}) says "
                f"{run.concept_losses or 'none'}; fix the log row before publishing"
            )
        weighting = info.get("loss_weighting")
        if listed and run.loss_weighting is not None and weighting not in (None, run.loss_weighting):
            raise ValueError(
                f"{path} says loss_weighting={weighting!r} but the log row of {run.run_id!r} says "
                f"{run.loss_weighting!r}"
            )


def _weight_files(model_dir: Path) -> list[str]:
    if (model_dir / WEIGHTS_FILE).is_file():
        return [WEIGHTS_FILE]
    index = model_dir / WEIGHTS_INDEX
    if index.is_file():
        weight_map = _read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{index} has no weight_map")
        shards = sorted(set(weight_map.values()))
        missing = [s for s in shards if "/" in s or not (model_dir / s).is_file()]
        if missing:
            raise ValueError(f"{index} lists shards that are not in {model_dir}: {', '.join(missing)}")
        return [WEIGHTS_INDEX, *shards]
    found = sorted(p.name for p in model_dir.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".safetensors"))
    raise ValueError(
        f"{model_dir} has no {WEIGHTS_FILE} (or {WEIGHTS_INDEX} with its shards); only safetensors weights are "
        f"published{'; found ' + ', '.join(found) if found else ''}. Re-save the model with save_pretrained"
    )


def check_model_dir(model_dir: Path) -> tuple[list[str], dict[str, Any]]:
    """The files of ``model_dir`` to publish, and its parsed config.json.

    Refuses a folder whose config lacks an ``auto_map`` entry for any of the four Auto classes,
    or whose code files are missing: such a repo is unusable without cloning Cogito.
    """
    if not model_dir.is_dir():
        raise ValueError(f"--model_name_or_path {model_dir} is not a directory")
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{model_dir} has no config.json: is it a saved model folder?")
    config = _read_json(config_path)
    auto_map = config.get("auto_map")
    if not isinstance(auto_map, dict):
        raise ValueError(
            f"{config_path} has no auto_map: the repo would not load with trust_remote_code. Re-save the model with "
            f"this version of cogito (CogitoConfig sets auto_map for {', '.join(REQUIRED_AUTO_CLASSES)})"
        )
    missing_classes = [name for name in REQUIRED_AUTO_CLASSES if name not in auto_map]
    if missing_classes:
        raise ValueError(
            f"{config_path} auto_map lacks {', '.join(missing_classes)} (has "
            f"{', '.join(sorted(auto_map)) or 'nothing'}); "
            f"all of {', '.join(REQUIRED_AUTO_CLASSES)} are needed"
        )
    for name in REQUIRED_AUTO_CLASSES:
        reference = auto_map[name]
        module = reference.rsplit(".", 1)[0] if isinstance(reference, str) else None
        if module is None or f"{module}.py" not in CODE_FILES:
            raise ValueError(
                f"{config_path} auto_map[{name!r}] = {reference!r} must name a class in one of the published code "
                f"files {', '.join(CODE_FILES)} (e.g. 'modeling_cogito.CogitoModel')"
            )
    missing_code = [name for name in CODE_FILES if not (model_dir / name).is_file()]
    if missing_code:
        raise ValueError(
            f"{model_dir} lacks the code file(s) {', '.join(missing_code)} that auto_map points to; "
            "save the model with save_pretrained, which copies them"
        )
    if not (model_dir / "tokenizer_config.json").is_file():
        raise ValueError(
            f"{model_dir} has no tokenizer_config.json: save the tokenizer into the folder (tokenizer.save_pretrained)"
        )
    tokenizer_files = [name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    files = ["config.json", *CODE_FILES, *_weight_files(model_dir), *tokenizer_files]
    root = model_dir.resolve()
    for name in files:
        # Only the folder's own files are published: a symlink could point at any file on this machine.
        path = model_dir / name
        if path.is_symlink() or root not in path.resolve().parents:
            raise ValueError(
                f"{path} is a symbolic link or resolves outside {model_dir}; only regular files inside the model "
                "folder are published: replace it with a copy of the file"
            )
    return files, config


def check_code_is_cogitos(model_dir: Path, trust_remote_code: bool = False) -> None:
    """Refuse a folder whose code files differ from this Cogito's own, unless ``trust_remote_code``:
    verifying the upload folder runs them, and they are what every user of the repo will run."""
    if trust_remote_code:
        return
    package = Path(__file__).resolve().parents[1]
    for name in CODE_FILES:
        if (model_dir / name).read_bytes() != (package / name).read_bytes():
            raise ValueError(
                f"{model_dir / name} differs from this cogito's own {name} (cogito/{name}): verifying and "
                "publishing the folder runs that code. Review it and pass --trust_remote_code true, or re-save "
                "the model with this cogito (save_pretrained copies its code)"
            )


# --------------------------------------------------------------------------- verification


def verify_folder(folder: Path, timeout: float = VERIFY_TIMEOUT_S) -> str:
    """Load ``folder`` as a user of the Hub repo would (`cogito.hub_cards.verify`); returns its report."""
    try:
        return verify(folder, timeout=timeout).report
    except VerificationError as err:
        raise VerificationError(f"nothing was uploaded: the upload folder {err}") from None


# --------------------------------------------------------------------------- the upload folder


def _card_metadata(card_text: str) -> dict[str, Any]:
    from huggingface_hub import ModelCard

    data = ModelCard(card_text).data.to_dict()
    results = data.get("model-index", [{}])[0].get("results", []) if data.get("model-index") else []
    return {
        "pipeline_tag": data.get("pipeline_tag"),
        "library_name": data.get("library_name"),
        "license": data.get("license"),
        "tags": data.get("tags", []),
        "datasets": data.get("datasets", []),
        "model-index results": [
            f"{r['dataset']['name']} {r['metrics'][0]['type']}={r['metrics'][0]['value']}" for r in results
        ],
    }


def _assemble(model_dir: Path, files: list[str], card_text: str, destination: Path) -> dict[str, int]:
    """Copy ``files`` and write the card into the (empty) ``destination``; sizes by name."""
    for name in files:
        shutil.copyfile(model_dir / name, destination / name)  # contents only: no 0600 modes, no symlinks
    # `SentenceTransformer(repo, trust_remote_code=True)` pools the concepts, also for folders saved
    # before save_pretrained wrote these files.
    write_sentence_transformers_config(destination)
    (destination / CARD_FILE).write_text(card_text, encoding="utf-8")
    return {p.name: p.stat().st_size for p in sorted(destination.iterdir())}


def _prepare_output(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(f"--output_dir {output} already exists and is not an empty directory; choose a new path")
    output.parent.mkdir(parents=True, exist_ok=True)


def _resolve_api(api: HfApi | None) -> HfApi:
    if api is not None:
        return api
    token = get_token()
    if not token:
        raise ValueError(f"no Hugging Face token found; {LOGIN_HINT}")
    return HfApi(token=token)


def _hub_call(what: str, call, *args, **kwargs):
    """Run one Hub call; any failure (HTTP status, network, offline mode) becomes one OSError.

    huggingface_hub raises OSError subclasses for HTTP errors but its transport's own exception
    types for network failures; the CLI reports both the same way. Messages carry no headers,
    so no token.
    """
    try:
        return call(*args, **kwargs)
    except Exception as err:
        raise OSError(f"{what} failed: {type(err).__name__}: {err}") from err


def _namespace_from_login(api: HfApi) -> str:
    """The user name of the token's account (``whoami``)."""
    user = _hub_call("asking the Hub who you are (whoami)", api.whoami)
    name = user.get("name") if isinstance(user, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"the Hub did not return a user name for this token; pass --namespace USER or {LOGIN_HINT}")
    return name


def _refuse_public_existing_repo(api: HfApi, repo_id: str) -> None:
    """``create_repo(exist_ok=True)`` keeps an existing repo as it is: --private would be ignored."""
    try:
        info = api.repo_info(repo_id)
    except RepositoryNotFoundError:
        return  # create_repo will make it, private
    except Exception as err:
        raise OSError(f"reading {repo_id} failed: {type(err).__name__}: {err}") from err
    if not info.private:
        raise ValueError(
            f"--private was given but {repo_id} already exists and is public; nothing was uploaded. "
            "Make it private in its settings on the Hub, or choose another --repo_id"
        )


def push(
    model_dir: str | os.PathLike[str],
    *,
    run_id: str | None = None,
    log: str | os.PathLike[str] = DEFAULT_LOG,
    repo_id: str | None = None,
    namespace: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    dry_run: bool = False,
    output: str | os.PathLike[str] | None = None,
    api: HfApi | None = None,
    verify_timeout: float = VERIFY_TIMEOUT_S,
    trust_remote_code: bool = False,
) -> PushResult:
    """Assemble, verify and (unless ``dry_run``) upload the run in ``model_dir``; see the module doc.

    ``api`` defaults to ``HfApi`` with the token from ``HF_TOKEN`` or the stored login. A dry run
    makes no Hub call at all, so it needs ``namespace`` or ``repo_id``. The folder's code files run
    (in the verification) only when they are this cogito's own or ``trust_remote_code`` is set.
    """
    model_dir = Path(model_dir)
    output_path = Path(output) if output is not None else None
    if repo_id is not None and namespace is not None:
        raise ValueError(f"give --repo_id ({repo_id!r}) or --namespace ({namespace!r}), not both")
    if dry_run and repo_id is None and namespace is None:
        raise ValueError(
            "--dry_run makes no Hub call, so it cannot ask the Hub who you are: pass --namespace USER or "
            "--repo_id USER/NAME"
        )

    # ---- everything that can be checked locally, before any Hub call
    files, config = check_model_dir(model_dir)
    check_code_is_cogitos(model_dir, trust_remote_code)
    run_id = run_id or run_id_from_dir(model_dir)
    if not Path(log).is_file():
        raise ValueError(f"--experiment_log {log}: no such file; give the experiment log that holds the run's row")
    records = read_log(log)
    run = find_run(records, run_id)
    _check_run_file_matches_log(model_dir, run)
    if repo_id is not None:
        repo_namespace, repo_name = _split_repo_id(repo_id)
        reason = "given with --repo_id"
    else:
        derived = derive_repo_name(run_id, records)
        repo_namespace, repo_name, reason = namespace, derived.name, derived.reason
    if output_path is not None:
        _prepare_output(output_path)

    hub = None if dry_run else _resolve_api(api)
    if hub is not None:
        if repo_namespace is None:
            repo_namespace = _namespace_from_login(hub)
            reason += "; namespace from your Hub login"
        if private:
            _refuse_public_existing_repo(hub, f"{repo_namespace}/{repo_name}")
    if repo_namespace is None:  # unreachable: dry runs without a namespace were refused above
        raise ValueError("no namespace: pass --namespace USER or --repo_id USER/NAME")
    full_repo_id = f"{repo_namespace}/{repo_name}"

    card = card_data_from_run(
        run,
        config=config,
        mask_token=mask_token_from_dir(model_dir),
        num_parameters=count_safetensors_parameters(model_dir),
        namespace=repo_namespace,
        revision="main",
    )
    # The card's title and usage snippet must name the repo actually pushed to (disambiguated
    # or overridden), not the plain name card_data_from_run derives.
    card = dataclasses.replace(card, repo_name=repo_name)
    card_text = str(render_card(card))
    message = commit_message or f"Upload {run.run_id} with cogito push"

    # ---- assemble in a staging folder; it becomes the output only once verified
    if output_path is not None:
        staging = Path(tempfile.mkdtemp(dir=output_path.parent, prefix=f".{output_path.name}.staging-"))
    else:
        staging = Path(tempfile.mkdtemp(prefix=f"cogito-push-{repo_name}-"))
    try:
        staging.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; the kept folder is an ordinary one
        sizes = _assemble(model_dir, files, card_text, staging)
        report = verify_folder(staging, timeout=verify_timeout)
        if output_path is not None:
            os.replace(staging, output_path)  # an empty target dir is replaced atomically
            folder = output_path.resolve()
        else:
            folder = staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    result = PushResult(
        run=run,
        repo_id=full_repo_id,
        repo_id_reason=reason,
        private=private,
        commit_message=message,
        folder=folder,
        files=sizes,
        card=card,
        card_metadata=_card_metadata(card_text),
        verification=report,
        dry_run=dry_run,
    )
    if hub is None:
        return result  # dry run

    try:
        _hub_call(f"creating {full_repo_id}", hub.create_repo, full_repo_id, private=private, exist_ok=True)
        commit = _hub_call(
            f"uploading to {full_repo_id}",
            hub.upload_folder,
            folder_path=str(folder),
            repo_id=full_repo_id,
            commit_message=message,
        )
    finally:
        if output_path is None:  # a temp folder of a real push is not kept
            shutil.rmtree(folder, ignore_errors=True)
            result.folder = None
    result.commit_url = getattr(commit, "commit_url", None) or str(commit)
    result.commit_oid = getattr(commit, "oid", None)
    return result


# --------------------------------------------------------------------------- command line
