"""`s2hand config show | validate | list | reference`: resolve, check and document experiment specs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SPEC_HELP = "a spec file, or a name under the jobs folder (e.g. s2hand/finetune)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config", help="resolve, validate and document experiment specs",
        description="Experiment specs are YAML files (jobs/*.yaml) with `extends` and dotted KEY=VALUE overrides.",
    )
    parser.set_defaults(group_parser=parser)
    commands = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND")

    show = commands.add_parser(
        "show", help="print the resolved spec as YAML",
        description="Resolve a spec (extends, defaults, overrides) and print it as YAML; sweeps print as sweeps.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: s2hand config show s2hand/finetune train.lr=1e-4 data.root=/data/FreiHAND",
    )
    show.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    show.add_argument("overrides", metavar="KEY=VALUE", nargs="*", help="dotted overrides, values read as YAML")
    show.add_argument("--flat", action="store_true", help="print dotted KEY=VALUE lines instead of YAML")
    show.set_defaults(func=_show)

    validate = commands.add_parser(
        "validate", help="check experiment and sweep specs",
        description="Check spec files (sweeps are recognised by their `base` key); folders are searched for *.yaml. "
        "Exit status 2 if any fails.",
    )
    validate.add_argument("specs", metavar="SPEC", nargs="+", help=f"{SPEC_HELP}, or a folder")
    validate.set_defaults(func=_validate)

    listing = commands.add_parser("list", help="list the spec names in the jobs folder",
                                  description="List the spec names in the jobs folder ($S2HAND_JOBS_DIR or jobs/).")
    listing.set_defaults(func=_list)

    reference = commands.add_parser(
        "reference", help="write the markdown configuration reference",
        description="Render every key (type, default, description) from the schema as markdown.",
    )
    reference.add_argument("--out", metavar="FILE", type=Path, help="write here instead of standard output")
    reference.set_defaults(func=_reference)


def _show(args: argparse.Namespace) -> int:
    from s2hand.config import find_spec, is_sweep_file, load_spec, load_sweep

    if is_sweep_file(find_spec(args.spec)):
        sys.stdout.write(load_sweep(args.spec, args.overrides).to_yaml())
        return 0
    spec = load_spec(args.spec, args.overrides)
    if args.flat:
        import yaml

        for key, value in spec.flatten().items():
            text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
            print(f"{key}={text}")
    else:
        sys.stdout.write(spec.to_yaml())
    return 0


def _validate(args: argparse.Namespace) -> int:
    from s2hand.config import find_spec, is_sweep_file, load_spec, load_sweep
    from s2hand.errors import ConfigError

    files: list[str | Path] = []
    for ref in args.specs:
        folder = Path(ref)
        files += sorted(folder.rglob("*.yaml")) if folder.is_dir() else [ref]
    failed = 0
    for ref in files:
        try:
            path = find_spec(ref)
            if is_sweep_file(path):
                load_sweep(path)
            else:
                load_spec(path)
        except ConfigError as error:
            if len(files) == 1:
                raise  # one spec: the CLI prints the error and exits 2
            failed += 1
            print(f"s2hand config: error: {error}", file=sys.stderr)
        else:
            print(f"ok  {ref}")
    if failed:
        print(f"s2hand config: {failed} of {len(files)} specs failed", file=sys.stderr)
    return 2 if failed else 0


def _list(args: argparse.Namespace) -> int:
    from s2hand.config import list_specs

    print("\n".join(list_specs()))
    return 0


def _reference(args: argparse.Namespace) -> int:
    from s2hand.config.reference import render_reference

    text = render_reference()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0
