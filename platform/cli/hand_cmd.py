"""`s2hand hand ...` (build, export, showcase) and `s2hand mano convert`."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    hand = subparsers.add_parser("hand", help="hand model: build the open hand, export meshes, render poses",
                                 description="Hand model tools (the bundled open hand or a converted MANO).")
    hand.set_defaults(group_parser=hand)
    sub = hand.add_subparsers(dest="hand_command", metavar="SUBCOMMAND")

    build = sub.add_parser("build", help="write the open hand model (MANO npz layout) to a directory")
    build.add_argument("--out", required=True, type=Path, help="directory; receives MANO_RIGHT.npz")
    build.set_defaults(func=_build)

    export = sub.add_parser("export", help="export the hand in a pose as .obj or .ply (and a PNG render)")
    _model_arguments(export)
    export.add_argument("--pose", default="mean", help="mean, flat, fist, point, pinch, spread, victory, or a .json "
                        "file of 45 local joint angles in degrees (default: mean)")
    export.add_argument("--betas", default="", help="comma-separated shape coefficients (default: mean shape)")
    export.add_argument("--out", required=True, type=Path, help="mesh file: .obj or .ply")
    export.add_argument("--png", type=Path, help="also render the mesh to this PNG")
    export.add_argument("--view", default="back", choices=["back", "palm", "side"], help="view for --png")
    export.set_defaults(func=_export)

    showcase = sub.add_parser("showcase", help="render all named poses from three views into one PNG (+ .ply each)")
    _model_arguments(showcase)
    showcase.add_argument("--out", required=True, type=Path, help="output directory")
    showcase.add_argument("--size", type=int, default=256, help="pixels per view (default 256)")
    showcase.set_defaults(func=_showcase)

    mano = subparsers.add_parser("mano", help="official MANO model files", description="Official MANO model tools.")
    mano.set_defaults(group_parser=mano)
    mano_sub = mano.add_subparsers(dest="mano_command", metavar="SUBCOMMAND")
    convert = mano_sub.add_parser(
        "convert", help="convert MANO_RIGHT.pkl to the npz layout (restricted unpickler; chumpy not needed)",
        description="Convert the official MANO_RIGHT.pkl (from mano.is.tue.mpg.de) to MANO_RIGHT.npz. The pickle is "
        "read through an allow-list of numpy/scipy/chumpy array classes; any other global is refused and nothing "
        "from the file is executed.")
    convert.add_argument("pkl", type=Path, help="path to MANO_RIGHT.pkl")
    convert.add_argument("--out", required=True, type=Path, help="directory; receives MANO_RIGHT.npz")
    convert.set_defaults(func=_convert)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="open", help="'open' (bundled) or a directory with MANO_RIGHT.npz")


def _build(args: argparse.Namespace) -> int:
    from s2hand.hand.model_files import MODEL_FILENAME, save_model
    from s2hand.hand.open_hand import build_open_hand_model

    path = save_model(build_open_hand_model(), args.out / MODEL_FILENAME)
    print(f"open hand model written to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from s2hand.errors import S2HandError
    from s2hand.hand.model import HandModel
    from s2hand.hand.poses import pose_from_argument
    from s2hand.hand.showcase import render_poses, save_png, skin_colors
    from s2hand.io.mesh import write_mesh

    if args.out.suffix.lower() not in (".obj", ".ply"):
        raise S2HandError(f"--out {args.out}: use a .obj or .ply file name")
    hand = HandModel(args.model)
    pose = pose_from_argument(args.pose)
    try:
        betas = [float(b) for b in args.betas.split(",") if b.strip()]
    except ValueError as error:
        raise S2HandError(f"--betas: {error}") from error
    if len(betas) > hand.num_betas:
        raise S2HandError(f"--betas: the model has {hand.num_betas} shape coefficients, got {len(betas)}")
    beta = torch.zeros(1, hand.num_betas)
    beta[0, : len(betas)] = torch.tensor(betas)
    offset = torch.zeros(1, 45) if pose is None else torch.as_tensor(np.deg2rad(pose).reshape(1, 45), dtype=torch.float32) - hand.pose_mean
    with torch.no_grad():
        out = hand(offset, beta, pose_space="axis_angle")
    colors = skin_colors(hand.faces.shape[0])
    write_mesh(args.out, out.vertices[0].numpy(), hand.faces.numpy(), colors.numpy())
    print(f"mesh written to {args.out} ({hand.num_vertices} vertices, {hand.faces.shape[0]} faces, {hand.model_name})")
    if args.png:
        save_png(args.png, render_poses(hand, [pose], args.view)[0])
        print(f"render written to {args.png}")
    return 0


def _showcase(args: argparse.Namespace) -> int:
    from s2hand.hand.model import HandModel
    from s2hand.hand.poses import NAMED_POSES
    from s2hand.hand.showcase import VIEWS, contact_sheet, render_poses, save_png

    hand = HandModel(args.model)
    names = ["mean", *NAMED_POSES]
    poses = [None if name == "mean" else NAMED_POSES[name] for name in names]
    images = [render_poses(hand, poses, view, args.size) for view in VIEWS]
    sheet = contact_sheet(__import__("numpy").concatenate(images), columns=len(names))
    path = save_png(args.out / "showcase.png", sheet)
    print(f"{len(names)} poses ({', '.join(names)}) x views ({', '.join(VIEWS)}) -> {path}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from s2hand.hand.convert import convert_mano_pickle

    path = convert_mano_pickle(args.pkl, args.out)
    print(f"converted {args.pkl} -> {path}")
    return 0
