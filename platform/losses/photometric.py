"""Photometric losses: E_pixel (Eq. 6), E_SSIM (Eq. 7) and the reference code's mean-colour L1.

Images are (B, 3, H, W) RGB in [0, 1]; the rendered silhouette S is (B, H, W) in [0, 1] (soft or hard). The input
is compared through `masked_image` = I⊙S + (1 − S)·background, which must use the renderer's background colour
(default black, as `s2hand.render`), so that outside the hand both images hold the same value.
"""
from __future__ import annotations

import torch

from .keypoints import weighted_mean

__all__ = [
    "masked_image",
    "photometric_sample_weights",
    "pixel_loss",
    "ssim",
    "ssim_loss",
    "mean_color_loss",
    "gaussian_window",
]

Background = float | torch.Tensor


def _check_images(rendered: torch.Tensor, image: torch.Tensor, silhouette: torch.Tensor) -> None:
    if rendered.dim() != 4 or rendered.shape[1] != 3:
        raise ValueError(f"rendered must be (B, 3, H, W), got {tuple(rendered.shape)}")
    if image.shape != rendered.shape:
        raise ValueError(f"image must match rendered {tuple(rendered.shape)}, got {tuple(image.shape)}")
    if silhouette.shape != (rendered.shape[0], *rendered.shape[2:]):
        raise ValueError(f"silhouette must be (B, H, W) = {(rendered.shape[0], *rendered.shape[2:])}, "
                         f"got {tuple(silhouette.shape)}")


def masked_image(image: torch.Tensor, silhouette: torch.Tensor, background: Background = 0.0) -> torch.Tensor:
    """I ⊙ S + (1 − S)·background: the input seen through the rendered silhouette, composited like the renderer.

    image (B, 3, H, W), silhouette (B, H, W); background a float, (3,) or (B, 3) colour.
    """
    s = silhouette[:, None].to(image.dtype)
    bg = torch.as_tensor(background, dtype=image.dtype, device=image.device)
    bg = bg.reshape(-1, 3, 1, 1) if bg.dim() else bg
    return image * s + (1.0 - s) * bg


def photometric_sample_weights(confidences: torch.Tensor, min_confidence: float = 0.1) -> torch.Tensor:
    """Per-sample weight of the photometric terms: the mean of the 21 detection confidences, 0 if any ≤ 0.1.

    confidences (B, 21) or (B, 21, 1) -> (B,). Reference code's `texture_con` (the paper's conf_sum of Eq. 6 up to
    the factor 21, which the batch normalisation cancels): an unreliable detection gates the whole sample out.
    """
    c = confidences[..., 0] if confidences.dim() == 3 else confidences
    return torch.where((c > min_confidence).all(-1), c.mean(-1), torch.zeros_like(c[:, 0]))


def pixel_loss(
    rendered: torch.Tensor,
    image: torch.Tensor,
    silhouette: torch.Tensor,
    confidences: torch.Tensor,
    *,
    background: Background = 0.0,
    min_confidence: float = 0.1,
) -> torch.Tensor:
    """E_pixel, Eq. 6: mean per-pixel L1 (summed over RGB) between the rendered image and the masked input over the
    silhouette pixels, confidence-weighted over the batch.

    rendered, image (B, 3, H, W) in [0, 1]; silhouette (B, H, W); confidences (B, 21) or (B, 21, 1).
    Per sample: e_b = Σ_{p: S_p > 0} ‖I⊙S − I_re‖₁ / Σ_p S_p (Σ S = |S^re| for a hard mask); result
    Σ_b w_b e_b / Σ_b w_b with w_b = `photometric_sample_weights` (linear, as conf_sum in Eq. 6; the reference
    code squares w_b and averages over all H·W·3 values instead of the silhouette pixels). Units: RGB L1 per pixel,
    in [0, 3]. 0 when every weight is 0 or a sample's silhouette is empty.
    """
    _check_images(rendered, image, silhouette)
    target = masked_image(image, silhouette, background)
    inside = (silhouette > 0).to(rendered.dtype)
    l1 = ((rendered - target).abs().sum(1) * inside).sum((1, 2))  # (B,)
    area = silhouette.to(rendered.dtype).sum((1, 2))
    per_sample = torch.where(area > 0, l1 / torch.where(area > 0, area, torch.ones_like(area)), torch.zeros_like(area))
    return weighted_mean(per_sample, photometric_sample_weights(confidences, min_confidence).to(rendered.dtype))


def gaussian_window(size: int = 11, sigma: float = 1.5, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised 1D Gaussian of `size` taps (size,); its outer product is SSIM's 2D window."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x.square() / (2.0 * sigma * sigma))
    return (g / g.sum()).to(dtype=dtype, device=device)


def _valid_band(taps: torch.Tensor, length: int) -> torch.Tensor:
    """(length − k + 1, length) matrix M with M[i, i + t] = taps[t]: M @ v is the 'valid' correlation of v.

    A banded matmul rather than a depthwise conv2d: same result; on CPU as fast in float32 at 224 px, ~3× faster in
    float64, and free of the depthwise conv's threading overhead on small images (which made float64 gradchecks crawl).
    """
    k = taps.shape[0]
    rows = torch.arange(length - k + 1, device=taps.device)[:, None].expand(-1, k)
    band = taps.new_zeros(length - k + 1, length)
    band[rows, rows + torch.arange(k, device=taps.device)] = taps.expand_as(rows)
    return band


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    c1: float = 0.01**2,
    c2: float = 0.03**2,
) -> torch.Tensor:
    """Per-sample SSIM (Wang et al. 2004) of images in [0, 1], (B, C, H, W) -> (B,), mean over channels and windows.

    Local statistics use a separable Gaussian window (11 taps, σ = 1.5) over the 'valid' positions only
    (H, W ≥ window_size): the reference code's pytorch_ssim zero-pads, which invents a dark edge at the border.
    SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1 = 0.01², C2 = 0.03² (data range 1).
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"x and y must be equal (B, C, H, W), got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window_size:
        raise ValueError(f"images must be at least {window_size} px on each side, got {tuple(x.shape[-2:])}")
    batch, channels = x.shape[:2]
    g = gaussian_window(window_size, sigma, dtype=x.dtype, device=x.device)
    # the five moments of every channel (x, y, x², y², xy), blurred separably as G_h · M · G_wᵀ
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    blurred = _valid_band(g, x.shape[-2]) @ stacked @ _valid_band(g, x.shape[-1]).T
    mu_x, mu_y, xx, yy, xy = blurred.split(channels, dim=1)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return (numerator / denominator).reshape(batch, -1).mean(-1)


def ssim_loss(
    rendered: torch.Tensor,
    image: torch.Tensor,
    silhouette: torch.Tensor,
    *,
    background: Background = 0.0,
    window_size: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """E_SSIM, Eq. 7: 1 − SSIM(I ⊙ S, I_re), averaged over the batch (unweighted, as the reference code).

    rendered, image (B, 3, H, W) in [0, 1]; silhouette (B, H, W). Dimensionless, in [0, 2].
    """
    _check_images(rendered, image, silhouette)
    target = masked_image(image, silhouette, background)
    return 1.0 - ssim(target, rendered, window_size=window_size, sigma=sigma).mean()


def mean_color_loss(
    rendered: torch.Tensor,
    image: torch.Tensor,
    silhouette: torch.Tensor,
    confidences: torch.Tensor,
    *,
    background: Background = 0.0,
    min_confidence: float = 0.1,
) -> torch.Tensor:
    """Reference-code extra (not in the paper): L1 between the mean values of the rendered and masked input images.

    Per sample |mean(I_re) − mean(I ⊙ S)| over all 3·H·W values, combined over the batch with the weights of
    `pixel_loss` (linear; the reference squared them). Units: RGB intensity in [0, 1].
    """
    _check_images(rendered, image, silhouette)
    target = masked_image(image, silhouette, background)
    diff = (rendered.flatten(1).mean(-1) - target.flatten(1).mean(-1)).abs()
    return weighted_mean(diff, photometric_sample_weights(confidences, min_confidence).to(rendered.dtype))

