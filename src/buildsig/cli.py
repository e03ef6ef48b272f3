"""The ``buildsig`` command: argument parsing and printing around the library.

Kept thin on purpose: every decision lives in the library, so what the command prints is
what a program calling the library gets. Exit codes: 0 success, 1 an error in the input
or the world (one ``error: …`` line on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from buildsig._version import __version__
from buildsig.errors import BuildsigError, InvalidInputError
from buildsig.model import Env, Input, input_json_schema
from buildsig.source import Source, parse_platform, source_to_input

__all__ = ["main"]


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if not sep:
        # docker build --build-arg NAME takes the value from the environment
        return key, os.environ.get(key, "")
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildsig",
        description="Gather and verify the facts a container build policy needs.",
    )
    parser.add_argument("--version", action="version", version=f"buildsig {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inspect = sub.add_parser(
        "inspect",
        help="print the policy input for build sources",
        description=(
            "Print the Buildx policy input (JSON) for each SOURCE: an identifier "
            "(docker-image://, git://, https://, local://), a bare image reference "
            "(alpine means docker-image://docker.io/library/alpine:latest), a git URL or a "
            "local path. One SOURCE prints one object; several print an array."
        ),
    )
    inspect.add_argument("sources", nargs="*", metavar="SOURCE")
    inspect.add_argument(
        "--from-file",
        metavar="FILE",
        help="read sources from FILE, one per line ('#' starts a comment)",
    )
    inspect.add_argument(
        "--no-resolve",
        action="store_true",
        help="use only what the identifier says; list the rest as unresolved",
    )
    inspect.add_argument("--platform", help="platform for image sources (default: this host)")
    inspect.add_argument(
        "--build-arg",
        action="append",
        type=_key_value,
        default=[],
        metavar="K=V",
        help="build argument, as env.args (repeatable)",
    )
    inspect.add_argument(
        "--label",
        action="append",
        type=_key_value,
        default=[],
        metavar="K=V",
        help="image label, as env.labels (repeatable)",
    )
    inspect.add_argument("--target", default="", help="build target, as env.target")
    inspect.add_argument(
        "-f",
        "--file",
        default="Dockerfile",
        metavar="DOCKERFILE",
        help="the Dockerfile; its base name becomes env.filename",
    )
    inspect.add_argument(
        "-q", "--quiet", action="store_true", help="do not list unresolved fields on stderr"
    )

    sub.add_parser(
        "schema",
        help="print the JSON Schema of the policy input",
        description="Print a JSON Schema (draft 2020-12) of the policy input, from the model.",
    )
    return parser


def _read_sources(args: argparse.Namespace) -> list[str]:
    sources = list(args.sources)
    if args.from_file:
        try:
            with open(args.from_file, encoding="utf-8") as fh:
                text = fh.read(1 << 20)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {args.from_file}: {exc.strerror}", source=args.from_file
            ) from None
        # Only whole-line comments: identifiers may contain '#' (git URL fragments).
        sources += [s for s in (ln.strip() for ln in text.splitlines()) if s and s[0] != "#"]
    return sources


def _inspect(args: argparse.Namespace) -> int:
    sources = _read_sources(args)
    if not sources:
        print("error: no SOURCE given", file=sys.stderr)
        return 2
    platform = parse_platform(args.platform) if args.platform else None
    filename = "-" if args.file == "-" else os.path.basename(args.file.rstrip("/")) or "Dockerfile"
    env = Env(
        args=dict(args.build_arg),
        labels=dict(args.label),
        filename=filename,
        target=args.target,
    )
    inputs: list[Input] = []
    for text in sources:
        inp = source_to_input(Source.parse(text), platform=platform, env=env)
        if inp.unknowns and not args.no_resolve:
            kind = next(k for k in ("image", "git", "http") if getattr(inp, k) is not None)
            raise InvalidInputError(
                f"resolving {kind} sources is not available in this version; "
                "pass --no-resolve to print what the identifier determines",
                source=text,
            )
        if inp.unknowns and not args.quiet:
            print(f"unresolved for {text}: {', '.join(inp.unknown_refs())}", file=sys.stderr)
        inputs.append(inp)
    if len(inputs) == 1:
        print(inputs[0].to_json())
    else:
        print("[\n  " + ",\n  ".join(i.to_json().replace("\n", "\n  ") for i in inputs) + "\n]")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "schema":
            print(json.dumps(input_json_schema(), indent=2))
            return 0
    except BuildsigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
