"""Resolve a git source the way BuildKit does, and fill the Buildx ``input.git`` fields.

Resolution has two steps, each only when a policy needs it (``buildsig.unknowns``):

1. **the ref** (``git.ref``, ``checksum``, ``commitChecksum``, ``isAnnotatedTag`` …): one
   ls-remote. BuildKit's order decides ambiguous names: an exact ``refs/<ref>`` wins, then
   the branch ``refs/heads/<ref>``, then the tag ``refs/tags/<ref>``; an empty ref means
   the remote's default branch; a full commit id needs no network at all. For an annotated
   tag ``checksum`` is the tag object's id and ``commitChecksum`` the peeled commit.
2. **the objects** (``git.tag``, ``git.commit``): a depth-1, ``tree:0`` fetch of the tag
   and commit only. Each object is re-hashed against its id, and a tag must say what its
   ref promised: its ``object`` is the advertised peeled commit, its ``type`` is
   ``commit`` and its ``tag`` header is the tag's name, so a server cannot answer
   ``v1.0`` with a differently named (differently signed) tag.
"""

from __future__ import annotations

import dataclasses

from buildsig._internal.giturl import is_commit_sha
from buildsig.errors import NotFoundError, VerificationError
from buildsig.git.objects import check_object_id, parse_git_object, to_model
from buildsig.git.remote import DEFAULT_TIMEOUT, GitRemote, RefListing, open_remote
from buildsig.model import Commit, Git, Input, Tag
from buildsig.source import ATTR_GIT_FULL_URL, Source, source_to_input

__all__ = ["ResolvedRef", "resolve_git_source", "resolve_ref"]

_PEELED = "^{}"


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedRef:
    """What a ref resolves to on a remote (BuildKit's git metadata response)."""

    ref: str  # the full ref that matched (refs/heads/main, refs/tags/v1) or a commit id
    checksum: str  # object the ref names: the tag object for annotated tags
    commit_checksum: str  # the peeled commit ("" when it equals checksum)
    object_format: str  # sha1 or sha256
    tag_object: bytes | None = None
    commit_object: bytes | None = None


def _default_branch(remote: GitRemote) -> str:
    listing = remote.list_refs(["HEAD"])
    target = listing.symrefs.get("HEAD", "")
    if not target.startswith("refs/heads/"):
        raise NotFoundError("could not find the default branch of the repository")
    return target


def resolve_ref(remote: GitRemote, ref: str, *, objects: bool = False) -> ResolvedRef:
    """Resolve ``ref`` on ``remote``; with ``objects`` also fetch and check tag and commit."""
    if is_commit_sha(ref):
        resolved = ResolvedRef(ref=ref, checksum=ref, commit_checksum="", object_format=_fmt(ref))
    else:
        if not ref:
            ref = _default_branch(remote)
        bare = ref.removeprefix("refs/")
        partial = "refs/" + bare
        head = "refs/heads/" + ref.removeprefix("refs/heads/")
        tag = "refs/tags/" + ref.removeprefix("refs/tags/")
        listing = remote.list_refs(sorted({partial, head, tag}))
        resolved = _select(listing, ref, partial, head, tag)
    if objects:
        resolved = _with_objects(remote, resolved)
    return resolved


def _fmt(oid: str) -> str:
    return "sha256" if len(oid) == 64 else "sha1"


def _select(listing: RefListing, ref: str, partial: str, head: str, tag: str) -> ResolvedRef:
    refs = listing.refs
    sha, used = refs.get(partial, ""), partial
    if not sha:  # git checkout prefers branches when a name is ambiguous
        sha, used = refs.get(head, ""), head
    if not sha:
        sha, used = refs.get(tag, ""), tag
    # an annotated tag, however it was spelled (v1, tags/v1, refs/tags/v1), peels to its
    # commit; branches and lightweight tags advertise no peeled entry
    peeled = refs.get(used + _PEELED, "")
    if not sha:
        raise NotFoundError(f"repository does not contain ref {ref}", source=ref)
    if not is_commit_sha(sha):
        raise VerificationError(f"invalid object id {sha!r} advertised for {used}", source=used)
    return ResolvedRef(ref=used, checksum=sha, commit_checksum=peeled, object_format=_fmt(sha))


def _with_objects(remote: GitRemote, resolved: ResolvedRef) -> ResolvedRef:
    fetched = remote.fetch_objects([resolved.checksum], peel=True)
    first = fetched[resolved.checksum]
    if first.type not in ("commit", "tag"):
        raise VerificationError(
            f"expected commit or tag object, got {first.type}", source=resolved.checksum
        )
    if first.type == "commit":
        return dataclasses.replace(resolved, commit_checksum="", commit_object=first.raw)
    # An annotated tag: follow it to the commit, checking what the ref promised.
    tag = parse_git_object(first.raw, "tag")
    target = (tag.header("object") or b"").decode("ascii", "replace")
    chain, seen = tag, {resolved.checksum}
    while (chain.header("type") or b"") == b"tag":
        if target in seen or target not in fetched:
            raise VerificationError("tag chain does not end in a commit", source=resolved.ref)
        seen.add(target)
        chain = parse_git_object(fetched[target].raw, "tag")
        target = (chain.header("object") or b"").decode("ascii", "replace")
    if resolved.commit_checksum and target != resolved.commit_checksum:
        raise VerificationError(
            f"tag object points to {target}, but the remote advertised "
            f"{resolved.commit_checksum} for {resolved.ref}",
            source=resolved.ref,
        )
    name = (
        resolved.ref.removeprefix("refs/tags/") if resolved.ref.startswith("refs/tags/") else None
    )
    tag_name = (tag.header("tag") or b"").decode("utf-8", "replace")
    if name is not None and tag_name != name:
        raise VerificationError(
            f"tag object is named {tag_name!r} but was served for {resolved.ref}",
            source=resolved.ref,
        )
    commit = fetched.get(target)
    if commit is None or commit.type != "commit":
        raise VerificationError(f"tag {tag_name!r} does not point to a commit", source=resolved.ref)
    return dataclasses.replace(
        resolved, commit_checksum=target, tag_object=first.raw, commit_object=commit.raw
    )


def _git_fields(git: Git, resolved: ResolvedRef) -> Git:
    """Apply a resolution to the input exactly as Buildx applies BuildKit's metadata."""
    checksum = resolved.checksum
    commit_checksum = resolved.commit_checksum or checksum
    tag_obj: Tag | None = None
    commit_obj: Commit | None = None
    if resolved.commit_object is not None:
        check_object_id("commit", resolved.commit_object, commit_checksum)
        parsed = to_model(
            parse_git_object(resolved.commit_object, "commit", object_format=_fmt(commit_checksum))
        )
        commit_obj = parsed if isinstance(parsed, Commit) else None
        if resolved.tag_object is not None:
            check_object_id("tag", resolved.tag_object, checksum)
            parsed_tag = to_model(parse_git_object(resolved.tag_object, "tag"))
            tag_obj = parsed_tag if isinstance(parsed_tag, Tag) else None
    ref = resolved.ref
    return dataclasses.replace(
        git,
        ref=ref,
        tag_name=ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else git.tag_name,
        branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else git.branch,
        checksum=checksum,
        commit_checksum=commit_checksum,
        is_annotated_tag=checksum != commit_checksum,
        is_sha256=len(checksum) == 64,
        tag=tag_obj,
        commit=commit_obj,
    )


def resolve_git_source(
    source: Source | str,
    *,
    objects: bool = True,
    remote: GitRemote | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    ssh_command: str | None = None,
) -> Input:
    """Build the input for a git source and resolve it over the network or from disk.

    Always the ref; with ``objects`` also the tag and commit. ``remote`` overrides the
    client (tests, custom transports); otherwise one is opened for the source's
    ``git.fullurl`` or remote URL.
    """
    if isinstance(source, str):
        source = Source(source)
    inp = source_to_input(source)
    if inp.git is None:
        raise NotFoundError(f"not a git source: {source.identifier}", source=source.identifier)
    ref = _fragment_ref(source)
    own = remote is None
    if remote is None:
        url = source.attrs.get(ATTR_GIT_FULL_URL) or inp.git.remote
        remote = open_remote(url.split("#", 1)[0], timeout=timeout, ssh_command=ssh_command)
    try:
        resolved = resolve_ref(remote, ref, objects=objects)
    finally:
        if own:
            remote.close()
    git = _git_fields(inp.git, resolved)
    unknowns = () if objects else ("git.tag", "git.commit")
    return dataclasses.replace(inp, git=git, unknowns=unknowns)


def _fragment_ref(source: Source) -> str:
    _, _, rest = source.identifier.partition("://")
    fragment = rest.partition("#")[2]
    return fragment.split(":", 1)[0]
