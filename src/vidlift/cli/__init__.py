"""The ``vidlift`` command: one sub-command per module, each with ``--help``."""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..extras import MissingExtraError, extra_providing, require_extra
from . import convert, demo, evaluate, extract, pretrain_tiny, synth, train, transfers, zero_shot

COMMANDS = (demo, train, extract, zero_shot, convert, synth, pretrain_tiny, transfers, evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidlift",
        description="Transfer image-language foundation models (CLIP, SigLIP and kin) to video tasks.",
    )
    parser.add_argument("--version", action="version", version=f"vidlift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        for extra in getattr(args, "extras", ()):  # declared by the command: fail before any work
            require_extra(extra, f"vidlift {args.command}")
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MissingExtraError as e:
        print(e, file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        # An optional package reached only on some paths (peft for a `lora` strategy): the pip line.
        extra = extra_providing(e.name)
        if extra is None:
            raise
        print(MissingExtraError(f"vidlift {args.command}", extra, [e.name.split(".")[0]]), file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        # User-facing errors (bad spec, bad list file, mismatched output folder) carry a
        # message that names the file; a traceback would bury it.
        print(f"vidlift {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if type(e).__name__ != "MisconfigurationException":  # Lightning's, for a trainer setting
            raise
        print(f"vidlift {args.command}: error: trainer: {e}", file=sys.stderr)
        return 2
