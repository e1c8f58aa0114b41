"""Networks: shapes, initial prediction in front of the camera, soft-argmax, local encoder weights, gradients."""
from __future__ import annotations

import pytest
import torch
import torchvision

from s2hand.errors import S2HandError
from s2hand.geometry.camera import default_intrinsics
from s2hand.models.encoder import EfficientNetEncoder
from s2hand.models.hourglass import StackedHourglass, soft_argmax
from s2hand.models.s2hand import S2Hand, S2HandConfig


@pytest.fixture(scope="module")
def model(hand_model):
    torch.manual_seed(0)
    return S2Hand(hand_model, S2HandConfig(image_size=128, use_2d_branch=True, hourglass_channels=32,
                                           hourglass_depth=2)).eval()


def test_outputs_and_initial_hand_in_front_of_the_camera(model):
    image = torch.rand(2, 3, 128, 128)
    K = default_intrinsics(2, image_size=128, focal=280.0)
    with torch.no_grad():
        out = model(image, K)
    assert out["vertices"].shape == (2, 778, 3) and out["joints3d"].shape == (2, 21, 3)
    assert out["face_colors"].shape == (2, 1538, 3) and out["lighting"].shape == (2, 11)
    assert out["rendered_image"].shape == (2, 3, 128, 128) and out["silhouette"].shape == (2, 128, 128)
    assert len(out["keypoints2d_stacks"]) == 2 and out["keypoints2d_stacks"][0].shape == (2, 21, 2)
    # reference initialisation: mean hand, scale 0.95, 0.65 m in front of the camera, all joints in the image
    assert torch.allclose(out["translation"], torch.tensor([0.0, 0.0, 0.65]).expand(2, 3), atol=1e-3)
    assert torch.allclose(out["scale"], torch.full((2,), 0.95), atol=1e-3)
    assert ((out["joints2d"] > 0) & (out["joints2d"] < 128)).all()
    assert out["silhouette"].amax() > 0.99, "the first hand is visible"
    skin = torch.tensor([200 / 256, 150 / 256, 150 / 256])
    assert torch.allclose(out["face_colors"], skin.expand_as(out["face_colors"]), atol=1e-2)


def test_gradients_reach_the_encoder_from_projected_joints(model):
    model.train()
    out = model(torch.rand(2, 3, 128, 128), default_intrinsics(2, image_size=128, focal=280.0), render=False)
    out["joints2d"].square().mean().backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    model.zero_grad(set_to_none=True)
    model.eval()


def test_orthographic_camera_needs_no_K(hand_model):
    net = S2Hand(hand_model, S2HandConfig(image_size=96, camera="orthographic", use_texture_head=False)).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 96, 96))
    assert ((out["joints2d"] > 0) & (out["joints2d"] < 96)).all()
    with pytest.raises(ValueError, match="needs intrinsics"):
        S2Hand(hand_model, S2HandConfig(image_size=96, use_texture_head=False)).eval()(torch.rand(1, 3, 96, 96))


def test_soft_argmax_recovers_a_peak():
    heat = torch.full((1, 2, 16, 16), -50.0)
    heat[0, 0, 4, 10] = 50.0  # row 4, column 10 of a 16-grid upsampled to 64: centre at ((10+0.5)*4, (4+0.5)*4)
    heat[0, 1, 12, 3] = 50.0
    xy = soft_argmax(heat, (64, 64))
    assert torch.allclose(xy[0, 0], torch.tensor([42.0, 18.0]), atol=1.0)
    assert torch.allclose(xy[0, 1], torch.tensor([14.0, 50.0]), atol=1.0)


def test_hourglass_keeps_input_coordinates_with_padding():
    net = StackedHourglass(stacks=1, channels=16, depth=2, input_size=64)
    keypoints, heatmaps = net(torch.rand(1, 3, 56, 56))
    assert heatmaps.shape == (1, 21, 16, 16)
    assert ((keypoints[0] >= 0) & (keypoints[0] <= 64)).all()


def test_local_encoder_weights_load_and_bad_files_are_refused(tmp_path):
    reference = torchvision.models.efficientnet_b0(weights=None)
    torch.save(reference.state_dict(), tmp_path / "b0.pth")
    encoder = EfficientNetEncoder(tmp_path / "b0.pth")
    assert torch.equal(encoder.low[0][0].weight, reference.features[0][0].weight)
    torch.save({"something": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(S2HandError, match="not an efficientnet_b0 state dict"):
        EfficientNetEncoder(tmp_path / "bad.pth")
    with pytest.raises(S2HandError, match="cannot load encoder weights"):
        EfficientNetEncoder(tmp_path / "missing.pth")
