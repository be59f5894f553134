"""The experiment log as a registry: parsing, column aliases, errors, appends and updates."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from conftest import shared_path

from cogito.hub_cards import log as log_module
from cogito.hub_cards.log import (
    STANDARD_COLUMNS,
    EffectiveRank,
    append_run,
    find_run,
    format_glue_cell,
    format_rank_cell,
    parse_log,
    read_log,
    update_run,
    write_run,
)

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "experiments" / "experiment_log.md"

RUN_IDS = [
    "weighted_mlm_H512L2C128_20260117_153544",
    "perceiver_mlm_H512L2C128_20260118_172328",
    "perceiver_posonly_mlm_H512L2C128_20260119_204015",
    "weighted_mlm_H512L6C128_20260207_174251",
    "perceiver_posonly_mlm_H512L6C128_20260208_102656",
    "perceiver_mlm_H512L6C128_20260208_211633",
    "perceiver_mlm_H512L6C128_20260219_105435",
    "perceiver_mlm_H512L6C128_20260220_184029",
]
GLUE = [
    {"mrpc": 82.2, "qqp": 61.5},
    {"mrpc": 80.6, "qqp": 67.3},
    {"mrpc": 81.8, "qqp": 69.2},
    {"mrpc": 80.2, "qqp": 66.3},
    {"mrpc": 81.0, "qqp": 72.3},
    {"mrpc": 81.3, "qqp": 72.5, "mnli_m": 59.1, "stsb": 0.627},
    {"mrpc": 81.4, "qqp": 58.7, "mnli_m": 48.9, "stsb": 0.341},
    {},
]
RANKS = [
    None,
    None,
    None,
    None,
    None,
    EffectiveRank(5.0, 128, 4.0),
    EffectiveRank(122.0, 128, 95.5),
    EffectiveRank(15.9, 128, 12.5),
]


@pytest.fixture(scope="module")
def records():
    return read_log(LOG)


def _fields(record) -> dict:
    """Typed fields of a record, without the layout-dependent ones."""
    values = dict(vars(record))
    values.pop("cells")
    values.pop("line")
    return values


def test_research_log_rows_are_read_in_order(records):
    assert [r.run_id for r in records] == RUN_IDS


@pytest.mark.parametrize("index", range(8))
def test_every_glue_cell_parses_to_exact_numbers(records, index):
    assert records[index].glue_scores == GLUE[index]
    assert records[index].glue_evaluated is (index != 7)


@pytest.mark.parametrize("index", range(8))
def test_every_rank_cell_parses_to_value_of_and_percent(records, index):
    assert records[index].effective_rank == RANKS[index]


def test_not_evaluated_row_has_no_scores_and_is_flagged(records):
    row = records[7]
    assert row.cells["Key GLUE Scores"] == "*Not evaluated*"
    assert row.glue_scores == {} and row.glue_evaluated is False


def test_typed_fields_of_the_research_rows(records):
    assert [r.decoder_type for r in records] == [
        "weighted",
        "perceiver",
        "perceiver_posonly",
        "weighted",
        "perceiver_posonly",
        "perceiver",
        "perceiver",
        "perceiver",
    ]
    assert [r.num_layers for r in records] == [2, 2, 2, 6, 6, 6, 6, 6]
    assert {(r.hidden_size, r.num_concepts) for r in records} == {(512, 128)}
    assert [r.epochs for r in records] == [20, 20, 20, 40, 40, 40, 20, 20]
    assert [r.mlm_loss for r in records] == [4.089, 4.010, 4.089, 3.415, 2.640, 2.537, 4.31, 3.57]
    assert [r.speed for r in records] == [None, None, None, 2.14, None, None, None, None]
    assert records[0].date == dt.date(2026, 1, 17) and records[7].date == dt.date(2026, 2, 21)
    assert records[0].machine == "Odra" and records[0].pretraining_data == "Minipile (1x)"
    assert all(r.concept_losses == [] and r.loss_weighting is None for r in records[:6])
    assert (records[6].concept_losses, records[6].loss_weighting, records[6].loss_weight) == (
        ["combined"],
        "kendall_gal",
        None,
    )
    assert (records[7].concept_losses, records[7].loss_weighting, records[7].loss_weight) == (
        ["combined"],
        "fixed",
        0.1,
    )
    assert records[5].wandb_url == "https://wandb.ai/ksopyla/MrCogito/runs/perceiver_mlm_H512L6C128_20260208_211633"
    assert records[5].conclusion == (
        "Best L6 canonical model. Wins 6/8 GLUE tasks. However, concept analysis reveals severe dimensional collapse."
    )
    assert records[3].cells["Architecture"] == "H512 **L6** C128"


def test_project_log_carries_the_research_rows_verbatim():
    reference_log = shared_path("reference", "master_experiment_log.md")  # ../shared; fails if missing
    reference = [line for line in reference_log.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    ours = [line for line in LOG.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    assert ours == reference


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _research_rows() -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in LOG.read_text().splitlines()[11:19]]


def test_renamed_reordered_and_extra_columns_parse_the_same(records):
    renames = {
        "Run ID / Model Type": "Run ID",
        "WandB Link": "W&B",
        "Eff. Rank": "Effective Rank",
        "Key GLUE Scores": "GLUE",
    }
    order = list(reversed(range(len(STANDARD_COLUMNS))))
    header = [renames.get(STANDARD_COLUMNS[i], STANDARD_COLUMNS[i]) for i in order] + ["GPU Hours"]
    rows = [[row[i] for i in order] + ["12"] for row in _research_rows()]
    text = (
        "# Log\n\nProse with a | pipe | table | that is not a run table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        + _table(header, rows)
    )
    reread = parse_log(text)
    assert [_fields(r) for r in reread] == [_fields(r) for r in records]
    assert reread[5].cells["GPU Hours"] == "12" and reread[5].cells["W&B"].startswith("[Link](")


def test_a_log_without_optional_columns_falls_back_to_the_run_id():
    text = _table(["Run ID", "MLM Loss"], [["`perceiver_mlm_H256L4C64_20260301_000000`", "3.1"]])
    (record,) = parse_log(text)
    assert (record.hidden_size, record.num_layers, record.num_concepts) == (256, 4, 64)
    assert record.mlm_loss == 3.1 and record.effective_rank is None and record.glue_scores == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("intro\n\n| Date | Run ID |\n|---|---|\n| 2026-01-01 | a_run | extra |\n", "line 5: row has 3 cells"),
        (
            "intro\n| Date | Run ID |\n| 2026-01-01 | a_run |\n",
            "line 3: the run table header (line 2) is not followed by a separator",
        ),
        (
            "\n| Date | Architecture | MLM Loss | Machine |\n|---|---|---|---|\n",
            "line 2: run table header has no required run_id",
        ),
        (
            "| Run ID | Key GLUE Scores |\n|---|---|\n| r1 | **MRPC:** 0.81 |\n",
            "line 3, column 'Key GLUE Scores': MRPC F1 is logged in %",
        ),
        (
            "| Run ID | Key GLUE Scores |\n|---|---|\n| r1 | **FOO:** 1% |\n",
            "line 3, column 'Key GLUE Scores': unknown GLUE task 'FOO'",
        ),
        (
            "| Run ID | Eff. Rank |\n|---|---|\n| r1 | lots |\n",
            "line 3, column 'Eff. Rank': expected an effective rank",
        ),
        ("| Run ID |\n|---|\n| r1 |\n| r1 |\n", "line 4: run id 'r1' already used on line 3"),
        ("| Run ID | Run |\n|---|---|\n", "line 1: columns ['Run ID', 'Run'] are the same field"),
        (
            "| Run ID | Architecture |\n|---|---|\n| perceiver_mlm_H512L6C128_x | H512 L2 C128 |\n",
            "says L2 but run id",
        ),
    ],
)
def test_malformed_tables_name_the_line_and_the_problem(text, message):
    with pytest.raises(ValueError) as info:
        parse_log(text, source="log.md")
    assert message in str(info.value)
    assert str(info.value).startswith("log.md")


def test_find_run_suggests_close_matches(records):
    with pytest.raises(ValueError, match="close matches: perceiver_mlm_H512L6C128_20260208_211633"):
        find_run(records, "perceiver_mlm_H512L6C128_20260208_211634")


def test_format_helpers_write_the_log_style():
    assert format_glue_cell({"mrpc": 81.3, "stsb": 0.627}) == "**MRPC:** 81.3% <br> **STS-B:** 0.627"
    assert format_glue_cell({"MNLI-m": 59.75, "qqp": 73}) == "**MNLI-m:** 59.75% <br> **QQP:** 73.0%"
    assert format_rank_cell(5.07, 128) == "**5.07 / 128** (4.0%)"
    assert format_rank_cell(122, 128) == "**122 / 128** (95.3%)"
    with pytest.raises(ValueError, match="unknown GLUE task 'imdb'.*MRPC"):
        format_glue_cell({"imdb": 90.0})
    with pytest.raises(ValueError, match="out of range"):
        format_glue_cell({"stsb": 62.7})
    with pytest.raises(ValueError, match=r"\[0, 128\], got 130"):
        format_rank_cell(130, 128)


@pytest.fixture
def log_copy(tmp_path):
    path = tmp_path / "log.md"
    path.write_text(LOG.read_text(encoding="utf-8") + "\n## Quick Links\n- [a report](x.md)\n", encoding="utf-8")
    return path


NEW_RUN = "perceiver_mlm_H512L6C128_20261201_120000"


def test_append_adds_one_row_after_the_table_and_leaves_every_other_byte(log_copy):
    before = log_copy.read_text(encoding="utf-8")
    record = append_run(
        log_copy, {"Date": "2026-12-01", "Run ID": f"`{NEW_RUN}`", "MLM Loss": "2.9", "Conclusion": "ok"}
    )
    after = log_copy.read_text(encoding="utf-8")
    lines = before.splitlines(keepends=True)
    new_row = f"| 2026-12-01 | `{NEW_RUN}` | -- | -- | -- | -- | -- | 2.9 | -- | -- | -- | -- | ok |\n"
    assert after == "".join(lines[:19] + [new_row] + lines[19:])
    assert record.run_id == NEW_RUN and record.line == 20 and record.mlm_loss == 2.9
    assert [r.run_id for r in read_log(log_copy)] == RUN_IDS + [NEW_RUN]


def test_append_escapes_pipes_and_newlines_so_the_table_survives(log_copy):
    hostile = "a | b\nsecond line\r\nthird `|` \\| end"
    record = append_run(log_copy, {"Run ID": NEW_RUN, "Conclusion / Takeaway": hostile})
    assert record.cells["Conclusion / Takeaway"] == "a | b <br> second line <br> third `|` \\| end"
    assert record.conclusion == "a | b second line third | | end"
    assert len(read_log(log_copy)) == 9


def test_append_rejects_unknown_columns_and_duplicate_runs(log_copy):
    before = log_copy.read_bytes()
    with pytest.raises(ValueError, match=r"unknown column 'Loss Curve'.*'Run ID / Model Type'.*'Key GLUE Scores'"):
        append_run(log_copy, {"Run ID": NEW_RUN, "Loss Curve": "x"})
    with pytest.raises(ValueError, match="already used"):
        append_run(log_copy, {"Run ID": RUN_IDS[0]})
    with pytest.raises(ValueError, match="column 'MLM Loss': expected a number"):
        append_run(log_copy, {"Run ID": NEW_RUN, "MLM Loss": "low"})
    assert log_copy.read_bytes() == before


def test_append_creates_a_missing_log_with_title_and_standard_header(tmp_path):
    path = tmp_path / "new" / "log.md"
    append_run(path, {"Run ID": NEW_RUN, "Key GLUE Scores": format_glue_cell({"mrpc": 81.3})})
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Experiment Log\n")
    assert "| " + " | ".join(STANDARD_COLUMNS) + " |" in text
    (record,) = read_log(path)
    assert record.glue_scores == {"mrpc": 81.3}


def test_update_changes_only_the_named_cells_of_one_row(log_copy):
    before = log_copy.read_text(encoding="utf-8")
    glue = format_glue_cell({"mrpc": 80.1, "qqp": 70.0, "stsb": 0.5})
    record = update_run(log_copy, RUN_IDS[7], {"Key GLUE Scores": glue, "W&B": "[Link](https://wandb.ai/x/y/runs/z)"})
    after = log_copy.read_text(encoding="utf-8")
    old_line, new_line = before.splitlines()[18], after.splitlines()[18]
    expected = old_line.replace(" *Not evaluated* ", f" {glue} ").replace(
        "(https://wandb.ai/ksopyla/MrCogito/runs/perceiver_mlm_H512L6C128_20260220_184029)",
        "(https://wandb.ai/x/y/runs/z)",
    )
    assert new_line == expected
    assert after == before.replace(old_line, expected)
    assert record.glue_scores == {"mrpc": 80.1, "qqp": 70.0, "stsb": 0.5} and record.glue_evaluated


def test_update_keeps_crlf_line_endings(tmp_path):
    path = tmp_path / "crlf.md"
    text = "# Log\r\n\r\n| Run ID | MLM Loss |\r\n|---|---|\r\n| r1 | 3.0 |\r\n| r2 | -- |\r\n"
    path.write_bytes(text.encode())
    update_run(path, "r2", {"MLM Loss": "2.5"})
    assert path.read_bytes() == text.replace("| r2 | -- |", "| r2 | 2.5 |").encode()


def test_write_run_appends_a_new_run_and_updates_an_existing_one_in_place(log_copy):
    before = log_copy.read_text(encoding="utf-8")
    record, updated = write_run(log_copy, {"Run ID / Model Type": f"`{NEW_RUN}`", "MLM Loss": "4.0"})
    assert not updated and record.mlm_loss == 4.0
    after_append = log_copy.read_text(encoding="utf-8")
    record, updated = write_run(log_copy, {"Run ID / Model Type": f"`{NEW_RUN}`", "MLM Loss": "3.5"})
    assert updated and record.mlm_loss == 3.5
    assert [r.run_id for r in read_log(log_copy)].count(NEW_RUN) == 1
    assert log_copy.read_text(encoding="utf-8") == after_append.replace("| 4.0 |", "| 3.5 |")

    # A research row (not in the last table's tail) is updated where it is; merge chooses the cells.
    seen = {}

    def keep_the_loss(existing, cells):
        seen["loss"] = existing.mlm_loss
        return {name: value for name, value in cells.items() if name != "MLM Loss"}

    cells = {"Run ID": RUN_IDS[0], "MLM Loss": "9.9", "Machine": "here"}
    record, updated = write_run(log_copy, cells, merge=keep_the_loss)
    assert updated and record.machine == "here" and record.mlm_loss == seen["loss"] != 9.9
    assert len(read_log(log_copy)) == len(parse_log(before, strict=False)) + 1


def test_update_of_an_unknown_run_lists_close_matches(log_copy):
    with pytest.raises(
        ValueError, match="no run 'weighted_mlm_H512L2C128_20260117_15354'.*close matches: weighted_mlm_H512L2C128"
    ):
        update_run(log_copy, "weighted_mlm_H512L2C128_20260117_15354", {"MLM Loss": "1"})


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_original_log_and_no_temp_file(log_copy, monkeypatch, failing):
    before = log_copy.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(f"simulated crash in os.{failing}")

    monkeypatch.setattr(log_module.os, failing, boom)
    with pytest.raises(OSError, match="simulated crash"):
        update_run(log_copy, RUN_IDS[0], {"MLM Loss": "1.0"})
    with pytest.raises(OSError, match="simulated crash"):
        append_run(log_copy, {"Run ID": NEW_RUN})
    assert log_copy.read_bytes() == before
    assert sorted(os.listdir(log_copy.parent)) == ["log.md"]


def _append_many(path: str, prefix: str, count: int) -> None:
    for i in range(count):
        append_run(path, {"Run ID": f"`{prefix}_mlm_H64L2C8_20260101_{i:06d}`"})


def test_concurrent_writers_lose_no_row(tmp_path):
    import multiprocessing

    log = tmp_path / "log.md"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(log), name, 15)) for name in ("weighted", "perceiver")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert len(read_log(log)) == 30
    assert sorted(os.listdir(tmp_path)) == ["log.md"]  # the filelock lock file is gone


# --------------------------------------------------------------------------- floors, other tasks, lenient reading


def test_glue_cells_with_floors_read_back_and_old_cells_still_read():
    cell = format_glue_cell({"mrpc": 82.2, "stsb": 0.627, "sickr": 0.064}, floors={"mrpc": 81.2, "stsb": 0.0})
    assert cell == "**MRPC:** 82.2% (floor 81.2) <br> **STS-B:** 0.627 (floor 0.000) <br> **SICK-R:** 0.064"
    (row,) = parse_log(_table(["Run ID", "Key GLUE Scores"], [["r1", cell]]))
    assert row.glue_scores == {"mrpc": 82.2, "stsb": 0.627, "sickr": 0.064}
    assert row.glue_floors == {"mrpc": 81.2, "stsb": 0.0} and row.glue_other == {} and row.problems == []
    (old,) = parse_log(
        _table(["Run ID", "GLUE"], [["r1", "**MRPC:** 80.7% <br> **SICK-E:** 57.78% <br> PAWS: 57.6%"]])
    )
    assert old.glue_scores == {"mrpc": 80.7, "sicke": 57.78, "paws": 57.6} and old.glue_floors == {}
    (spaced,) = parse_log(_table(["Run ID", "GLUE"], [["r1", "MRPC: 82.2 % (floor: 81.2%)"]]))
    assert spaced.glue_scores == {"mrpc": 82.2} and spaced.glue_floors == {"mrpc": 81.2}
    with pytest.raises(ValueError, match="floors given for \\['qqp'\\] without their score"):
        format_glue_cell({"mrpc": 82.2}, floors={"qqp": 50.0})
    with pytest.raises(ValueError, match="out of range"):
        format_glue_cell({"mrpc": 82.2}, floors={"mrpc": 0.812 * 1000})


RESEARCH_LIKE = (
    "# Log\n\n"
    "| Date | Run ID | MLM Loss | Key GLUE Scores |\n|---|---|---|---|\n"
    "| 2026-02-21 | perceiver_mlm_H512L6C128_20260220_184029 | 3.57 | **MRPC:** 80.7% <br> **PAWS:** 57.6% |\n"
    "| 2026-02-23 | diffusion_H512L2C128D2_20260223_203349 | 1.433 | **MRPC:** 80.0% <br> **STS-B:** 0.138 <br> "
    "**PAWS:** 55.98% <br> **SICK-R:** 0.064 <br> **SICK-E:** 57.78% <br> **XNLI:** 61.0% (dev) |\n"
    "| 2026-02-24 | weighted_mlm_H512L2C128_20260224_000000 | low | **MRPC:** 0.81 |\n"
    "| 2026-02-25 | weighted_mlm_H512L2C128_20260224_000000 | 2.0 | -- |\n"
    "| 2026-02-26 | perceiver_mlm_H512L2C128_20260226_000000 | 2.0 |\n"
)


def test_lenient_reading_keeps_every_row_it_can_and_names_what_it_could_not(tmp_path, caplog):
    path = tmp_path / "log.md"
    path.write_text(RESEARCH_LIKE, encoding="utf-8")
    with caplog.at_level("WARNING", logger="cogito.hub_cards.log"):
        records = read_log(path)
    assert [r.run_id for r in records] == [
        "perceiver_mlm_H512L6C128_20260220_184029",
        "diffusion_H512L2C128D2_20260223_203349",
        "weighted_mlm_H512L2C128_20260224_000000",
        "perceiver_mlm_H512L2C128_20260226_000000",
    ]  # the repeated run id is skipped; the short row is read by position
    sick = records[1]
    assert sick.glue_scores == {"mrpc": 80.0, "stsb": 0.138, "paws": 55.98, "sickr": 0.064, "sicke": 57.78}
    assert sick.glue_other == {"XNLI": "61.0% (dev)"} and sick.problems == []  # unknown label: kept, no problem
    bad = records[2]
    assert bad.mlm_loss is None and bad.glue_scores == {} and bad.glue_other == {"MRPC": "0.81"}
    assert len(bad.problems) == 2 and all(p.startswith(f"{path} line 7, column ") for p in bad.problems)
    assert any("column 'MLM Loss': expected a number" in p and p.endswith("(read as empty)") for p in bad.problems)
    assert any("MRPC F1 is logged in %" in p and p.endswith("(kept as written)") for p in bad.problems)
    assert records[3].mlm_loss == 2.0 and "row has 3 cells" in records[3].problems[0]
    warned = "\n".join(caplog.messages)
    assert "line 8: run id 'weighted_mlm_H512L2C128_20260224_000000' already used on line 7 (row skipped)" in warned
    assert "XNLI" not in warned  # an unknown task is not a problem of lenient reading
    with pytest.raises(ValueError, match="line 6, column 'Key GLUE Scores': unknown GLUE task 'XNLI'"):
        parse_log("".join(RESEARCH_LIKE.splitlines(keepends=True)[:6]), "log.md")  # strict: the first problem
    with pytest.raises(ValueError, match="line 9: row has 3 cells"):
        read_log(path, strict=True)


def test_writes_are_strict_only_on_the_cells_they_write(tmp_path):
    path = tmp_path / "log.md"
    path.write_text(RESEARCH_LIKE, encoding="utf-8")
    # a new row lands although other rows cannot be fully read
    record = append_run(
        path, {"Run ID": NEW_RUN, "MLM Loss": "2.9", "Key GLUE Scores": format_glue_cell({"paws": 60.0})}
    )
    assert record.glue_scores == {"paws": 60.0} and record.problems == []
    assert NEW_RUN in [r.run_id for r in read_log(path)]
    before = path.read_bytes()
    with pytest.raises(ValueError, match="column 'MLM Loss': expected a number") as info:
        append_run(path, {"Run ID": "perceiver_mlm_H512L2C128_20261202_000000", "MLM Loss": "low"})
    assert "read as empty" not in str(info.value)
    with pytest.raises(ValueError, match="already used on line 6$"):
        append_run(path, {"Run ID": "diffusion_H512L2C128D2_20260223_203349"})
    assert path.read_bytes() == before
    # updating a row with a cell it cannot read: the written cell is checked, the others stay as they were
    updated = update_run(path, "weighted_mlm_H512L2C128_20260224_000000", {"Key GLUE Scores": "**RTE:** 55.0%"})
    assert updated.glue_scores == {"rte": 55.0} and updated.mlm_loss is None
    with pytest.raises(ValueError, match="column 'Key GLUE Scores': cannot read a score"):
        update_run(path, NEW_RUN, {"Key GLUE Scores": "great"})
    with pytest.raises(ValueError, match="cannot update run 'perceiver_mlm_H512L2C128_20260226_000000'.*3 cells"):
        update_run(path, "perceiver_mlm_H512L2C128_20260226_000000", {"MLM Loss": "1.0"})
    # the row with the unknown label keeps it when its cell is rewritten from the record
    sick = find_run(read_log(path), "diffusion_H512L2C128D2_20260223_203349")
    cell = format_glue_cell({**sick.glue_scores, "rte": 51.0}, {"rte": 50.5}, sick.glue_other)
    again = update_run(path, sick.run_id, {"Key GLUE Scores": cell})
    assert again.glue_other == {"XNLI": "61.0% (dev)"} and again.glue_floors == {"rte": 50.5}
    assert again.glue_scores == {**sick.glue_scores, "rte": 51.0}


def test_a_broken_table_is_skipped_when_reading_and_the_others_are_read(tmp_path):
    text = "| Run ID | Run |\n|---|---|\n| a | b |\n\ntext\n\n| Run ID | MLM Loss |\n|---|---|\n| r1 | 3.0 |\n"
    assert [r.run_id for r in parse_log(text, strict=False)] == ["r1"]
    with pytest.raises(ValueError, match="are the same field"):
        parse_log(text)
