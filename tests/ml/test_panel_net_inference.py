"""The refiner's network made ready to predict (``panel_net.for_inference``: batch norms folded into
the convolutions, channels-last weights): the same maps as the network as trained, to float
rounding, on a tiny randomly initialised model whose batch norms hold non-trivial statistics."""

from __future__ import annotations

import numpy as np
import pytest

from comicdesk.ml import panel_net


@pytest.fixture(scope="module")
def trained_like():
    """A tiny network whose batch norms carry running statistics and affine weights far from
    the identity (so folding them wrongly shows), in eval mode."""
    import torch

    torch.manual_seed(3)
    model = panel_net.build_model((4, 4, 8, 8))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return model.eval()


def _page() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.full((700, 500, 3), 250, np.uint8)
    img[40:330, 30:470] = rng.integers(0, 255, (290, 440, 3), dtype=np.uint8)
    img[360:660, 30:240] = 20
    return img


def test_folded_network_gives_the_same_maps(trained_like):
    import torch

    fast = panel_net.for_inference(trained_like)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    # The network as trained is left as it was (a copy is folded).
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in trained_like.modules())
    page = _page()
    slow_maps = panel_net.predict_maps(page, trained_like)
    fast_maps = panel_net.predict_maps(page, fast)
    assert slow_maps.shape == fast_maps.shape == (3, 192, 137)
    np.testing.assert_allclose(fast_maps, slow_maps, atol=1e-5)
    np.testing.assert_allclose(fast_maps.sum(axis=0), 1.0, atol=1e-5)


def test_shipped_model_is_folded_and_channels_last():
    import torch

    model = panel_net.load_model()
    assert not model.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
