"""Concept regularisers and loss weighting: known answers on constructed concepts, and the
research code's own values (golden fixtures in ../shared/reference/research-fixtures)."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from conftest import SHARED, shared_path
from safetensors.torch import load_file
from scipy.sparse.csgraph import minimum_spanning_tree as scipy_mst

from cogito.evaluation.geometry import concept_geometry
from cogito.training.losses import (
    CONCEPT_LOSSES,
    LOSS_WEIGHTINGS,
    ConceptLossOptions,
    ConceptRegularizer,
    KendallGalWeighting,
    build_concept_loss,
    minimum_spanning_tree,
    minimum_spanning_tree_length,
    parse_concept_losses,
)
from cogito.training.recipes import list_recipes, load_recipe
from cogito.training.trainer import CogitoTrainingArguments

FIXTURES = SHARED / "reference" / "research-fixtures"
RESEARCH_LOSSES = (
    "orthogonality",
    "soft_orthogonality",
    "uniformity",
    "variance",
    "covariance",
    "vicreg",
    "combined",
    "t_regs_mst",
)
NEGATIVE_LOSSES = ("log_uniformity", "t_regs_mst", "t_regs_nn_log", "mst_length", "combined_per_sample")


def loss(name: str, concepts: torch.Tensor, **options: float) -> float:
    return build_concept_loss(name, ConceptLossOptions(**options))(concepts).item()


def hadamard(size: int) -> torch.Tensor:
    """Sylvester Hadamard matrix: ±1 entries, mutually orthogonal rows and columns."""
    matrix = torch.ones(1, 1)
    while matrix.shape[0] < size:
        matrix = torch.cat([torch.cat([matrix, matrix], 1), torch.cat([matrix, -matrix], 1)], 0)
    return matrix


def decorrelated_concepts(batch: int = 2) -> torch.Tensor:
    """C=8, H=4: each column is a zero-mean ±1 Hadamard column, so the (H, H) covariance is
    diagonal with variance 8/7 (std > 1)."""
    return hadamard(8)[:, 1:5].expand(batch, 8, 4).clone()  # (B, C, H)


def identical_concepts(batch: int = 2, concepts: int = 6, hidden: int = 8) -> torch.Tensor:
    torch.manual_seed(0)
    row = torch.randn(batch, 1, hidden)
    return row.repeat(1, concepts, 1)  # (B, C, H)


def spread_concepts(batch: int = 2, concepts: int = 6, hidden: int = 8) -> torch.Tensor:
    return torch.eye(hidden)[:concepts].expand(batch, concepts, hidden).clone()


def clustered_concepts(batch: int = 2, concepts: int = 6, hidden: int = 8) -> torch.Tensor:
    torch.manual_seed(1)
    return spread_concepts(batch, 1, hidden) + 0.05 * torch.randn(batch, concepts, hidden)


# ---------------------------------------------------------------- regularisers: known answers


def test_orthogonal_concepts_have_zero_orthogonality_and_soft_orthogonality() -> None:
    concepts = spread_concepts()
    assert loss("orthogonality", concepts) == pytest.approx(0.0, abs=1e-7)
    assert loss("soft_orthogonality", concepts) == pytest.approx(0.0, abs=1e-7)


def test_identical_concepts_have_orthogonality_one() -> None:
    assert loss("orthogonality", identical_concepts()) == pytest.approx(1.0, abs=1e-5)


def test_soft_orthogonality_only_penalises_cosines_above_threshold() -> None:
    angle = math.acos(0.3)  # two concepts with cos = 0.3, so each off-diagonal pair is 0.3
    concepts = torch.tensor([[[1.0, 0.0], [math.cos(angle), math.sin(angle)]]])
    at_01 = loss("soft_orthogonality", concepts, soft_ortho_threshold=0.1)
    above_cos = loss("soft_orthogonality", concepts, soft_ortho_threshold=0.3 + 1e-6)
    assert at_01 == pytest.approx((0.3 - 0.1) ** 2, abs=1e-6)
    assert above_cos == pytest.approx(0.0, abs=1e-9)
    assert loss("orthogonality", concepts) == pytest.approx(0.09, abs=1e-6)


@pytest.mark.parametrize("name", ["variance", "variance_per_sample"])
def test_variance_is_zero_when_every_dimension_has_std_at_least_one(name: str) -> None:
    assert loss(name, 2.0 * decorrelated_concepts()) == 0.0
    assert loss(name, decorrelated_concepts()) == 0.0


@pytest.mark.parametrize("name", ["variance", "variance_per_sample"])
def test_constant_concepts_have_variance_near_one(name: str) -> None:
    concepts = torch.full((2, 6, 8), 3.0)
    assert loss(name, concepts) == pytest.approx(1.0 - math.sqrt(1e-4), abs=1e-6)


@pytest.mark.parametrize(("name", "samples"), [("covariance_per_sample", 8), ("covariance", 16)])
def test_decorrelated_concepts_have_zero_covariance_and_correlated_do_not(name: str, samples: int) -> None:
    # Per sample the C=8 concepts of a sample are the rows; pooled, the B·C=16 vectors of the batch.
    assert loss(name, decorrelated_concepts()) == pytest.approx(0.0, abs=1e-10)
    correlated = decorrelated_concepts()
    correlated[..., 1] = correlated[..., 0]  # cov_01 = cov_10 = N/(N-1)
    expected = 2 * (samples / (samples - 1)) ** 2 / 4
    assert loss(name, correlated) == pytest.approx(expected, rel=1e-5)


def test_pooled_variance_misses_concepts_that_coincide_within_each_sample() -> None:
    # Identical concepts within a sample, different samples: the research's pooled terms see
    # spread across the batch, the per-sample ones see the collapse.
    torch.manual_seed(5)
    concepts = (3.0 * torch.randn(64, 1, 8)).repeat(1, 6, 1)  # (B, C, H)
    assert loss("variance", concepts) < 0.05
    assert loss("variance_per_sample", concepts) == pytest.approx(1.0 - math.sqrt(1e-4), abs=1e-6)


def test_uniformity_is_one_for_identical_concepts_and_exp_minus_4t_for_orthonormal() -> None:
    assert loss("uniformity", identical_concepts()) == pytest.approx(1.0, abs=1e-6)
    assert loss("uniformity", spread_concepts()) == pytest.approx(math.exp(-4.0), rel=1e-5)
    cooler = loss("uniformity", spread_concepts(), uniformity_temperature=0.5)
    assert cooler == pytest.approx(math.exp(-1.0), rel=1e-5)


def test_log_uniformity_is_zero_for_identical_concepts_and_lower_when_spread() -> None:
    assert loss("log_uniformity", identical_concepts()) == pytest.approx(0.0, abs=1e-6)
    # Orthonormal concepts: every pair is at squared distance 2, so log exp(-2·2) = -4.
    assert loss("log_uniformity", spread_concepts()) == pytest.approx(-4.0, abs=1e-5)
    cooler = loss("log_uniformity", spread_concepts(), uniformity_temperature=0.5)
    assert cooler == pytest.approx(-1.0, abs=1e-5)


def test_log_uniformity_is_the_log_of_the_per_sample_uniformity() -> None:
    concepts = clustered_concepts(batch=1)
    assert loss("log_uniformity", concepts) == pytest.approx(math.log(loss("uniformity", concepts)), rel=1e-5)


def test_regulariser_uniformity_is_the_uniformity_of_concept_analysis() -> None:
    # One quantity, one name: the research's regulariser and the geometry metric agree.
    torch.manual_seed(6)
    concepts = torch.randn(5, 7, 12)
    analysed = concept_geometry(concepts.double())["uniformity"]
    assert loss("uniformity", concepts) == pytest.approx(analysed, rel=1e-5)


def test_t_regs_mst_is_minus_the_mean_nearest_neighbour_distance() -> None:
    assert loss("t_regs_mst", spread_concepts()) == pytest.approx(-math.sqrt(2.0), rel=1e-6)
    concepts = identical_concepts().requires_grad_()
    value = build_concept_loss("t_regs_mst")(concepts)
    value.backward()
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(concepts.grad).all()
    assert loss("t_regs_mst", clustered_concepts()) > loss("t_regs_mst", spread_concepts()) + 1.0


def test_t_regs_nn_log_is_larger_for_clustered_than_spread_concepts() -> None:
    clustered = loss("t_regs_nn_log", clustered_concepts())
    spread = loss("t_regs_nn_log", spread_concepts())
    assert spread == pytest.approx(-math.log(math.sqrt(2.0 + 1e-6)), abs=1e-5)
    assert clustered > spread + 1.0


def test_t_regs_nn_log_is_finite_with_finite_gradients_for_coincident_concepts() -> None:
    concepts = identical_concepts().requires_grad_()
    value = build_concept_loss("t_regs_nn_log")(concepts)
    value.backward()
    # fp32 cosines of equal vectors are 1 only to ~1e-7, hence the loose tolerance.
    assert value.item() == pytest.approx(-0.5 * math.log(1e-6), rel=1e-2)
    assert torch.isfinite(concepts.grad).all()


@pytest.mark.parametrize(
    ("composite", "parts"),
    [
        ("combined", ("variance", "uniformity")),
        ("vicreg", ("variance", "covariance")),
        ("combined_per_sample", ("variance_per_sample", "log_uniformity")),
        ("vicreg_per_sample", ("variance_per_sample", "covariance_per_sample")),
    ],
)
def test_composites_are_the_sum_of_their_parts(composite: str, parts: tuple[str, str]) -> None:
    torch.manual_seed(2)
    concepts = torch.randn(3, 6, 8) * 0.3
    assert loss(composite, concepts) == pytest.approx(sum(loss(part, concepts) for part in parts), rel=1e-6)


def test_composites_report_their_named_components() -> None:
    concepts = clustered_concepts()
    parts = build_concept_loss("combined").components(concepts)
    assert set(parts) == {"variance", "uniformity"}
    assert parts["uniformity"].item() == pytest.approx(loss("uniformity", concepts), rel=1e-6)
    parts = build_concept_loss("combined_per_sample").components(concepts)
    assert set(parts) == {"variance_per_sample", "log_uniformity"}


# ---------------------------------------------------------------- minimum spanning tree (T-REGS)


def test_mst_length_of_points_on_a_line_is_their_range() -> None:
    torch.manual_seed(7)
    direction = torch.nn.functional.normalize(torch.randn(5), dim=0)
    positions = torch.randn(3, 9) * 4.0  # (B, N), unordered
    points = positions.unsqueeze(-1) * direction  # (B, N, 5) on one line through the origin
    expected = positions.amax(dim=1) - positions.amin(dim=1)
    torch.testing.assert_close(minimum_spanning_tree_length(points), expected, rtol=1e-5, atol=1e-5)


def test_mst_length_of_a_unit_square_is_three() -> None:
    square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    assert minimum_spanning_tree_length(square).item() == pytest.approx(3.0, abs=1e-6)
    centred = torch.cat([square, torch.tensor([[[0.5, 0.5]]])], dim=1)  # + centre: 4 half-diagonals
    assert minimum_spanning_tree_length(centred).item() == pytest.approx(4 * math.sqrt(0.5), abs=1e-6)


def test_mst_length_matches_scipy_on_random_point_clouds() -> None:
    torch.manual_seed(8)
    points = torch.randn(4, 40, 6, dtype=torch.float64)
    lengths = minimum_spanning_tree_length(points)
    for b in range(points.shape[0]):
        expected = scipy_mst(torch.cdist(points[b], points[b]).numpy()).sum()
        assert lengths[b].item() == pytest.approx(expected, rel=1e-9)
    # Every node but the root has one parent, and following parents always reaches the root.
    parent = minimum_spanning_tree(points)
    for b in range(points.shape[0]):
        for node in range(40):
            hops = 0
            while node != 0 and hops <= 40:
                node, hops = parent[b, node].item(), hops + 1
            assert node == 0


def test_mst_gradient_flows_only_through_the_tree_edges() -> None:
    torch.manual_seed(9)
    points = torch.randn(1, 12, 3, dtype=torch.float64, requires_grad=True)
    minimum_spanning_tree_length(points).sum().backward()
    tree = scipy_mst(torch.cdist(points[0], points[0]).detach().numpy()).tocoo()
    assert len(tree.row) == 11
    expected = torch.zeros(12, 3, dtype=torch.float64)
    for i, j in zip(tree.row, tree.col):
        unit = (points[0, i] - points[0, j]).detach()
        unit = unit / unit.norm()
        expected[i] += unit  # d||p_i - p_j|| / dp_i
        expected[j] -= unit
    torch.testing.assert_close(points.grad[0], expected)
    # A leaf of the tree only feels its one edge: its gradient is a unit vector.
    degree = torch.zeros(12, dtype=torch.long)
    for i, j in zip(tree.row, tree.col):
        degree[i] += 1
        degree[j] += 1
    leaf = int(torch.nonzero(degree == 1)[0])
    assert points.grad[0, leaf].norm().item() == pytest.approx(1.0)


def test_mst_length_loss_is_minus_the_mean_tree_edge_on_the_sphere() -> None:
    # Orthonormal concepts: every edge has length sqrt(2).
    assert loss("mst_length", spread_concepts()) == pytest.approx(-math.sqrt(2.0), rel=1e-6)
    concepts = identical_concepts().requires_grad_()
    value = build_concept_loss("mst_length")(concepts)
    value.backward()
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(concepts.grad).all()


def test_mst_length_sees_how_clusters_connect_where_the_nearest_neighbour_proxy_does_not() -> None:
    def two_clusters(gap: float) -> torch.Tensor:
        angles = torch.tensor([0.0, 0.05, gap, gap + 0.05])  # two tight pairs on the unit circle
        return torch.stack([angles.cos(), angles.sin()], dim=-1).unsqueeze(0)  # (1, 4, 2)

    near, far = two_clusters(0.5), two_clusters(2.0)
    assert loss("t_regs_mst", near) == pytest.approx(loss("t_regs_mst", far), rel=1e-5)
    assert loss("mst_length", far) < loss("mst_length", near) - 0.3


def test_minimum_spanning_tree_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        minimum_spanning_tree(torch.randn(4, 2))


@pytest.mark.parametrize("name", sorted(CONCEPT_LOSSES))
def test_gradients_flow_back_to_concept_states(name: str) -> None:
    torch.manual_seed(3)
    concepts = (0.5 * torch.randn(2, 6, 8)).requires_grad_()
    value = build_concept_loss(name)(concepts)
    value.backward()
    assert value.dim() == 0
    assert torch.isfinite(concepts.grad).all()
    assert concepts.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(CONCEPT_LOSSES))
def test_bf16_concepts_under_autocast_are_computed_in_fp32(name: str) -> None:
    torch.manual_seed(4)
    concepts = (0.5 * torch.randn(2, 6, 8)).to(torch.bfloat16)
    expected = build_concept_loss(name)(concepts.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = build_concept_loss(name)(concepts)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)


def test_regularisers_reject_bad_concept_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, C, H\)"):
        build_concept_loss("variance")(torch.randn(6, 8))
    with pytest.raises(ValueError, match="C=1"):
        build_concept_loss("variance")(torch.randn(2, 1, 8))


# ---------------------------------------------------------------- feasibility warnings


def test_orthogonality_warns_once_when_concepts_exceed_hidden(caplog: pytest.LogCaptureFixture) -> None:
    term = build_concept_loss("orthogonality")
    with caplog.at_level(logging.WARNING, logger="cogito.training.losses"):
        term(torch.randn(2, 6, 8))
        assert not caplog.records
        term(torch.randn(2, 12, 8))
        term(torch.randn(2, 12, 8))
    assert len(caplog.records) == 1
    assert "C=12" in caplog.text and "H=8" in caplog.text


def test_soft_orthogonality_warns_only_below_the_welch_bound(caplog: pytest.LogCaptureFixture) -> None:
    # C=128, H=64: Welch bound sqrt(64 / (64·127)) ≈ 0.089, so |cos| <= 0.1 is reachable.
    with caplog.at_level(logging.WARNING, logger="cogito.training.losses"):
        build_concept_loss("soft_orthogonality")(torch.randn(1, 128, 64))
        assert not caplog.records
        build_concept_loss("soft_orthogonality")(torch.randn(1, 12, 4))  # bound ≈ 0.43
    assert "C=12" in caplog.text and "H=4" in caplog.text


# ---------------------------------------------------------------- weighting strategies


def reg_inputs() -> tuple[torch.Tensor, torch.Tensor, float, float]:
    concepts = clustered_concepts()
    return torch.tensor(2.5), concepts, loss("variance", concepts), loss("uniformity", concepts)


def test_fixed_weighting_splits_loss_weight_equally() -> None:
    task, concepts, variance, uniformity = reg_inputs()
    regularizer = ConceptRegularizer(["variance", "uniformity"], weighting="fixed", loss_weight=0.1)
    out = regularizer(task, concepts)
    logs = out.logs
    assert logs["weight_task"] == 1.0
    assert logs["weight_variance"] == pytest.approx(0.05)
    assert logs["weight_uniformity"] == pytest.approx(0.05)
    assert out.loss.item() == pytest.approx(2.5 + 0.05 * variance + 0.05 * uniformity, rel=1e-6)


def test_fixed_weighting_default_is_point_one_for_one_loss() -> None:
    task, concepts, variance, _ = reg_inputs()
    out = ConceptRegularizer("variance")(task, concepts)
    assert out.logs["weight_variance"] == pytest.approx(0.1)
    assert out.loss.item() == pytest.approx(2.5 + 0.1 * variance, rel=1e-6)


def test_learnable_weighting_is_a_softmax_summing_to_one() -> None:
    task, concepts, variance, uniformity = reg_inputs()
    regularizer = ConceptRegularizer(["variance", "uniformity"], weighting="learnable")
    out = regularizer(task, concepts)
    assert out.loss.item() == pytest.approx((2.5 + variance + uniformity) / 3, rel=1e-6)  # equal weights
    assert out.logs["weight_task"] == pytest.approx(1 / 3)
    raw = torch.tensor([0.3, -0.2, 0.5])
    with torch.no_grad():
        regularizer.weighting.raw_weights.copy_(raw)
    weights = torch.softmax(raw, 0)
    out = regularizer(task, concepts)
    expected = weights[0] * 2.5 + weights[1] * variance + weights[2] * uniformity
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert sum(out.logs[f"weight_{key}"] for key in ("task", "variance", "uniformity")) == pytest.approx(1.0)


def test_learnable_scaled_weighting_matches_hand_computation() -> None:
    task, concepts, variance, uniformity = reg_inputs()
    regularizer = ConceptRegularizer(["variance", "uniformity"], weighting="learnable_scaled")
    initial = regularizer(task, concepts).loss.item()
    assert initial == pytest.approx(2.5 + variance + uniformity, rel=1e-6)  # equal weights
    raw = torch.tensor([0.3, -0.2, 0.5])
    with torch.no_grad():
        regularizer.weighting.raw_weights.copy_(raw)
    weights = 3 * torch.softmax(raw, 0)
    out = regularizer(task, concepts)
    expected = weights[0] * 2.5 + weights[1] * variance + weights[2] * uniformity
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert out.logs["weight_uniformity"] == pytest.approx(weights[2].item(), rel=1e-6)


def test_kendall_gal_weighting_matches_hand_computation() -> None:
    task, concepts, variance, uniformity = reg_inputs()
    regularizer = ConceptRegularizer(["variance", "uniformity"], weighting="kendall_gal")
    s = torch.tensor([0.4, -1.0, 2.0])
    with torch.no_grad():
        regularizer.weighting.log_vars.copy_(s)
    out = regularizer(task, concepts)
    weights = (0.5 * torch.exp(-s)).tolist()
    expected = sum(w * v for w, v in zip(weights, [2.5, variance, uniformity])) + 0.5 * s.sum().item()
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    # Logged as the research logged it: the precision exp(-s), twice the multiplier in the total.
    assert out.logs["weight_task"] == pytest.approx(math.exp(-0.4), rel=1e-6)
    assert out.logs["weight_variance"] == pytest.approx(math.exp(1.0), rel=1e-6)


@pytest.mark.parametrize(
    ("weighting", "param"),
    [("learnable", "raw_weights"), ("learnable_scaled", "raw_weights"), ("kendall_gal", "log_vars")],
)
def test_learnt_weights_get_gradients_and_an_optimizer_step_moves_them(weighting: str, param: str) -> None:
    task, concepts, _, _ = reg_inputs()
    regularizer = ConceptRegularizer(["combined"], weighting=weighting)
    params = dict(regularizer.named_parameters())
    assert list(params) == [f"weighting.{param}"]
    before = params[f"weighting.{param}"].detach().clone()
    optimizer = torch.optim.SGD(regularizer.parameters(), lr=0.1)
    regularizer(task, concepts).loss.backward()
    assert params[f"weighting.{param}"].grad.abs().min() > 0
    optimizer.step()
    assert not torch.equal(params[f"weighting.{param}"].detach(), before)


def test_kendall_gal_state_dict_round_trip() -> None:
    task, concepts, _, _ = reg_inputs()
    source = ConceptRegularizer(["variance", "uniformity"], weighting="kendall_gal")
    with torch.no_grad():
        source.weighting.log_vars.copy_(torch.tensor([0.1, -0.7, 1.3]))
    state = source.state_dict()
    assert list(state) == ["weighting.log_vars"]
    restored = ConceptRegularizer(["variance", "uniformity"], weighting="kendall_gal")
    restored.load_state_dict(state)
    assert restored(task, concepts).loss.item() == source(task, concepts).loss.item()


def test_fixed_weighting_has_no_parameters_or_state() -> None:
    regularizer = ConceptRegularizer(["variance", "uniformity"])
    assert list(regularizer.parameters()) == []
    assert regularizer.state_dict() == {}


@pytest.mark.parametrize("losses", [[], ["none"], "none", ""])
def test_no_concept_losses_give_the_task_loss_and_no_parameters(losses: object) -> None:
    task = torch.tensor(1.75, requires_grad=True)
    regularizer = ConceptRegularizer(losses)
    out = regularizer(task, torch.randn(2, 6, 8))
    assert out.loss is task
    assert list(regularizer.parameters()) == []
    assert out.logs == {"task_loss": 1.75, "weight_task": 1.0}


def test_no_concept_losses_with_learnt_weighting_warns_and_adds_no_parameters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="cogito.training.losses"):
        regularizer = ConceptRegularizer("none", weighting="kendall_gal")
    assert list(regularizer.parameters()) == []
    assert "kendall_gal" in caplog.text


def test_logs_name_every_regulariser_component_and_weight() -> None:
    task, concepts, variance, uniformity = reg_inputs()
    out = ConceptRegularizer(["combined", "orthogonality"], weighting="kendall_gal")(task, concepts)
    logs = out.logs
    assert set(logs) == {
        "task_loss",
        "concept_combined",
        "concept_combined_variance",
        "concept_combined_uniformity",
        "concept_orthogonality",
        "weight_task",
        "weight_combined",
        "weight_orthogonality",
    }
    assert all(isinstance(value, float) and "/" not in key for key, value in logs.items())
    assert logs["concept_combined_uniformity"] == pytest.approx(uniformity, rel=1e-6)
    assert logs["concept_combined"] == pytest.approx(variance + uniformity, rel=1e-6)
    assert out.task_loss.item() == 2.5


def test_total_gradient_reaches_concept_states() -> None:
    task, concepts, _, _ = reg_inputs()
    concepts.requires_grad_()
    ConceptRegularizer(["vicreg", "mst_length"], weighting="fixed")(task, concepts).loss.backward()
    assert torch.isfinite(concepts.grad).all() and concepts.grad.abs().sum() > 0


# ---------------------------------------------------------------- Kendall-Gal cannot run away


@pytest.mark.parametrize("name", sorted(CONCEPT_LOSSES))
def test_can_be_negative_is_declared_honestly(name: str) -> None:
    torch.manual_seed(10)
    samples = [torch.randn(3, 6, 8), spread_concepts(), clustered_concepts(), identical_concepts()]
    lowest = min(loss(name, concepts) for concepts in samples)
    assert CONCEPT_LOSSES[name].can_be_negative == (name in NEGATIVE_LOSSES)
    if name in NEGATIVE_LOSSES:
        assert lowest < 0
    else:
        assert lowest >= 0


@pytest.mark.parametrize("name", NEGATIVE_LOSSES)
def test_kendall_gal_refuses_regularisers_that_can_go_negative(name: str) -> None:
    with pytest.raises(ValueError, match=rf"'kendall_gal' cannot weigh '{name}': it can go negative"):
        ConceptRegularizer(["variance", name], weighting="kendall_gal")
    with pytest.raises(ValueError, match=f"'{name}'"):
        CogitoTrainingArguments(
            output_dir="unused", report_to="none", use_cpu=True, concept_losses=name, loss_weighting="kendall_gal"
        )
    ConceptRegularizer([name], weighting="fixed")  # a fixed weight is bounded: accepted


def test_kendall_gal_has_no_minimum_with_a_negative_loss_but_one_with_combined() -> None:
    # The per-loss term ½·exp(-s)·L + ½·s: for L < 0 it falls without bound as s -> -inf;
    # for the research's combined (> 0) its minimum is at s = log L, weight 1/(2L).
    s = torch.linspace(-30.0, 5.0, 3501)
    assert (0.5 * torch.exp(-s) * -0.5 + 0.5 * s).min() == (0.5 * torch.exp(-s[0]) * -0.5 + 0.5 * s[0])
    combined = loss("combined", spread_concepts())
    term = 0.5 * torch.exp(-s) * combined + 0.5 * s
    assert s[term.argmin()].item() == pytest.approx(math.log(combined), abs=0.01)


@pytest.mark.parametrize(("value", "bounded"), [(0.02, True), (-0.02, False)])
def test_kendall_gal_weight_under_adam_settles_for_a_positive_loss_and_runs_away_for_a_negative(
    value: float, bounded: bool
) -> None:
    weighting = KendallGalWeighting(num_losses=1)
    optimizer = torch.optim.Adam(weighting.parameters(), lr=0.02)
    losses = torch.tensor([3.0, value])
    history = []
    for _ in range(600):  # fp32 Adam overflows (and stalls) near weight 1e22, after ~800 steps
        optimizer.zero_grad()
        weighting(losses).backward()
        optimizer.step()
        history.append(weighting.weights()[1].item())
    if bounded:  # equilibrium weight 1 / (2L) = 25, and it stays there
        assert history[-1] == pytest.approx(1 / (2 * value), rel=0.05)
        assert max(history[-300:]) < 1.01 / (2 * value)
    else:  # s keeps falling by at least Adam's step size: the weight grows exponentially
        assert history[-1] > 1e12 and history[-1] > 1e6 * history[-300]


def test_recipes_of_regularised_runs_use_the_research_names_and_are_accepted() -> None:
    regularised = {}
    for name in list_recipes():
        pretrain = load_recipe(name)["pretrain"]
        losses = parse_concept_losses(pretrain.get("concept_losses"))
        if losses:
            regularised[name] = (losses, pretrain.get("loss_weighting", "fixed"), pretrain.get("loss_weight"))
    assert regularised == {
        "perceiver_mlm_l6_combined_fixed_0.1": (["combined"], "fixed", 0.1),
        "perceiver_mlm_l6_combined_kendall_gal": (["combined"], "kendall_gal", None),
        "perceiver_mlm_l6_t_regs_mst": (["t_regs_mst"], "fixed", 0.1),
    }
    for losses, weighting, weight in regularised.values():
        assert set(losses) <= set(RESEARCH_LOSSES)
        ConceptRegularizer(losses, weighting=weighting, loss_weight=weight)


def test_learnable_weighting_warns_about_a_negative_regulariser(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cogito.training.losses"):
        ConceptRegularizer(["combined"], weighting="learnable")
        assert not caplog.records
        ConceptRegularizer(["t_regs_mst"], weighting="learnable")
    assert "t_regs_mst" in caplog.text and "can go negative" in caplog.text


# ---------------------------------------------------------------- golden values of the research code


@pytest.fixture(scope="module")
def research() -> dict:
    shared_path("reference", "research-fixtures", "expected.json")  # fails (never skips) when missing
    return {
        "expected": json.loads((FIXTURES / "expected.json").read_text()),
        "inputs": load_file(FIXTURES / "regularizer_inputs.safetensors"),
    }


def test_research_fixtures_cover_every_research_regulariser(research) -> None:
    assert set(research["expected"]["regularizers"]) == set(RESEARCH_LOSSES)
    assert set(research["expected"]["weightings_at_init"]) == {"fixed", "learnable", "kendall_gal"}


@pytest.mark.parametrize("name", RESEARCH_LOSSES)
@pytest.mark.parametrize("tensor", ["iid_normal", "near_collapse", "per_sample_collapse", "rank_2"])
def test_regulariser_matches_the_research_value_and_gradient(research, name: str, tensor: str) -> None:
    expected = research["expected"]["regularizers"][name][tensor]
    concepts = research["inputs"][f"concepts_{tensor}"].clone().requires_grad_()
    value = build_concept_loss(name)(concepts)
    value.backward()
    assert value.item() == pytest.approx(expected["value"], rel=1e-4)
    assert concepts.grad.norm().item() == pytest.approx(expected["grad_norm"], rel=1e-4)


@pytest.mark.parametrize("weighting", ["fixed", "learnable", "kendall_gal"])
def test_weighting_at_initialisation_matches_the_research_total(research, weighting: str) -> None:
    expected = research["expected"]["weightings_at_init"][weighting]
    concepts = research["inputs"]["concepts_iid_normal"]
    loss_weight = 0.1 if weighting == "fixed" else None
    out = ConceptRegularizer(["combined"], weighting=weighting, loss_weight=loss_weight)(
        torch.tensor(expected["task_loss"]), concepts
    )
    logs = out.logs
    assert logs["concept_combined"] == pytest.approx(expected["combined"], rel=1e-4)
    assert out.loss.item() == pytest.approx(expected["total"], rel=1e-4)
    research_weights = expected["weights_for_logging"]
    for key in ("task", "combined"):  # `weight_<name>` means what the research logged under that name
        assert logs[f"weight_{key}"] == pytest.approx(research_weights[f"weight/{key}"], rel=1e-4)


# ---------------------------------------------------------------- parsing and errors


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("none", []),
        (["none"], []),
        (None, []),
        ("combined", ["combined"]),
        ("variance uniformity", ["variance", "uniformity"]),
        ("variance,uniformity", ["variance", "uniformity"]),
        (["variance", "uniformity"], ["variance", "uniformity"]),
        ("  T_REGS_MST ", ["t_regs_mst"]),
    ],
)
def test_parse_concept_losses(value: object, expected: list[str]) -> None:
    assert parse_concept_losses(value) == expected


def test_unknown_concept_loss_error_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="'varience'") as err:
        ConceptRegularizer(["varience"])
    for name in ["none", *CONCEPT_LOSSES]:
        assert name in str(err.value)


def test_unknown_weighting_error_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="'uncertainty'") as err:
        ConceptRegularizer(["variance"], weighting="uncertainty")
    for name in LOSS_WEIGHTINGS:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"losses": ["none", "variance"]}, "alone"),
        ({"losses": ["variance", "variance"]}, "more than once"),
        ({"losses": ["variance"], "weighting": "kendall_gal", "loss_weight": 0.1}, "loss_weight=0.1"),
        ({"losses": ["variance"], "loss_weight": -1.0}, "loss_weight=-1.0"),
        ({"losses": ["soft_orthogonality"], "soft_ortho_threshold": 1.5}, "soft_ortho_threshold=1.5"),
        ({"losses": ["uniformity"], "uniformity_temperature": 0.0}, "uniformity_temperature=0.0"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConceptRegularizer(**kwargs)


def test_non_scalar_task_loss_is_rejected() -> None:
    with pytest.raises(ValueError, match="scalar"):
        ConceptRegularizer(["variance"])(torch.ones(2), torch.randn(2, 6, 8))
