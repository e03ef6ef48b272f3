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
from typing import TYPE_CHECKING, Any

from buildsig._version import __version__
from buildsig.errors import BuildsigError, InvalidInputError
from buildsig.model import Env, input_json_schema
from buildsig.source import Source, parse_platform, source_to_input

if TYPE_CHECKING:
    from buildsig.resolver import ResolveOptions

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

    inspect.add_argument(
        "--fields",
        default="",
        metavar="F,…",
        help="resolve only what these fields need (e.g. git.tag,git.commit); default: all",
    )
    inspect.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per network step (default 30)"
    )
    inspect.add_argument(
        "--oci-layout",
        action="append",
        default=[],
        metavar="DIR",
        help="an OCI image layout to resolve images from, offline (repeatable)",
    )
    inspect.add_argument(
        "--trusted-root",
        metavar="FILE",
        help="Sigstore trusted_root.json for image signatures (default: public good)",
    )
    inspect.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="a registry reached over plain HTTP (loopback registries always are)",
    )

    verify = sub.add_parser("verify", help="verify signatures").add_subparsers(
        dest="verify_command", metavar="WHAT", required=True
    )
    git_object = verify.add_parser(
        "git-object",
        help="verify raw git tag or commit objects",
        description=(
            "Verify the signature of each FILE, a raw tag or commit object (the bytes "
            "`git cat-file tag|commit ID` prints; '-' reads standard input). Prints one JSON "
            "line per object, in argument order; exits 0 only if every object verified."
        ),
    )
    git_object.add_argument("files", nargs="+", metavar="FILE")
    _trust_arguments(git_object)

    image = verify.add_parser(
        "image",
        help="find and verify an image's signatures",
        description=(
            "Find every signature of the image REF (Buildx/Docker, Docker Hardened Images, "
            "cosign bundles and cosign .sig tags), verify each offline and print a verdict "
            "per signature, with the signer and verified times; candidates that were passed "
            "over are listed with the reason. Exits 0 when at least one signature verified."
        ),
    )
    image.add_argument("ref", metavar="REF")
    image.add_argument("--platform", help="platform manifest to check (default: this host)")
    _resolve_arguments(image)
    image.add_argument("--json", action="store_true", help="print the verdicts as JSON")

    bundle_help = (
        "Verify a Sigstore bundle over FILE_OR_DIGEST (a file, or sha256:<hex> when no such "
        "file exists; for DSSE bundles an in-toto subject), offline, against the production "
        "trust root, --staging, or --trusted-root FILE. Keyless bundles need the signer's "
        "identity and issuer; key-signed bundles need --key. Prints what was verified as "
        "JSON and exits 0, or prints the reason and exits 1. Implements the "
        "sigstore-conformance verify-bundle protocol."
    )
    for parent, name in ((verify, "bundle"), (sub, "verify-bundle")):
        kwargs: dict[str, Any] = {"description": bundle_help}
        if parent is verify:
            kwargs["help"] = "verify a Sigstore bundle"
        vb = parent.add_parser(name, **kwargs)
        vb.set_defaults(verify_command="bundle")
        vb.add_argument("--bundle", required=True, metavar="FILE")
        vb.add_argument("--certificate-identity", metavar="IDENTITY")
        vb.add_argument("--certificate-identity-regexp", metavar="REGEX")
        vb.add_argument("--certificate-oidc-issuer", metavar="URL")
        vb.add_argument("--certificate-oidc-issuer-regexp", metavar="REGEX")
        vb.add_argument("--key", metavar="PEM", help="verify with this public key instead")
        vb.add_argument("--trusted-root", metavar="FILE")
        vb.add_argument("--staging", action="store_true", help="use the staging trust root")
        vb.add_argument("artifact", metavar="FILE_OR_DIGEST")

    policy = sub.add_parser("policy", help="evaluate build policies").add_subparsers(
        dest="policy_command", metavar="WHAT", required=True
    )
    peval = policy.add_parser(
        "eval",
        help="evaluate the policy for one source",
        description=(
            "Evaluate the Buildx policy for SOURCE, as `docker buildx policy eval` does: "
            "the automatic policy <DOCKERFILE>.rego and every --policy FILE must allow. "
            "Only the input fields a policy reads (or its builtins ask for) are resolved. "
            "Exits 0 on allow, prints `error: policy denied: …` and exits 1 on deny. "
            "--print prints the input instead; --input evaluates a recorded input as is."
        ),
    )
    peval.add_argument("source", nargs="?", metavar="SOURCE")
    peval.add_argument("-f", "--file", default="Dockerfile", metavar="DOCKERFILE")
    peval.add_argument(
        "--policy", action="append", default=[], metavar="FILE", help="a policy (repeatable)"
    )
    peval.add_argument("--input", metavar="FILE.json", help="a recorded input, not resolved")
    peval.add_argument("--print", action="store_true", help="print the input, evaluate nothing")
    peval.add_argument("--fields", default="", metavar="F,…")
    peval.add_argument("--platform")
    _resolve_arguments(peval)
    peval.add_argument(
        "--default-policy",
        action="store_true",
        help="also apply Buildx's default policy (BUILDX_DEFAULT_POLICY)",
    )
    peval.add_argument("--json", action="store_true", help="print each decision as JSON")
    ptest = policy.add_parser(
        "test",
        help="run a policy's tests",
        description=(
            "Run the test_* rules of the *_test.rego files at PATH (a directory or one file) "
            "against <FILENAME>.rego in this directory, as `docker buildx policy test` does: "
            "one `name: PASS|FAIL (allow=…, deny_msg=…)` line per test, with the input, the "
            "decision and the input fields the test did not give for each failure. Image "
            "inputs missing fields the policy reads are completed from their registry (or "
            "--oci-layout). Exits 1 when a test fails."
        ),
    )
    ptest.add_argument("path", metavar="PATH")
    ptest.add_argument("--run", default=None, metavar="SUBSTR", help="only tests matching")
    ptest.add_argument("--filename", "-f", default="Dockerfile", metavar="DOCKERFILE")
    _resolve_arguments(ptest)

    check = sub.add_parser(
        "check",
        help="check every source of a Dockerfile against its policies",
        description=(
            "List every source DOCKERFILE uses (base images of every stage, COPY --from and "
            "RUN --mount images, ADD URLs and git repositories, the build context), resolve "
            "what the policies read, and judge each source with <DOCKERFILE>.rego and every "
            "--policy FILE. Prints a table (or JSON); exits 1 when any source is denied."
        ),
    )
    check.add_argument("dockerfile", nargs="?", default="Dockerfile", metavar="DOCKERFILE")
    _build_arguments(check)
    check.add_argument("--policy", action="append", default=[], metavar="FILE")
    check.add_argument("--default-policy", action="store_true")
    check.add_argument(
        "--source-policy",
        action="append",
        default=[],
        metavar="FILE",
        help=(
            "a BuildKit source policy applied first, as the daemon does (repeatable; "
            "default: $EXPERIMENTAL_BUILDKIT_SOURCE_POLICY, as Buildx reads it)"
        ),
    )
    _resolve_arguments(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    srcpol = sub.add_parser(
        "source-policy", help="BuildKit source policies (allow, deny, convert)"
    ).add_subparsers(dest="source_policy_command", metavar="WHAT", required=True)
    speval = srcpol.add_parser(
        "eval",
        help="judge one source with BuildKit source policies",
        description=(
            "Evaluate IDENTIFIER (with --attr attributes) against each --policy FILE in "
            "order, exactly as BuildKit's source policy engine does before a build "
            "(--source-policy-file, EXPERIMENTAL_BUILDKIT_SOURCE_POLICY). Prints "
            '{"action", "identifier", "attrs", "mutated", "messages"} as JSON; exits 1 when '
            "the source is denied. Image identifiers are normalised first, as BuildKit's "
            "frontends do (alpine means docker-image://docker.io/library/alpine:latest)."
        ),
    )
    speval.add_argument("identifier", metavar="IDENTIFIER")
    speval.add_argument(
        "--policy", action="append", required=True, metavar="FILE", help="a policy (repeatable)"
    )
    speval.add_argument(
        "--attr",
        action="append",
        type=_key_value,
        default=[],
        metavar="K=V",
        help="a source attribute (repeatable)",
    )
    speval.add_argument(
        "--no-normalize", action="store_true", help="match IDENTIFIER exactly as given"
    )

    pin = sub.add_parser(
        "pin",
        help="pin every source of a Dockerfile with a BuildKit source policy",
        description=(
            "Resolve every source of DOCKERFILE now (image tags to the digest the tag "
            "points to, ADD URLs to the sha256 of their content, git refs to their commit) "
            "and write a BuildKit source policy of CONVERT rules that pins them, for "
            "buildctl --source-policy-file or EXPERIMENTAL_BUILDKIT_SOURCE_POLICY. "
            "The policy goes to -o FILE (written atomically) or to stdout; a summary table "
            "goes to stderr, or with --json a report (policy included) to stdout. When a "
            "source cannot be resolved nothing is written and the exit status is 1. "
            "With --check FILE nothing is written: every source is resolved again and "
            "compared with what FILE does to it (ok, changed, unpinned, error; rules "
            "matching no source are stale, which is allowed); the table (or --json) goes to "
            "stdout and the exit status is 1 unless every pin holds; the last line (stderr "
            "with --json) is the verdict and the buildsig pin command that updates FILE."
        ),
    )
    pin.add_argument("dockerfile", nargs="?", default="Dockerfile", metavar="DOCKERFILE")
    _build_arguments(pin)
    pin_mode = pin.add_mutually_exclusive_group()
    pin_mode.add_argument("-o", "--output", metavar="FILE", help="write the policy to FILE")
    pin_mode.add_argument(
        "--check", metavar="FILE", help="check the pins of an existing policy FILE"
    )
    pin.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    _resolve_arguments(pin, trust=False)

    gitinfo = sub.add_parser(
        "git-info",
        help="git provenance of a build context, as OCI labels",
        description=(
            "Report the git revision a build context comes from: "
            "org.opencontainers.image.revision (HEAD, with -dirty when tracked files "
            "changed), org.opencontainers.image.source (the remote, credentials removed, "
            "ssh forms of known forges as https) and com.docker.image.source.entrypoint "
            "(the Dockerfile's path in the repository). --format labels prints `--label` "
            "arguments for docker build; build-args prints GIT_COMMIT, GIT_DIRTY and "
            "GIT_SOURCE `--build-arg` arguments."
        ),
    )
    gitinfo.add_argument("directory", nargs="?", default=".", metavar="DIR")
    gitinfo.add_argument("--dockerfile", metavar="PATH")
    gitinfo.add_argument("--format", choices=("json", "labels", "build-args"), default="json")

    audit = sub.add_parser("audit", help="audit signatures in bulk").add_subparsers(
        dest="audit_command", metavar="WHAT", required=True
    )
    audit_git = audit.add_parser(
        "git",
        help="verify every commit and annotated tag of a local repository",
        description=(
            "Verify every commit in REV-RANGE (REV or A..B; default HEAD) and every annotated "
            "tag pointing into it, on every core, and summarise by outcome and by signer. "
            "Exits 1 when a signed object fails to verify (or, with --require-signed, when "
            "any object is unsigned)."
        ),
    )
    audit_git.add_argument("repo", metavar="REPO")
    audit_git.add_argument("rev_range", nargs="?", default=None, metavar="REV-RANGE")
    _trust_arguments(audit_git)
    audit_git.add_argument("--json", action="store_true", help="print the report as JSON")
    audit_git.add_argument(
        "--jobs", type=int, default=None, help="worker processes (default: cores)"
    )
    audit_git.add_argument(
        "--require-signed", action="store_true", help="treat unsigned objects as failures"
    )

    sub.add_parser(
        "schema",
        help="print the JSON Schema of the policy input",
        description="Print a JSON Schema (draft 2020-12) of the policy input, from the model.",
    )
    return parser


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    """What selects a Dockerfile's sources, as for ``docker build``."""
    parser.add_argument("--build-arg", action="append", type=_key_value, default=[], metavar="K=V")
    parser.add_argument("--target", default=None)
    parser.add_argument("--platform", help="target platform (default: this host)")


def _resolve_arguments(parser: argparse.ArgumentParser, *, trust: bool = True) -> None:
    """Where images come from and how long to wait (see :func:`_resolve_options`)."""
    parser.add_argument(
        "--oci-layout", action="append", default=[], metavar="DIR", help="an OCI image layout"
    )
    parser.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="a registry reached over plain HTTP",
    )
    if trust:
        parser.add_argument("--trusted-root", metavar="FILE", help="a Sigstore trusted root")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")


def _resolve_options(args: argparse.Namespace) -> ResolveOptions:
    """The ``ResolveOptions`` of the :func:`_resolve_arguments` flags."""
    from buildsig.resolver import ResolveOptions

    return ResolveOptions(
        timeout=args.timeout,
        oci_layouts=tuple(args.oci_layout),
        insecure_registries=tuple(args.insecure_registry),
        trust_root=getattr(args, "trusted_root", None),
    )


def _trust_arguments(parser: argparse.ArgumentParser) -> None:
    trust = parser.add_argument_group("trusted keys (at least one)")
    trust.add_argument(
        "--keys", metavar="FILE", help="armored OpenPGP public keys and/or SSH public key lines"
    )
    trust.add_argument(
        "--allowed-signers", metavar="FILE", help="a git/ssh-keygen allowed-signers file"
    )
    trust.add_argument("--revocation-file", metavar="FILE", help="revoked SSH keys, one per line")
    parser.add_argument(
        "--allow-sha1",
        action="store_true",
        help="accept SHA-1 OpenPGP data signatures (historical tags, as gpg does)",
    )


def _require_trust(args: argparse.Namespace) -> None:
    if not args.keys and not args.allowed_signers:
        raise _UsageError("give --keys FILE or --allowed-signers FILE")


class _UsageError(Exception):
    """A usage mistake found after argument parsing (exit 2)."""


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
    fields = [f.strip().removeprefix("input.") for f in args.fields.split(",") if f.strip()]
    parsed = [Source.parse(text) for text in sources]
    inputs = [source_to_input(src, platform=platform, env=env) for src in parsed]
    if not args.no_resolve:
        from buildsig.resolver import Resolver

        options = _resolve_options(args)
        with Resolver(options) as resolver:
            resolved = resolver.resolve_many(list(zip(parsed, inputs, strict=True)), fields)
        inputs = [inp.with_env(env) for inp in resolved]
    for text, inp in zip(sources, inputs, strict=True):
        if inp.unknowns and not args.quiet:
            print(f"unresolved for {text}: {', '.join(inp.unknown_refs())}", file=sys.stderr)
    if len(inputs) == 1:
        print(inputs[0].to_json())
    else:
        print("[\n  " + ",\n  ".join(i.to_json().replace("\n", "\n  ") for i in inputs) + "\n]")
    return 0


def _verify_git_object(args: argparse.Namespace) -> int:
    from buildsig.git.objects import parse_git_object
    from buildsig.git.verify import TrustedKeys, verify_git_object

    _require_trust(args)
    keys = TrustedKeys.from_files(
        keys=args.keys, allowed_signers=args.allowed_signers, revocation_file=args.revocation_file
    )
    all_ok = True
    for name in args.files:
        raw = sys.stdin.buffer.read(16 * 1024 * 1024 + 1) if name == "-" else _read_object(name)
        obj = parse_git_object(raw)
        fmt = "sha256" if len(obj.header("tree") or obj.header("object") or b"") == 64 else "sha1"
        check = verify_git_object(obj, keys, allow_sha1=args.allow_sha1)
        all_ok = all_ok and check.verified
        record = {"object": name, "type": obj.type, "id": obj.object_id(fmt), **check.to_dict()}  # type: ignore[arg-type]
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 0 if all_ok else 1


def _verify_bundle(args: argparse.Namespace) -> int:
    import re

    from buildsig.sigstore import Identity, TrustRoot, Verifier
    from buildsig.sigstore.bundle import MAX_BUNDLE_BYTES

    if args.trusted_root:
        root = TrustRoot.from_file(args.trusted_root)
    else:
        root = TrustRoot.staging() if args.staging else TrustRoot.production()
    identity = None
    if not args.key:
        identity = Identity(
            subject=args.certificate_identity,
            subject_regex=args.certificate_identity_regexp,
            issuer=args.certificate_oidc_issuer,
            issuer_regex=args.certificate_oidc_issuer_regexp,
        )
        if identity.subject is None and identity.subject_regex is None:
            raise _UsageError("keyless bundles need --certificate-identity(-regexp); or --key")
        if identity.issuer is None and identity.issuer_regex is None:
            raise _UsageError("keyless bundles need --certificate-oidc-issuer(-regexp)")
    artifact: str = args.artifact
    if not (re.fullmatch(r"sha256:[0-9a-f]{64}", artifact) and not os.path.exists(artifact)):
        artifact = _file_digest(args.artifact)  # streamed: artifacts can be large
    bundle = _read_file(args.bundle, limit=MAX_BUNDLE_BYTES)
    key = _read_file(args.key, limit=64 * 1024) if args.key else None
    result = Verifier(root).verify_artifact(bundle, artifact, identity=identity, key=key)
    out: dict[str, Any] = {
        "verified": True,
        "bundle": args.bundle,
        "mediaType": result.bundle.media_type,
        "timestamps": [
            {"type": t.type, "uri": t.uri, "timestamp": t.time.isoformat()}
            for t in result.timestamps
        ],
    }
    if result.signer is not None:
        out["signer"] = result.signer.to_dict()
    if result.payload_type:
        out["payloadType"] = result.payload_type
        out["predicateType"] = result.predicate_type
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def _verify_image(args: argparse.Namespace) -> int:
    from buildsig._internal.reference import parse_image_reference
    from buildsig.oci.images import ImageResolver
    from buildsig.oci.resolve import requested_platform, resolve_image
    from buildsig.sigstore.trust import TrustRoot
    from buildsig.unknowns import ImageRequest

    trust = TrustRoot.from_file(args.trusted_root) if args.trusted_root else None
    ref_text = args.ref.removeprefix("docker-image://")
    ref = parse_image_reference(ref_text)
    with ImageResolver(
        layouts=args.oci_layout,
        registry_options={"timeout": args.timeout, "insecure_registries": args.insecure_registry},
        trust_root=trust,
    ) as images:
        resolution = resolve_image(
            images.store_for(ref_text),
            ref,
            requested_platform(args.platform),
            request=ImageRequest(attestation_chain=True, signatures=True),
            signature_verifier=images.signature_verifier,
        )
    result = resolution.signatures
    if result is None:  # pragma: no cover - resolve_image fills it when asked
        raise InvalidInputError("signatures were not resolved")
    report: dict[str, Any] = {
        "image": str(ref),
        "digest": resolution.root.digest,
        "platformManifest": resolution.manifest.digest,
        "isDHI": result.discovery.is_dhi,
        "signatures": [
            {
                "layout": v.layout,
                "manifest": v.manifest,
                "subject": v.subject,
                "type": v.type,
                "verified": v.verified,
                **({"signature": v.signature.to_dict()} if v.signature else {"reason": v.reason}),
            }
            for v in result.verdicts
        ],
        "skipped": [
            {"layout": s.layout, "digest": s.digest, "reason": s.reason}
            for s in result.discovery.skipped
        ],
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(_image_table(report))
    return 0 if result.signatures else 1


def _image_table(report: dict[str, Any]) -> str:
    lines = [f"{report['image']} ({report['digest']})"]
    if not report["signatures"] and not report["skipped"]:
        lines.append("no signatures found")
    for s in report["signatures"]:
        head = f"  {'verified' if s['verified'] else 'FAILED  '} {s['layout']:<14} {s['type']:<17}"
        if s["verified"]:
            sig = s["signature"]
            signer = sig.get("signer") or {}
            who = signer.get("subjectAlternativeName") or "(key)"
            times = ", ".join(t["timestamp"] for t in sig.get("timestamps", []))
            lines.append(f"{head} {sig['kind']}: {who} [{times}]")
        else:
            lines.append(f"{head} {s['manifest'][:19]}: {s['reason']}")
    for s in report["skipped"]:
        lines.append(f"  skipped  {s['layout']:<14} {s['digest'][:19]}: {s['reason']}")
    return "\n".join(lines)


def _policy_eval(args: argparse.Namespace) -> int:
    from buildsig.model import Input
    from buildsig.policy.evaluate import PolicyEvaluator
    from buildsig.policy.files import automatic_policy, load_policy
    from buildsig.policy.fs import PolicyFS
    from buildsig.policy.library import default_policy_modules
    from buildsig.resolver import Resolver

    if (args.source is None) == (args.input is None):
        raise _UsageError("give one SOURCE or --input FILE.json")
    platform = parse_platform(args.platform) if args.platform else None
    auto = automatic_policy(args.file)
    policy_files = ([str(auto)] if auto is not None else []) + list(args.policy)
    env = Env(filename=os.path.basename(str(auto)) if auto is not None else "Dockerfile")
    if args.input is not None:
        inp = Input.from_json(_read_file(args.input, limit=16 * 1024 * 1024))
        source = _source_of_input(inp)
    else:
        source = Source.parse(args.source)
        inp = source_to_input(source, platform=platform, env=env)
    options = _resolve_options(args)
    with Resolver(options) as resolver:
        live = resolver if args.input is None else None
        if args.print:
            fields = [f.strip().removeprefix("input.") for f in args.fields.split(",") if f.strip()]
            if live is not None and fields:
                [inp] = live.resolve_many([(source, inp)], fields)
            print(inp.with_env(env).to_json() if args.input is None else inp.to_json())
            return 0
        if not policy_files and not args.default_policy:
            raise _UsageError(f"no policy: {args.file}.rego does not exist and no --policy given")
        fs = PolicyFS(os.getcwd())
        evaluations = []
        for name in policy_files:
            relative = os.path.relpath(os.path.abspath(name), os.getcwd())
            evaluator = PolicyEvaluator(load_policy(fs, relative), fs=fs, resolver=live)
            evaluations.append((name, evaluator.evaluate(source, inp)))
        if args.default_policy:
            evaluator = PolicyEvaluator(default_policy_modules(), resolver=live, with_helpers=False)
            evaluations.append(("(default policy)", evaluator.evaluate(source, inp)))
    if args.json:
        for name, result in evaluations:
            record = {
                "policy": name,
                "source": result.source,
                "allow": result.decision.allow,
                "deny_msg": list(result.decision.deny_msg),
                "resolved": list(result.resolved),
                **({"convert": result.converted} if result.converted else {}),
                **({"builtin_failures": list(result.failures)} if result.failures else {}),
            }
            print(json.dumps(record, ensure_ascii=False))
    messages = [m for _, r in evaluations if not r.decision.allow for m in r.decision.deny_msg]
    if any(not r.decision.allow for _, r in evaluations):
        print(
            "error: policy denied" + (": " + "; ".join(messages) if messages else ""),
            file=sys.stderr,
        )
        return 1
    return 0


def _policy_test(args: argparse.Namespace) -> int:
    from buildsig.policy.testrun import run_policy_tests
    from buildsig.resolver import Resolver

    options = _resolve_options(args)
    with Resolver(options) as resolver:
        report = run_policy_tests(
            args.path, run=args.run or None, dockerfile=args.filename, resolver=resolver
        )
    sys.stdout.write(report.render())
    return report.exit_code


def _git_info(args: argparse.Namespace) -> int:
    import shlex

    from buildsig.git.info import git_info

    dockerfile = os.path.abspath(args.dockerfile) if args.dockerfile else None  # as docker -f
    info = git_info(args.directory, dockerfile=dockerfile)
    if args.format == "labels":
        print(" ".join(f"--label {shlex.quote(f'{k}={v}')}" for k, v in info.labels().items()))
    elif args.format == "build-args":
        pairs = {"GIT_COMMIT": info.commit, "GIT_DIRTY": str(info.dirty).lower()}
        if info.source:
            pairs["GIT_SOURCE"] = info.source
        print(" ".join(f"--build-arg {shlex.quote(f'{k}={v}')}" for k, v in pairs.items()))
    else:
        print(info.to_json())
    return 0


def _source_policy_eval(args: argparse.Namespace) -> int:
    from buildsig.policy.source import SourcePolicyEngine, load_source_policy

    policies = [load_source_policy(name) for name in args.policy]
    identifier = args.identifier if args.no_normalize else _policy_identifier(args.identifier)
    result = SourcePolicyEngine(policies).evaluate(identifier, dict(args.attr))
    print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    return 0 if result.allowed else 1


def _policy_identifier(text: str) -> str:
    """Normalise an image identifier (or a bare reference) as BuildKit's frontends do.

    Any other scheme (``oci-layout://``, ``git://``, ``https://``…) is matched as written.
    """
    scheme, sep, _ = text.partition("://")
    if not sep:
        text = f"docker-image://{text}"
    elif scheme != "docker-image":
        return text
    return Source.parse(text).identifier


def _pin(args: argparse.Namespace) -> int:
    from buildsig.policy.pin import check_pins, pin_dockerfile, write_source_policy

    options = _resolve_options(args)
    selection: dict[str, Any] = {
        "build_args": dict(args.build_arg),
        "target": args.target,
        "platform": args.platform,
        "options": options,
    }
    if args.check:
        checked = check_pins(args.dockerfile, args.check, **selection)
        if args.json:
            print(json.dumps(checked.to_json(), indent=2, ensure_ascii=False))
        else:
            print(_pin_check_table(checked))
        print(_pin_check_advice(checked, args), file=sys.stderr if args.json else sys.stdout)
        return 0 if checked.ok else 1
    report = pin_dockerfile(args.dockerfile, **selection)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        rows = [
            (e.source.identifier, str(e.source.line), e.status, e.error or e.value)
            for e in report.entries
        ]
        print(_table(("SOURCE", "LINE", "STATUS", "PIN"), rows), file=sys.stderr)
    if not report.ok:
        where = args.output or "the policy"
        print(
            f"error: {len(report.errors)} source(s) could not be resolved; {where} was not written",
            file=sys.stderr,
        )
        return 1
    if args.output:
        write_source_policy(args.output, report.policy)
    elif not args.json:
        print(report.policy.dumps(), end="")
    return 0


def _pin_check_table(checked: Any) -> str:
    rows = []
    for c in checked.checks:
        if c.source is None:
            detail = f"rule {c.rule_index} matches no source of the Dockerfile"
            rows.append((c.rule.selector.identifier, "", c.status, detail))
            continue
        if c.error:
            detail = c.error
        elif c.status == "changed":
            detail = f"{c.pinned or c.pinned_identifier} -> {c.current}"
        elif c.status == "unpinned":
            detail = f"(not in the policy) -> {c.current}"
        else:
            detail = c.current or c.pinned
        rows.append((c.source.identifier, str(c.source.line), c.status, detail))
    return _table(("SOURCE", "LINE", "STATUS", "PINNED -> CURRENT"), rows)


def _pin_check_advice(checked: Any, args: argparse.Namespace) -> str:
    """The last line of ``pin --check``: the verdict and, for CI logs, what to do."""
    counts: dict[str, int] = {}
    for c in checked.checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    stale = counts.get("stale", 0)
    if checked.ok:
        line = f"ok: every pin in {args.check} holds"
        if stale:
            line += f" ({stale} stale rule(s); re-pin to drop them: {_pin_command(args)})"
        return line
    found = ", ".join(f"{counts[s]} {s}" for s in ("changed", "unpinned", "error") if counts.get(s))
    line = f"FAILED ({found}): "
    if counts.get("changed") or counts.get("unpinned"):
        line += f"{args.check} no longer pins what the Dockerfile uses; "
    if counts.get("error"):
        line += "fix or retry the sources in error, then "
    return line + f"re-run: {_pin_command(args)}"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [f"{cell:<{w}}" for cell, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _pin_command(args: argparse.Namespace) -> str:
    """The ``buildsig pin`` command that rewrites the checked policy."""
    import shlex

    argv = ["buildsig", "pin", args.dockerfile]
    for key, value in args.build_arg:
        argv += ["--build-arg", f"{key}={value}"]
    for flag, value in (("--target", args.target), ("--platform", args.platform)):
        if value:
            argv += [flag, value]
    for layout in args.oci_layout:
        argv += ["--oci-layout", layout]
    for host in args.insecure_registry:
        argv += ["--insecure-registry", host]
    return shlex.join([*argv, "-o", args.check])


def _check(args: argparse.Namespace) -> int:
    from buildsig.policy.check import check_dockerfile
    from buildsig.policy.evaluate import PolicyEvaluator
    from buildsig.policy.files import automatic_policy, load_policy
    from buildsig.policy.fs import PolicyFS
    from buildsig.policy.library import default_policy_modules
    from buildsig.policy.source import load_source_policy
    from buildsig.resolver import Resolver

    if not os.path.isfile(args.dockerfile):
        raise InvalidInputError(f"{args.dockerfile}: no such Dockerfile", source=args.dockerfile)
    auto = automatic_policy(args.dockerfile)
    policy_files = ([str(auto)] if auto is not None else []) + list(args.policy)
    source_policy_files = list(args.source_policy)
    if not source_policy_files and os.environ.get("EXPERIMENTAL_BUILDKIT_SOURCE_POLICY"):
        source_policy_files = [os.environ["EXPERIMENTAL_BUILDKIT_SOURCE_POLICY"]]  # as Buildx
    source_policies = [load_source_policy(name) for name in source_policy_files]
    for warning in (w for p in source_policies for w in p.warnings):
        print(warning, file=sys.stderr)
    if not policy_files and not args.default_policy and not source_policies:
        raise _UsageError(
            f"no policy: {args.dockerfile}.rego does not exist and no --policy or "
            "--source-policy given"
        )
    directory = os.path.dirname(os.path.abspath(str(auto) if auto else args.dockerfile))
    fs = PolicyFS(directory)
    options = _resolve_options(args)
    progress = None
    if sys.stderr.isatty() and not args.json:

        def progress(done: int, total: int, current: str) -> None:
            line = f"checking {done}/{total} {current}"[:100]
            print(f"\r{line:<100}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    with Resolver(options) as resolver:
        evaluators = []
        for name in policy_files:
            relative = os.path.relpath(os.path.abspath(name), directory)
            modules = load_policy(fs, relative)
            evaluators.append((name, PolicyEvaluator(modules, fs=fs, resolver=resolver)))
        if args.default_policy:
            evaluators.append(
                (
                    "(default policy)",
                    PolicyEvaluator(
                        default_policy_modules(), resolver=resolver, with_helpers=False
                    ),
                )
            )
        report = check_dockerfile(
            args.dockerfile,
            evaluators,
            build_args=dict(args.build_arg),
            target=args.target,
            platform=args.platform,
            progress=progress,
            source_policies=source_policies,
        )
    rows: list[dict[str, Any]] = [
        {
            "source": v.source.identifier,
            "instruction": v.source.instruction,
            "line": v.source.line,
            "stage": v.source.stage,
            "decision": v.decision,
            "reasons": list(v.deny_msg) or ([v.error] if v.error else []),
            **({"convert": v.converted} if v.converted else {}),
        }
        for v in report.verdicts
    ]
    if args.json:
        print(
            json.dumps(
                {"dockerfile": args.dockerfile, "allowed": report.allowed, "sources": rows},
                indent=2,
            )
        )
    else:
        width = max([len("SOURCE")] + [len(r["source"]) for r in rows])
        print(f"{'SOURCE':<{width}}  {'LINE':>4}  DECISION  REASONS")
        for r in rows:
            reasons = "; ".join(r["reasons"]) or (f"-> {r['convert']}" if "convert" in r else "")
            print(f"{r['source']:<{width}}  {r['line']:>4}  {r['decision']:<8}  {reasons}")
    return 0 if report.allowed else 1


def _source_of_input(inp: Any) -> Source:
    """The source identifier a recorded input describes."""
    if inp.image is not None:
        return Source("docker-image://" + inp.image.ref)
    if inp.git is not None:
        return Source.parse(inp.git.full_url or inp.git.remote)
    if inp.http is not None:
        return Source(inp.http.url)
    return Source("local://context")


def _file_digest(name: str) -> str:
    import hashlib

    try:
        with open(name, "rb") as fh:
            return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {name}: {exc.strerror}", source=name) from None


def _read_file(name: str, *, limit: int) -> bytes:
    try:
        with open(name, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {name}: {exc.strerror}", source=name) from None
    if len(data) > limit:
        raise InvalidInputError(f"{name} is larger than {limit} bytes", source=name)
    return data


def _read_object(name: str) -> bytes:
    try:
        with open(name, "rb") as fh:
            return fh.read(16 * 1024 * 1024 + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {name}: {exc.strerror}", source=name) from None


def _audit_git(args: argparse.Namespace) -> int:
    from buildsig.git.audit import audit_repository

    _require_trust(args)
    progress = None
    if sys.stderr.isatty() and not args.json:

        def progress(done: int, total: int) -> None:
            print(
                f"\raudit: {done}/{total} objects ({100 * done // max(total, 1)}%)",
                end="",
                file=sys.stderr,
                flush=True,
            )

    report = audit_repository(
        args.repo,
        args.rev_range,
        keys=args.keys,
        allowed_signers=args.allowed_signers,
        revocation_file=args.revocation_file,
        allow_sha1=args.allow_sha1,
        jobs=args.jobs,
        progress=progress,
    )
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(_audit_table(report))
    failed = bool(report.failed) or (
        args.require_signed and report.by_outcome.get("unsigned", 0) > 0
    )
    return 1 if failed else 0


def _audit_table(report: Any) -> str:
    lines = [f"{len(report.items)} objects audited", "", "outcome          count"]
    lines += [f"{k:<16} {v:>5}" for k, v in report.by_outcome.items()]
    if report.by_signer:
        lines += ["", "signer / outcomes"]
        for signer, outcomes in report.by_signer.items():
            parts = ", ".join(f"{k} {v}" for k, v in outcomes.items())
            lines.append(f"{signer}: {parts}")
    if report.failed:
        lines += ["", "failures"]
        lines += [
            f"{i.type} {i.id}: {i.check.reason} ({i.check.detail})" for i in report.failed[:50]
        ]
        if len(report.failed) > 50:
            lines.append(f"… and {len(report.failed) - 50} more (use --json for all)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "schema":
            print(json.dumps(input_json_schema(), indent=2))
            return 0
        if args.command in ("verify", "verify-bundle"):
            if args.verify_command == "bundle":
                return _verify_bundle(args)
            if args.verify_command == "image":
                return _verify_image(args)
            return _verify_git_object(args)
        if args.command == "audit":
            return _audit_git(args)
        if args.command == "policy":
            return _policy_test(args) if args.policy_command == "test" else _policy_eval(args)
        if args.command == "check":
            return _check(args)
        if args.command == "git-info":
            return _git_info(args)
        if args.command == "source-policy":
            return _source_policy_eval(args)
        if args.command == "pin":
            return _pin(args)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildsigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
