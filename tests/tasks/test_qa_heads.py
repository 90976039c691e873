"""The QA fusion head (shapes, gradients, padding mask, parameter count), the candidate texts,
and the soft-target distillation loss (0 when the student equals the teacher, > 0 otherwise)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vidlift.tasks.qa.distillation import soft_target_loss
from vidlift.tasks.qa.heads import FusionHead, check_template, qa_text


def test_fusion_head_shapes_and_gradients():
    torch.manual_seed(0)
    head = FusionHead(video_dim=16, text_dim=24, outputs=7, width=32, layers=2, heads=4, max_frames=4, dropout=0.0)
    clip, frames = torch.randn(3, 16, requires_grad=True), torch.randn(3, 4, 16, requires_grad=True)
    tokens = torch.randn(3, 5, 24, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    out = head(clip, frames, tokens, mask)
    assert out.shape == (3, 7)
    out.logsumexp(1).sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert clip.grad.abs().sum() > 0 and frames.grad.abs().sum() > 0
    # Padding tokens get no gradient: they are masked out of the attention.
    assert tokens.grad[0, 3:].abs().sum() == 0 and tokens.grad[2, 1:].abs().sum() == 0
    assert tokens.grad[0, :3].abs().sum() > 0


def test_fusion_head_ignores_padding_content_and_counts_parameters():
    torch.manual_seed(0)
    head = FusionHead(16, 24, outputs=1, width=32, layers=1, heads=2, max_frames=4).eval()
    clip, frames, tokens = torch.randn(2, 16), torch.randn(2, 3, 16), torch.randn(2, 5, 24)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    other = tokens.clone()
    other[~mask] = 100.0  # what lies under the padding must not matter
    assert torch.allclose(head(clip, frames, tokens, mask), head(clip, frames, other, mask), atol=1e-5)
    # Worked out: projections, [CLS], 3 type rows, 5 frame positions, one block, final LN, MLP classifier.
    w = 32
    block = 4 * (w * w + w) + (w * 4 * w + 4 * w) + (4 * w * w + w) + 2 * 2 * w
    expected = (16 * w + w) + (24 * w + w) + w + 3 * w + 5 * w + block + 2 * w + (w * 2 * w + 2 * w) + (2 * w + 1)
    assert head.parameter_count() == expected
    with pytest.raises(ValueError, match="built for 4 frames"):
        head(torch.randn(1, 16), torch.randn(1, 5, 16), tokens[:1], mask[:1])


def test_docstring_parameter_count_at_clip_b32_sizes():
    head = FusionHead(512, 512, outputs=1000, width=512, layers=2, max_frames=64)
    assert head.parameter_count() == 8_416_744


def test_candidate_text_template():
    assert qa_text("{question} {answer}", "what does it do?", "jump") == "what does it do? jump"
    assert qa_text("{question} {answer}", "", "a man sings.") == "a man sings."  # MSRVTT-MC: no question
    assert qa_text("Q: {question} A: {answer}", "why?", "  because  ") == "Q: why? A: because"
    with pytest.raises(ValueError, match="must hold"):
        check_template("{question}")
    with pytest.raises(ValueError, match="may only hold"):
        check_template("{question} {answer} {label}")


def test_soft_target_loss_is_zero_for_equal_logits_and_positive_otherwise():
    teacher = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    assert soft_target_loss(teacher.clone(), teacher, 2.0).abs() < 1e-6
    assert soft_target_loss(teacher + 5.0, teacher, 2.0).abs() < 1e-6  # a constant per row changes no probability
    student = torch.tensor([[0.0, 0.0, 0.0], [3.0, 1.0, 0.0]], requires_grad=True)
    loss = soft_target_loss(student, teacher, 2.0)
    # Worked out: tau^2 * mean over rows of KL(softmax(t / tau) || softmax(s / tau)).
    p = F.softmax(teacher / 2, -1)
    expected = 4 * (p * (p.log() - F.log_softmax(student.detach() / 2, -1))).sum(-1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5) and loss.item() > 0
    loss.backward()
    assert student.grad.abs().sum() > 0


def test_soft_target_loss_ignores_absent_options():
    teacher = torch.tensor([[1.0, 2.0, 0.0]])
    valid = torch.tensor([[True, True, False]])
    student = torch.tensor([[1.0, 2.0, 50.0]])  # differs only where there is no option
    assert soft_target_loss(student, teacher, 1.0, valid).abs() < 1e-6
    two = soft_target_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 2.0]]), 1.0)
    three = soft_target_loss(torch.tensor([[0.0, 0.0, 9.0]]), teacher, 1.0, valid)
    assert three.item() == pytest.approx(two.item(), rel=1e-5)
    assert not math.isnan(three.item())
