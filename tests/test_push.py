"""`cogito push`: the upload folder, its verification without the package, the Hub calls (a fake
`HfApi` at the method level), repo naming on the research log, and the token never leaking."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from huggingface_hub import CommitInfo, HfApi, ModelCard
from huggingface_hub.errors import RepositoryNotFoundError

from cogito import CogitoForMaskedLM
from cogito.cli import main as cogito_main
from cogito.cli.push import cli_main
from cogito.hub_cards.log import append_run, read_log
from cogito.hub_cards.push import (
    VerificationError,
    derive_repo_name,
    push,
    repo_names_for_log,
)

REPO = Path(__file__).resolve().parents[1]
RESEARCH_LOG = REPO / "experiments" / "experiment_log.md"
RUN_ID = "perceiver_mlm_H32L2C8_20260301_120000"
EARLIER_RUN_ID = "perceiver_mlm_H32L2C8_20260215_080000"  # same name before disambiguation
REPO_NAME = "perceiver-mlm-h32-l2-c8-20260301"  # the later of the two gets its date
FAKE_TOKEN = "hf_FAKEtokenThatMustNeverLeak0123456789"
PUBLISHED = {
    "README.md",
    "config.json",
    "configuration_cogito.py",
    "modeling_cogito.py",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    # sentence-transformers' configuration (SentenceTransformer(repo, trust_remote_code=True))
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
}
RESEARCH_NAMES = {
    "weighted_mlm_H512L2C128_20260117_153544": "weighted-mlm-l2",
    "perceiver_mlm_H512L2C128_20260118_172328": "perceiver-mlm-l2",
    "perceiver_posonly_mlm_H512L2C128_20260119_204015": "perceiver-posonly-mlm-l2",
    "weighted_mlm_H512L6C128_20260207_174251": "weighted-mlm-l6",
    "perceiver_posonly_mlm_H512L6C128_20260208_102656": "perceiver-posonly-mlm-l6",
    "perceiver_mlm_H512L6C128_20260208_211633": "perceiver-mlm-l6",
    "perceiver_mlm_H512L6C128_20260219_105435": "perceiver-mlm-l6-combined-kendall-gal",
    "perceiver_mlm_H512L6C128_20260220_184029": "perceiver-mlm-l6-combined-fixed-0.1",
}


def _research_rows_only(path: Path) -> Path:
    """The carried-over research rows, even if Cogito runs were appended to the repo's log since."""
    lines = RESEARCH_LOG.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [line for line in lines if not line.startswith("| 20") or any(run in line for run in RESEARCH_NAMES)]
    path.write_text("".join(keep), encoding="utf-8")
    assert [r.run_id for r in read_log(path)] == list(RESEARCH_NAMES)
    return path


def _row(run_id: str, date: str, **cells: str) -> dict[str, str]:
    return {"Date": date, "Run ID / Model Type": f"`{run_id}`", **cells}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A pretraining output folder as `cogito pretrain` leaves it, junk included."""
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    CogitoForMaskedLM(tiny_config()).save_pretrained(root)
    tiny_tokenizer.save_pretrained(root)
    (root / "cogito_run.json").write_text(
        json.dumps({"run_id": RUN_ID, "concept_losses": "none", "loss_weighting": "kendall_gal", "loss_weight": None})
    )
    # What must never be published: checkpoints, optimizer state, trainer files, loggers' dirs.
    (root / "checkpoint-10").mkdir()
    (root / "checkpoint-10" / "optimizer.pt").write_bytes(b"\0" * 64)
    (root / "training_args.bin").write_bytes(b"\0" * 16)
    for name in ("trainer_state.json", "all_results.json", "cogito_summary.json"):
        (root / name).write_text("{}")
    (root / "wandb" / "offline-run-1").mkdir(parents=True)
    (root / "runs").mkdir()
    (root / "pytorch_model.bin").write_bytes(b"\0" * 16)
    return root


@pytest.fixture(scope="module")
def log_path(tmp_path_factory) -> Path:
    """The research log plus two tiny runs that map to the same plain name."""
    path = _research_rows_only(tmp_path_factory.mktemp("log") / "experiment_log.md")
    append_run(path, _row(EARLIER_RUN_ID, "2026-02-15", Architecture="H32 L2 C8", **{"Concept Losses": "None"}))
    append_run(
        path,
        _row(
            RUN_ID,
            "2026-03-01",
            Architecture="H32 L2 C8",
            **{
                "Pretraining Data": "Minipile (1x)",
                "Concept Losses": "None",
                "MLM Loss": "5.120",
                "Eff. Rank": "**3.1 / 8** (38.8%)",
                "Key GLUE Scores": "**MRPC:** 70.1% <br> **STS-B:** 0.210",
            },
        ),
    )
    return path


def _no_hub(*args, **kwargs):
    raise AssertionError("a dry run must not call the Hub")


@pytest.fixture(scope="module")
def dry_run(run_dir, log_path, tmp_path_factory):
    """One `cogito push --dry_run` (the verification subprocess runs once for all its tests)."""
    output = tmp_path_factory.mktemp("dry") / "upload"
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", FAKE_TOKEN)
        for method in ("whoami", "create_repo", "upload_folder", "repo_info"):
            mp.setattr(HfApi, method, _no_hub)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli_main(
                [
                    "--model_name_or_path",
                    str(run_dir),
                    "--experiment_log",
                    str(log_path),
                    "--namespace",
                    "alice",
                    "--dry_run",
                    "--output_dir",
                    str(output),
                ]
            )
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "folder": output}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- dry run


def test_dry_run_folder_holds_exactly_the_published_files(dry_run, run_dir):
    assert dry_run["code"] == 0, dry_run["stderr"]
    files = _files(dry_run["folder"])
    assert set(files) == PUBLISHED
    for name in PUBLISHED - {"README.md"}:
        assert files[name] == (run_dir / name).read_bytes(), name


def test_dry_run_folder_loads_with_every_auto_class_without_cogito(dry_run):
    out = dry_run["stdout"]
    for line in (
        "AutoConfig: CogitoConfig",
        "AutoModel: CogitoModel",
        "AutoModelForMaskedLM: CogitoForMaskedLM",
        "AutoModelForSequenceClassification: CogitoForSequenceClassification logits (1, 2)",
        "fill-mask:",
    ):
        assert line in out
    config = json.loads((dry_run["folder"] / "config.json").read_text())
    assert set(config["auto_map"]) >= {
        "AutoConfig",
        "AutoModel",
        "AutoModelForMaskedLM",
        "AutoModelForSequenceClassification",
    }


def test_dry_run_card_names_the_disambiguated_repo_and_has_model_index(dry_run):
    card = ModelCard.load(dry_run["folder"] / "README.md")
    assert f'repo_id = "alice/{REPO_NAME}"' in card.text
    results = card.data.to_dict()["model-index"][0]["results"]
    assert {r["metrics"][0]["type"] for r in results} == {"f1", "pearsonr"}
    assert card.data.pipeline_tag == "fill-mask"
    assert "Eff" not in card.data.to_dict()  # metadata holds Hub fields only


def test_dry_run_prints_the_plan_and_calls_no_hub(dry_run):
    out = dry_run["stdout"]
    assert "nothing was uploaded" in out
    assert f"repo id:    alice/{REPO_NAME}" in out
    assert (
        f"'perceiver-mlm-h32-l2-c8' is taken by an earlier run of the log ({EARLIER_RUN_ID}), so this run's "
        "date is appended" in out
    )
    assert "model.safetensors" in out and "total" in out
    assert "model-index results: ['GLUE MRPC f1=70.1', 'GLUE STS-B pearsonr=0.21']" in out
    assert f"folder kept at {dry_run['folder'].resolve()}" in out


def test_dry_run_leaks_no_token(dry_run):
    assert FAKE_TOKEN not in dry_run["stdout"] + dry_run["stderr"]
    assert all(FAKE_TOKEN.encode() not in data for data in _files(dry_run["folder"]).values())


def test_dry_run_without_namespace_is_refused(run_dir, log_path):
    with pytest.raises(ValueError, match="--dry_run makes no Hub call.*--namespace"):
        push(run_dir, log=log_path, dry_run=True)


def test_output_that_is_not_empty_is_refused(run_dir, log_path, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an empty directory"):
        push(run_dir, log=log_path, namespace="alice", dry_run=True, output=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


# --------------------------------------------------------------------------- refused folders


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


@pytest.mark.parametrize("drop", [None, "AutoModelForSequenceClassification", "AutoModel"])
def test_folder_without_full_auto_map_is_refused(run_dir, log_path, tmp_path, drop):
    copy = _copy(run_dir, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    if drop is None:
        del config["auto_map"]
    else:
        del config["auto_map"][drop]
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="auto_map" + ("" if drop is None else f" lacks {drop}")):
        push(copy, log=log_path, namespace="alice", dry_run=True, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("missing", ["modeling_cogito.py", "configuration_cogito.py"])
def test_folder_without_code_files_is_refused(run_dir, log_path, tmp_path, missing):
    copy = _copy(run_dir, tmp_path)
    (copy / missing).unlink()
    with pytest.raises(ValueError, match=f"lacks the code file.*{missing}"):
        push(copy, log=log_path, namespace="alice", dry_run=True)


def test_folder_without_safetensors_is_refused(run_dir, log_path, tmp_path):
    copy = _copy(run_dir, tmp_path)
    (copy / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no model.safetensors.*found pytorch_model.bin"):
        push(copy, log=log_path, namespace="alice", dry_run=True)


class FakeHub:
    """Stands in for `HfApi` at the method level; records calls and what the folder held."""

    def __init__(self, *, existing_private: bool | None = None):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.uploaded: dict[str, bytes] = {}
        self.existing_private = existing_private

    def whoami(self, *args, **kwargs):
        self.calls.append(("whoami", args, kwargs))
        return {"name": "alice", "type": "user"}

    def repo_info(self, repo_id, *args, **kwargs):
        self.calls.append(("repo_info", (repo_id, *args), kwargs))
        if self.existing_private is None:
            raise RepositoryNotFoundError("404 repo not found", response=None)
        return type("Info", (), {"private": self.existing_private})()

    def create_repo(self, repo_id, *args, **kwargs):
        self.calls.append(("create_repo", (repo_id, *args), kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, *args, **kwargs):
        self.calls.append(("upload_folder", args, kwargs))
        self.uploaded = _files(Path(kwargs["folder_path"]))  # the folder is temporary: snapshot it now
        oid = "0123456789abcdef0123456789abcdef01234567"
        return CommitInfo(
            commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/{oid}",
            commit_message=kwargs["commit_message"],
            commit_description="",
            oid=oid,
        )

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


def test_broken_model_code_fails_verification_and_nothing_is_uploaded(run_dir, log_path, tmp_path):
    copy = _copy(run_dir, tmp_path)
    with open(copy / "modeling_cogito.py", "a") as handle:
        handle.write('\nraise RuntimeError("broken on purpose")\n')
    hub = FakeHub()
    # Code that is not this cogito's own is neither run nor published without the opt-in.
    with pytest.raises(ValueError, match="modeling_cogito.py differs from this cogito's own"):
        push(copy, log=log_path, namespace="alice", output=tmp_path / "out", api=hub)
    with pytest.raises(VerificationError, match="(?s)does not load without the cogito package.*broken on purpose"):
        push(copy, log=log_path, namespace="alice", output=tmp_path / "out", api=hub, trust_remote_code=True)
    assert "create_repo" not in hub.names and "upload_folder" not in hub.names
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out.staging-") for p in tmp_path.iterdir())


# --------------------------------------------------------------------------- real push, fake Hub


def test_push_creates_the_repo_and_uploads_exactly_the_folder_without_leaking_the_token(
    run_dir, log_path, monkeypatch, capsys
):
    hub = FakeHub()
    for method in ("whoami", "repo_info", "create_repo", "upload_folder"):
        # HfApi(...) is built by push itself from the token: patch the class's methods.
        monkeypatch.setattr(HfApi, method, lambda self, *a, _m=method, **k: getattr(hub, _m)(*a, **k))
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    code = cogito_main(
        ["push", "--model-dir", str(run_dir), "--log", str(log_path), "--revision-message", "first upload"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert hub.names == ["whoami", "create_repo", "upload_folder"]
    assert hub.calls[1] == ("create_repo", (f"alice/{REPO_NAME}",), {"private": False, "exist_ok": True})
    upload = hub.calls[2][2]
    assert upload["repo_id"] == f"alice/{REPO_NAME}" and upload["commit_message"] == "first upload"
    assert set(hub.uploaded) == PUBLISHED
    assert not Path(upload["folder_path"]).exists()  # the temporary folder is removed after the upload
    assert f"https://huggingface.co/alice/{REPO_NAME}/commit/0123456789abcdef" in out
    assert "namespace from your Hub login" in out
    assert FAKE_TOKEN not in out + err
    assert all(FAKE_TOKEN.encode() not in data for data in hub.uploaded.values())


def test_private_push_is_refused_when_the_repo_exists_public(run_dir, log_path, tmp_path):
    hub = FakeHub(existing_private=False)
    with pytest.raises(ValueError, match="already exists and is public"):
        push(run_dir, log=log_path, repo_id="alice/mine", private=True, api=hub, output=tmp_path / "out")
    assert hub.names == ["repo_info"]
    assert not (tmp_path / "out").exists()  # refused before anything was assembled


def test_push_without_a_token_says_how_to_log_in(run_dir, log_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr("cogito.hub_cards.push.get_token", lambda: None)  # no stored login either
    assert cli_main(["--model_name_or_path", str(run_dir), "--experiment_log", str(log_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cogito push: error: no Hugging Face token found; log in with `hf auth login`")


# --------------------------------------------------------------------------- run ids and inputs


def test_unknown_run_id_lists_close_matches(run_dir, log_path, capsys):
    code = cli_main(
        [
            "--model_name_or_path",
            str(run_dir),
            "--experiment_log",
            str(log_path),
            "--run_id",
            RUN_ID[:-1] + "1",
            "--namespace",
            "a",
            "--dry_run",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"no run '{RUN_ID[:-1]}1' in the log; close matches: {RUN_ID}" in err


def test_run_option_must_match_the_folders_run_file(run_dir, log_path):
    with pytest.raises(ValueError, match=f"is run '{RUN_ID}', not '{EARLIER_RUN_ID}'"):
        push(run_dir, log=log_path, run_id=EARLIER_RUN_ID, namespace="alice", dry_run=True)


def test_run_file_losses_must_agree_with_the_log_row(run_dir, log_path, tmp_path):
    copy = _copy(run_dir, tmp_path)
    (copy / "cogito_run.json").write_text(
        json.dumps({"run_id": RUN_ID, "concept_losses": "combined", "loss_weighting": "fixed"})
    )
    with pytest.raises(ValueError, match="concept_losses='combined' but the log row"):
        push(copy, log=log_path, namespace="alice", dry_run=True)


@pytest.mark.parametrize("bad", ["just-a-name", "a/b/c", "alice/bad--name", "alice/"])
def test_bad_repo_id_is_refused(run_dir, log_path, bad):
    with pytest.raises(ValueError, match=f"--repo_id {bad!r} (must be USER/NAME|is not a valid Hub repo id)"):
        push(run_dir, log=log_path, repo_id=bad, dry_run=True)


def test_repo_id_and_namespace_together_are_a_usage_error(run_dir, log_path, capsys):
    # The old hyphenated spellings are still read.
    code = cli_main(["--model-dir", str(run_dir), "--log", str(log_path), "--repo-id", "a/b", "--namespace", "a"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "cogito push: error: give --repo_id ('a/b') or --namespace ('a'), not both\n"


# --------------------------------------------------------------------------- names on the research log


def test_research_log_runs_get_their_plain_distinct_names(tmp_path):
    records = read_log(_research_rows_only(tmp_path / "log.md"))
    assert repo_names_for_log(records) == RESEARCH_NAMES
    derived = derive_repo_name("perceiver_mlm_H512L6C128_20260208_211633", records)
    assert (derived.name, derived.reason) == ("perceiver-mlm-l6", "derived from the run id")


def test_later_runs_with_a_taken_name_get_their_date_and_earlier_names_never_change(tmp_path):
    path = _research_rows_only(tmp_path / "log.md")
    before = repo_names_for_log(read_log(path))
    # Re-runs of the best L6 baseline: two on one day, one (with an extra _E tag) on the next.
    reruns = {  # run id -> (log date, expected name)
        "perceiver_mlm_H512L6C128_20260301_093000": ("2026-03-01", "perceiver-mlm-l6-20260301"),
        "perceiver_mlm_H512L6C128_20260301_170000": ("2026-03-01", "perceiver-mlm-l6-20260301-170000"),
        "perceiver_mlm_H512L6C128_E256_20260302_101010": ("2026-03-02", "perceiver-mlm-l6-20260302"),
    }
    for run_id, (date, _) in reruns.items():
        append_run(path, _row(run_id, date, **{"Concept Losses": "None"}))
        names = repo_names_for_log(read_log(path))
        assert {k: names[k] for k in before} == before  # appending never renames a published run
        before = names
    assert names["perceiver_mlm_H512L6C128_20260208_211633"] == "perceiver-mlm-l6"
    assert {k: names[k] for k in reruns} == {k: name for k, (_, name) in reruns.items()}
    assert len(set(names.values())) == len(names)
    assert repo_names_for_log(read_log(path)) == names  # deterministic
    derived = derive_repo_name("perceiver_mlm_H512L6C128_20260301_170000", read_log(path))
    assert derived.reason == (
        "derived from the run id; 'perceiver-mlm-l6' is taken by an earlier run of the log "
        "(perceiver_mlm_H512L6C128_20260208_211633), so this run's date and time are appended"
    )


def test_runs_that_cannot_be_told_apart_ask_for_a_repo_id(tmp_path):
    path = _research_rows_only(tmp_path / "log.md")
    for run_id in ("perceiver_mlm_H512L6C128_a", "perceiver_mlm_H512L6C128_b"):  # no timestamp, same date
        append_run(path, _row(run_id, "2026-03-05", **{"Concept Losses": "None"}))
    with pytest.raises(ValueError, match="cannot be given a unique repo name.*--repo_id"):
        derive_repo_name("perceiver_mlm_H512L6C128_b", read_log(path))
