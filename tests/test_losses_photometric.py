"""E_pixel, E_SSIM and the mean-colour L1: hand-worked values, a naive SSIM, confidence gating, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from s2hand.losses import (
    gaussian_window,
    masked_image,
    mean_color_loss,
    photometric_sample_weights,
    pixel_loss,
    ssim,
    ssim_loss,
)

C1, C2 = 0.01**2, 0.03**2


def _random_images(batch=2, size=(16, 15), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, *size, generator=g, dtype=dtype)
    rendered = torch.rand(batch, 3, *size, generator=g, dtype=dtype)
    silhouette = (torch.rand(batch, *size, generator=g, dtype=dtype) - 0.3).clamp(0, 1) / 0.7  # soft, with zeros
    confidences = 0.2 + 0.8 * torch.rand(batch, 21, generator=g, dtype=dtype)
    return rendered, image, silhouette, confidences


# --- sample weights and E_pixel -------------------------------------------------------------------------------

def test_sample_weights_gate_on_any_low_confidence():
    conf = torch.tensor([[0.2] * 20 + [0.5], [0.1] + [1.0] * 20, [0.11] + [1.0] * 20, [0.0] * 21])
    expected = torch.tensor([(0.2 * 20 + 0.5) / 21, 0.0, (0.11 + 20) / 21, 0.0])
    assert torch.allclose(photometric_sample_weights(conf), expected)
    assert torch.allclose(photometric_sample_weights(conf[..., None]), expected)  # (B, 21, 1) too


def test_pixel_loss_hand_worked():
    image = torch.full((2, 3, 4, 4), 0.5)
    silhouette = torch.zeros(2, 4, 4)
    rendered = torch.zeros(2, 3, 4, 4)
    silhouette[0, 0, :2] = 1  # sample 0: two hand pixels, rendered (0.7, 0.5, 0.2) vs 0.5: L1 0.2 + 0 + 0.3
    rendered[0, :, 0, :2] = torch.tensor([0.7, 0.5, 0.2])[:, None]
    silhouette[1, 1:3, 1:3] = 1  # sample 1: four hand pixels rendered exactly
    rendered[1, :, 1:3, 1:3] = 0.5
    conf = torch.stack([torch.full((21,), 0.9), torch.full((21,), 0.5)])
    # e0 = (0.5 + 0.5) / 2 = 0.5, e1 = 0; weights 0.9, 0.5
    assert pixel_loss(rendered, image, silhouette, conf).item() == pytest.approx(0.9 * 0.5 / 1.4)
    # one confidence ≤ 0.1 removes a sample: here sample 1, leaving e0
    conf[1, 3] = 0.1
    assert pixel_loss(rendered, image, silhouette, conf).item() == pytest.approx(0.5)
    conf[0, 0] = 0.05  # every sample gated: 0, not NaN
    assert pixel_loss(rendered, image, silhouette, conf).item() == 0.0


def test_pixel_loss_zero_weight_when_a_confidence_is_low():
    rendered, image, silhouette, conf = _random_images(batch=3)
    base = pixel_loss(rendered, image, silhouette, conf)
    low = conf.clone()
    low[1, 7] = 0.1
    with_low = pixel_loss(rendered, image, silhouette, low)
    only_others = pixel_loss(rendered[[0, 2]], image[[0, 2]], silhouette[[0, 2]], conf[[0, 2]])
    assert with_low.item() == pytest.approx(only_others.item(), rel=1e-12) and with_low.item() != base.item()


def test_pixel_loss_soft_silhouette_and_background():
    # one pixel with S = 0.5; albedo 0.6 composited over background bg, input 1 masked over the same bg
    for bg in (0.0, 1.0, 0.3):
        silhouette = torch.zeros(1, 3, 3)
        silhouette[0, 1, 1] = 0.5
        image = torch.ones(1, 3, 3, 3)
        rendered = torch.full((1, 3, 3, 3), bg)
        rendered[0, :, 1, 1] = 0.5 * 0.6 + 0.5 * bg
        # |0.5·0.6 − 0.5·1| = 0.2 per channel, 0.6 over RGB, divided by the soft area 0.5
        got = pixel_loss(rendered, image, silhouette, torch.ones(1, 21), background=bg)
        assert got.item() == pytest.approx(1.2)


def _naive_pixel(rendered, image, silhouette, conf) -> float:
    num = den = 0.0
    for b in range(rendered.shape[0]):
        c = conf[b].tolist()
        w = sum(c) / 21 if min(c) > 0.1 else 0.0
        l1 = area = 0.0
        for y in range(rendered.shape[2]):
            for x in range(rendered.shape[3]):
                s = float(silhouette[b, y, x])
                area += s
                if s > 0:
                    l1 += sum(abs(float(rendered[b, k, y, x]) - float(image[b, k, y, x]) * s) for k in range(3))
        num += w * l1 / area
        den += w
    return num / den


def test_pixel_loss_matches_naive_loops_and_gradcheck():
    rendered, image, silhouette, conf = _random_images(size=(6, 5))
    assert pixel_loss(rendered, image, silhouette, conf).item() == pytest.approx(
        _naive_pixel(rendered, image, silhouette, conf), rel=1e-10)
    # strictly positive silhouette: the S > 0 pixel set must not change under the finite differences
    r, s = rendered.clone().requires_grad_(True), (0.05 + 0.9 * silhouette).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r_, s_: pixel_loss(r_, image, s_, conf), (r, s))


# --- SSIM -----------------------------------------------------------------------------------------------------

def _naive_ssim(x, y, size=11, sigma=1.5) -> float:
    """Wang et al. SSIM over every valid window, with the explicit 2D Gaussian window, per channel."""
    g = [math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(size)]
    total = sum(g)
    w = [[g[i] * g[j] / total**2 for j in range(size)] for i in range(size)]
    values = []
    for c in range(x.shape[0]):
        for top in range(x.shape[1] - size + 1):
            for left in range(x.shape[2] - size + 1):
                px = [[float(x[c, top + i, left + j]) for j in range(size)] for i in range(size)]
                py = [[float(y[c, top + i, left + j]) for j in range(size)] for i in range(size)]
                mx = sum(w[i][j] * px[i][j] for i in range(size) for j in range(size))
                my = sum(w[i][j] * py[i][j] for i in range(size) for j in range(size))
                vx = sum(w[i][j] * (px[i][j] - mx) ** 2 for i in range(size) for j in range(size))
                vy = sum(w[i][j] * (py[i][j] - my) ** 2 for i in range(size) for j in range(size))
                cxy = sum(w[i][j] * (px[i][j] - mx) * (py[i][j] - my) for i in range(size) for j in range(size))
                values.append((2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2)))
    return sum(values) / len(values)


def test_gaussian_window():
    g = gaussian_window(11, 1.5, dtype=torch.float64)
    assert g.shape == (11,) and g.sum().item() == pytest.approx(1.0)
    assert g[5] == g.max() and torch.allclose(g, g.flip(0))
    assert (g[6] / g[5]).item() == pytest.approx(math.exp(-1 / (2 * 1.5**2)))


def test_ssim_of_identical_images_is_one():
    x = torch.rand(2, 3, 20, 17, dtype=torch.float64)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64), atol=1e-12)


def test_ssim_of_constant_images_follows_the_formula():
    # constant a and b: zero variances and covariance, so SSIM = (2ab + C1) / (a² + b² + C1) everywhere
    for a, b in ((0.2, 0.6), (0.0, 1.0), (0.5, 0.5), (0.9, 0.1)):
        x = torch.full((1, 3, 12, 14), a, dtype=torch.float64)
        y = torch.full((1, 3, 12, 14), b, dtype=torch.float64)
        expected = (2 * a * b + C1) / (a * a + b * b + C1)
        assert ssim(x, y).item() == pytest.approx(expected, rel=1e-9)
    assert (0.24 + C1) / (0.40 + C1) == pytest.approx(0.600099975, rel=1e-9)  # the (0.2, 0.6) value, written out


def test_ssim_matches_naive_windows():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 13, 14, generator=g, dtype=torch.float64)
    y = (x + 0.3 * torch.rand(2, 13, 14, generator=g, dtype=torch.float64)).clamp(0, 1)
    assert ssim(x[None], y[None]).item() == pytest.approx(_naive_ssim(x, y), rel=1e-10)


def test_ssim_loss_uses_masked_input_and_gradcheck():
    rendered, image, silhouette, _ = _random_images(size=(12, 12))
    # rendered = masked input: perfect structural match
    assert ssim_loss(masked_image(image, silhouette), image, silhouette).item() == pytest.approx(0.0, abs=1e-12)
    expected = 1 - ssim(masked_image(image, silhouette), rendered).mean()
    assert ssim_loss(rendered, image, silhouette).item() == pytest.approx(expected.item())
    r, i = rendered[:1, :, :11, :12].clone().requires_grad_(True), image[:1, :, :11, :12].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r_, i_: ssim_loss(r_, i_, silhouette[:1, :11, :12]), (r, i))


def test_ssim_rejects_small_images():
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 3, 8, 20), torch.zeros(1, 3, 8, 20))


# --- mean colour ----------------------------------------------------------------------------------------------

def test_mean_color_hand_worked_and_gradcheck():
    image = torch.full((2, 3, 2, 2), 0.8)
    silhouette = torch.ones(2, 2, 2)
    rendered = torch.full((2, 3, 2, 2), 0.5)  # |0.5 − 0.8| = 0.3
    rendered[1] = 0.8  # 0
    conf = torch.stack([torch.full((21,), 0.6), torch.full((21,), 0.2)])
    assert mean_color_loss(rendered, image, silhouette, conf).item() == pytest.approx(0.6 * 0.3 / 0.8)
    rendered_, image_, silhouette_, conf_ = _random_images(size=(5, 5))
    r = rendered_.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r0: mean_color_loss(r0, image_, silhouette_, conf_), (r,))


def test_float32_inputs_stay_float32():
    rendered, image, silhouette, conf = _random_images(size=(12, 12), dtype=torch.float32)
    for value in (pixel_loss(rendered, image, silhouette, conf), ssim_loss(rendered, image, silhouette),
                  mean_color_loss(rendered, image, silhouette, conf)):
        assert value.dtype == torch.float32 and value.dim() == 0 and torch.isfinite(value)
