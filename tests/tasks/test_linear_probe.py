import pytest
import torch

from vidlift.tasks.recognition.linear_probe import fit_linear_probe, top1_accuracy


def test_probe_separates_separable_classes_and_generalises():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=g) * 3
    y = torch.arange(4).repeat_interleave(50)
    x = centres[y] + torch.randn(200, 16, generator=g)
    probe = fit_linear_probe(x, y, 4)
    assert top1_accuracy(probe.predict(x), y) == 1.0
    y_test = torch.arange(4).repeat(10)
    x_test = centres[y_test] + torch.randn(40, 16, generator=g)
    assert top1_accuracy(probe.predict(x_test), y_test) >= 0.95


def test_probe_cannot_beat_chance_on_noise():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(400, 8, generator=g), torch.randint(0, 4, (400,), generator=g)
    probe = fit_linear_probe(x[:200], y[:200], 4, weight_decay=1e-2)
    assert top1_accuracy(probe.predict(x[200:]), y[200:]) < 0.4


def test_probe_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels must lie"):
        fit_linear_probe(torch.randn(3, 2), torch.tensor([0, 1, 5]), 3)
    assert top1_accuracy(torch.tensor([1, 2, 3]), torch.tensor([1, 0, 3])) == pytest.approx(2 / 3)
