"""Git URLs are read exactly as BuildKit's gitutil, sshutil and dfgitutil read them."""

from __future__ import annotations

import dataclasses
import operator
import posixpath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildsig._internal.giturl import (
    GitURL,
    is_commit_sha,
    is_git_transport,
    looks_like_git_repository,
    parse_git_url,
    redact_url,
)
from buildsig.errors import InvalidSourceError

SHA1 = "0123456789abcdef0123456789abcdef01234567"
SHA256 = "0123456789abcdef" * 4


def url(remote: str, **fields: Any) -> GitURL:
    """An expected GitURL for a standard URL; only the fields that differ are given."""
    base: dict[str, Any] = {
        "scheme": "https",
        "host": "host",
        "path": "/r.git",
        "user": None,
        "has_password": False,
        "query": (),
        "ref": "",
        "subdir": "",
        "remote": remote,
        "is_scp_like": False,
    }
    base.update(fields)
    return GitURL(**base)


def scp(remote: str, **fields: Any) -> GitURL:
    """An expected GitURL for an scp-like address."""
    user, _, rest = remote.partition("@")
    host, _, path = rest.partition(":")
    fields = {"user": user, "host": host, "path": path, **fields}
    return url(remote, scheme="ssh", is_scp_like=True, **fields)


# --- parsing: the examples from BuildKit's own behaviour ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://github.com/moby/buildkit.git#v0.12.0:docs",
            url(
                "https://github.com/moby/buildkit.git",
                host="github.com",
                path="/moby/buildkit.git",
                ref="v0.12.0",
                subdir="docs",
            ),
        ),
        (
            "git@github.com:moby/buildkit.git#main",
            scp("git@github.com:moby/buildkit.git", ref="main"),
        ),
        (
            "ssh://git@github.com/moby/buildkit.git",
            url(
                "ssh://git@github.com/moby/buildkit.git",
                scheme="ssh",
                host="github.com",
                path="/moby/buildkit.git",
                user="git",
            ),
        ),
        (
            "HTTPS://GitHub.com/x.git",
            url("https://GitHub.com/x.git", host="GitHub.com", path="/x.git"),
        ),
        (
            "https://user:tok@host/x.git",
            url("https://user:xxxxx@host/x.git", path="/x.git", user="user", has_password=True),
        ),
        (
            "git://host:9418/x.git?foo=1#refs/tags/v1",
            url(
                "git://host:9418/x.git",
                scheme="git",
                host="host:9418",
                path="/x.git",
                query=(("foo", ("1",)),),
                ref="refs/tags/v1",
            ),
        ),
        # hosts and ports
        ("https://host:8443/r.git", url("https://host:8443/r.git", host="host:8443")),
        ("https://host:/r.git", url("https://host:/r.git", host="host:")),
        (
            "ssh://git@host:2222/r.git",
            url("ssh://git@host:2222/r.git", scheme="ssh", host="host:2222", user="git"),
        ),
        ("git://[::1]:9418/r.git", url("git://[::1]:9418/r.git", scheme="git", host="[::1]:9418")),
        ("https://[2001:db8::1]/r.git", url("https://[2001:db8::1]/r.git", host="[2001:db8::1]")),
        (
            "https://[::ffff:192.0.2.1]:443/r.git",
            url("https://[::ffff:192.0.2.1]:443/r.git", host="[::ffff:192.0.2.1]:443"),
        ),
        (
            "https://[fe80::1%25en0]:8443/r.git",
            url("https://[fe80::1%25en0]:8443/r.git", host="[fe80::1%en0]:8443"),
        ),
        # Go insists on one colon only for http(s); other schemes take the last one.
        ("ssh://h:1:2/r.git", url("ssh://h:1:2/r.git", scheme="ssh", host="h:1:2")),
        ("https://a]b/r.git", url("https://a]b/r.git", host="a]b")),
        ("ssh://host", url("ssh://host", scheme="ssh", path="")),
        ("Git://host/r.git", url("git://host/r.git", scheme="git")),
        ("http://host/r.git", url("http://host/r.git", scheme="http")),
        # fragments: ref and subdir
        ("https://host/r.git#", url("https://host/r.git")),
        ("https://host/r.git#:docs", url("https://host/r.git", subdir="docs")),
        ("https://host/r.git#main:", url("https://host/r.git", ref="main")),
        (
            "https://host/r.git#refs/heads/feature/x",
            url("https://host/r.git", ref="refs/heads/feature/x"),
        ),
        (
            "https://host/r.git#refs/heads/feature/x:sub/dir/",
            url("https://host/r.git", ref="refs/heads/feature/x", subdir="sub/dir"),
        ),
        (f"https://host/r.git#{SHA1}", url("https://host/r.git", ref=SHA1)),
        (f"https://host/r.git#{SHA256}:d", url("https://host/r.git", ref=SHA256, subdir="d")),
        ("https://host/r.git#v1:a:b", url("https://host/r.git", ref="v1", subdir="a:b")),
        ("https://host/r.git#v1%2E0:d%20ir", url("https://host/r.git", ref="v1.0", subdir="d ir")),
        ("https://host/r.git#a#b", url("https://host/r.git", ref="a#b")),
        ("https://host/r.git#x y\t:z", url("https://host/r.git", ref="x y\t", subdir="z")),
        # paths: decoded in `path`, kept as written in `remote` unless Go must re-escape
        ("https://host/a%2Fb/r.git", url("https://host/a%2Fb/r.git", path="/a/b/r.git")),
        ("https://host/%72.git", url("https://host/%72.git", path="/r.git")),
        ("https://host/a b.git", url("https://host/a%20b.git", path="/a b.git")),
        ("https://host/\u00e9.git", url("https://host/%C3%A9.git", path="/\u00e9.git")),
        ("https://host/%ff.git", url("https://host/%ff.git", path="/\ufffd.git")),
        ("https://host/a@b:c/r.git", url("https://host/a@b:c/r.git", path="/a@b:c/r.git")),
        # queries: parsed in order, never part of `remote`
        (
            "https://host/r.git?b=1&a=2&b=3",
            url("https://host/r.git", query=(("b", ("1", "3")), ("a", ("2",)))),
        ),
        (
            "https://host/r.git?x&y=a+b%21&&z=",
            url("https://host/r.git", query=(("x", ("",)), ("y", ("a b!",)), ("z", ("",)))),
        ),
        # URL.Query() silently drops malformed pairs for standard URLs
        (
            "https://host/r.git?a=%zz&b=1;c&d=2",
            url("https://host/r.git", query=(("d", ("2",)),)),
        ),
        # gitutil clears RawQuery but not ForceQuery: a lone trailing "?" stays in remote
        ("https://host/r.git?", url("https://host/r.git?")),
        ("https://host/r.git?#main", url("https://host/r.git?", ref="main")),
        # user information
        ("https://%75ser@host/r.git", url("https://user@host/r.git", user="user")),
        ("https://@host/r.git", url("https://@host/r.git", user="")),
        (
            "https://u:@host/r.git",
            url("https://u:xxxxx@host/r.git", user="u", has_password=True),
        ),
        (
            "https://a@b:p@ss@host/r.git",
            url("https://a%40b:xxxxx@host/r.git", user="a@b", has_password=True),
        ),
        (
            "https://x-access-token:ghp_abc@github.com/o/r.git#main",
            url(
                "https://x-access-token:xxxxx@github.com/o/r.git",
                host="github.com",
                path="/o/r.git",
                user="x-access-token",
                has_password=True,
                ref="main",
            ),
        ),
        # scp-like addresses: path after ":", fragment and query taken raw from the regexp
        ("git@github.com:moby/buildkit.git", scp("git@github.com:moby/buildkit.git")),
        ("deploy_key-1@git.example.com:/abs/r.git", scp("deploy_key-1@git.example.com:/abs/r.git")),
        ("git@host:", scp("git@host:")),
        ("git@host:a@b:c", scp("git@host:a@b:c")),
        ("git@host:r.git#v1%2E0:/docs/", scp("git@host:r.git", ref="v1%2E0", subdir="docs")),
        (
            "git@host:r.git?ref=main&subdir=x&ref=v2#v1:docs",
            scp(
                "git@host:r.git",
                query=(("ref", ("main", "v2")), ("subdir", ("x",))),
                ref="v1",
                subdir="docs",
            ),
        ),
        ("git@host:r.git#a?b", scp("git@host:r.git", ref="a?b")),
        ("git@host:r.git?#x", scp("git@host:r.git", ref="x")),
    ],
)
def test_parse_git_url(text: str, expected: GitURL) -> None:
    assert parse_git_url(text) == expected


@pytest.mark.parametrize(
    ("subdir", "cleaned"),
    [
        ("docs", "docs"),
        ("/docs/", "docs"),
        ("a/../b", "b"),
        ("/", ""),
        (".", ""),
        ("", ""),
        ("..", ""),
        ("../../x", "x"),
        ("a//b/./c/", "a/b/c"),
        ("//a", "a"),
        ("a/b/..", "a"),
        ("...", "..."),
    ],
)
def test_subdir_is_cleaned_like_go_path_join(subdir: str, cleaned: str) -> None:
    assert parse_git_url(f"https://host/r.git#v1:{subdir}").subdir == cleaned
    assert parse_git_url(f"git@host:r.git#v1:{subdir}").subdir == cleaned


def test_git_url_is_an_immutable_value() -> None:
    parsed = parse_git_url("https://host/r.git")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.ref = "main"  # type: ignore[misc]
    assert not hasattr(parsed, "__dict__")
    assert parsed == parse_git_url("https://host/r.git")
    assert hash(parsed) == hash(parse_git_url("https://host/r.git"))


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://x/y", "unsupported git URL ftp://x/y: invalid protocol: ftp"),
        ("FTP://x/y", "unsupported git URL FTP://x/y: invalid protocol: ftp"),
        ("file:///x", "unsupported git URL file:///x: invalid protocol: file"),
        ("s3://bucket/x.git", "invalid protocol: s3"),
        ("host/path", "unsupported git URL host/path: unknown protocol"),
        ("", "unsupported git URL : unknown protocol"),
        ("docker-image://alpine", "unknown protocol"),  # "-" is not in protoRegexp
        ("github.com/moby/buildkit", "unknown protocol"),
        ("./ctx", "unknown protocol"),
        ("git@host", "unknown protocol"),
        ("host:path", "unknown protocol"),
        ("git@host_x:path", "unknown protocol"),
        ("git@host:path\n", "unknown protocol"),
        (
            "https://host:abc/x",
            'invalid git URL https://host:abc/x: invalid port ":abc" after host',
        ),
        ("https://host:1:2/x", 'invalid port ":1:2" after host'),
        ("https://[::1]x/r", 'invalid port "x" after host'),
        ("https://[::1/r", "missing ']' in host"),
        ("https://[1.2.3.4]/r", "invalid IP-literal"),
        ("https://a[::1]/r", "invalid IP-literal"),
        ("https://[v1.x]/r", "invalid host"),
        ("https://[fe80::1%25]/r", "invalid host"),
        ("https://[::1%25a%0A]/r", 'invalid URL escape "%0A"'),
        ("https://host/%zz", 'invalid URL escape "%zz"'),
        ("https://host/r%2", 'invalid URL escape "%2"'),
        ("https://host/r.git#100%", 'invalid URL escape "%"'),
        ("https://ho%41st/r", 'invalid URL escape "%41"'),
        ("https://a b/r", 'invalid character " " in host name'),
        ("https://a{b/r", 'invalid character "{" in host name'),
        ("https://\u00fc@host/r", "invalid userinfo"),
        ("https://a b@host/r", "invalid userinfo"),
        ("https://%zz@host/r", "invalid URL escape in userinfo"),
        ("https://host/a\x00b", "invalid control character in URL"),
        ("https://host/a\x7fb", "invalid control character in URL"),
        ("https://host/a\nb", "invalid control character in URL"),
        ("git@host:r?a;b", "invalid query in scp-style URL: invalid semicolon separator"),
        ("git@host:r?a=%zz", 'invalid query in scp-style URL: invalid URL escape "%zz"'),
    ],
)
def test_rejected_urls(text: str, message: str) -> None:
    with pytest.raises(InvalidSourceError) as info:
        parse_git_url(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert message in str(err)
    assert "\n" not in str(err)
    assert err.source == text


def test_error_message_quotes_unprintable_input() -> None:
    with pytest.raises(InvalidSourceError) as info:
        parse_git_url("https://host/a\nb")
    assert str(info.value) == (
        "invalid git URL 'https://host/a\\nb': invalid control character in URL"
    )


SECRET = "S3CRETTOKEN42"


@pytest.mark.parametrize(
    "text",
    [
        f"https://user:{SECRET}@host:abc/r.git",
        f"https://user:{SECRET}@host/%zz",
        f"https://user:{SECRET}@host/r.git#%zz",
        f"https://user:{SECRET}%zz@host/r.git",
        f"https://user:%zz{SECRET}@host/r.git",
        f"https://user:{SECRET}@a b/r.git",
        f"https://user:{SECRET}\u00fc@host/r.git",
        f"https://user:{SECRET}@host/\x00",
        f"ftp://user:{SECRET}@host/r.git",
        f"sftp://user:{SECRET}@host/r.git",
        f"user:{SECRET}@host:r.git",
        f"https://user:{SECRET[:6]}/{SECRET[6:]}@host/r.git",
        f"https://user:{SECRET[:6]}?{SECRET[6:]}@host/r.git",
        f"https://user:{SECRET[:6]}#{SECRET[6:]}@host/r.git",
        f"https://user:{SECRET[:6]}/{SECRET[6:]}@host/%zz",
    ],
)
def test_password_never_appears_in_errors(text: str) -> None:
    with pytest.raises(InvalidSourceError) as info:
        parse_git_url(text)
    err = info.value
    for leak in (SECRET, SECRET[:6], SECRET[6:]):
        assert leak not in str(err)
        assert leak not in (err.source or "")
        assert leak not in err.diagnostics()
    assert "xxxxx" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        f"https://user:{SECRET}@host/r.git#main:docs",
        f"ssh://git:{SECRET}@host:22/r.git?x=1",
        f"https://:{SECRET}@host/r.git",
    ],
)
def test_password_never_appears_in_a_parsed_url(text: str) -> None:
    parsed = parse_git_url(text)
    assert parsed.has_password
    assert SECRET not in repr(parsed)
    assert parsed.remote.count("xxxxx") == 1


# --- helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("https://user:tok@host/x.git", "https://user:xxxxx@host/x.git"),
        ("https://user:tok@host:8443", "https://user:xxxxx@host:8443"),
        ("https://user@host/x.git", "https://user@host/x.git"),
        ("https://u:@h/x", "https://u:xxxxx@h/x"),
        ("https://a:b@c@h/x", "https://a:xxxxx@h/x"),
        ("https://a:b:c@h/x", "https://a:xxxxx@h/x"),
        ("https://h/p@x:y", "https://h/p@x:y"),
        ("https://h?u:p@x", "https://h?u:p@x"),
        ("https://h#u:p@x", "https://h#u:p@x"),
        ("https://user:tok@host/x.git#ref:sub", "https://user:xxxxx@host/x.git#ref:sub"),
        ("HTTPS://U:P@H/%zz?q#f", "HTTPS://U:xxxxx@H/%zz?q#f"),
        ("//u:p@h/x", "//u:xxxxx@h/x"),
        ("///u:p@h", "///u:p@h"),
        ("git@github.com:moby/x.git", "git@github.com:moby/x.git"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_redact_url(text: str, redacted: str) -> None:
    assert redact_url(text) == redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SHA1, True),
        (SHA256, True),
        (SHA1.upper(), False),
        (SHA1[:-1] + "A", False),
        (SHA1[:-1], False),
        (SHA1 + "0", False),
        (SHA256[:-1], False),
        ("g" * 40, False),
        ("", False),
        ("v1.0.0", False),
        ("\u0660" * 40, False),
    ],
)
def test_is_commit_sha(text: str, expected: bool) -> None:
    assert is_commit_sha(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://host/r.git", True),
        ("HTTP://host/r.git", True),
        ("ssh://host/r.git", True),
        ("git://host/r.git", True),
        ("https://host:bad/%zz", True),  # the form alone decides
        ("ftp://host/r.git", False),
        ("file:///r.git", False),
        ("docker-image://alpine", False),
        ("git@host:r.git", True),
        ("git@host:r.git?a;b", True),  # matches the regexp even though the query is bad
        ("host:r.git", False),
        ("git@host:r\n", False),
        ("host/r.git", False),
        ("", False),
    ],
)
def test_is_git_transport(text: str, expected: bool) -> None:
    assert is_git_transport(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://github.com/moby/buildkit.git#v0.12.0", True),
        ("https://example.com/a.tar.gz", False),
        ("http://host/r.git", True),
        ("https://host/r.git?ref=main", True),
        ("https://host/r%2Egit", True),  # the decoded path is what counts
        ("https://host/r.GIT", False),
        ("https://host/r.git/", False),
        ("https://host:bad/r.git", False),
        ("git://host/r", True),
        ("ssh://host/r", True),
        ("git@host:r", True),
        ("ftp://host/r.git", False),
        ("host/r.git", False),
        ("./r.git", False),
        ("../r.git", False),
        ("github.com/moby/buildkit", True),
        ("github.com/moby/buildkit#v0.12.0:docs", True),
        ("github.com/%zz", False),
        ("github.com/a\nb", False),
        ("", False),
    ],
)
def test_looks_like_git_repository(text: str, expected: bool) -> None:
    assert looks_like_git_repository(text) is expected


# --- properties --------------------------------------------------------------------------

SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
hostnames = st.lists(labels, min_size=1, max_size=3).map(".".join)
ports = st.one_of(st.none(), st.integers(1, 65535).map(str))
segments = st.text(SAFE + ".", min_size=1, max_size=8)
paths = st.lists(segments, min_size=1, max_size=4).map("/".join)
users = st.text(SAFE, min_size=1, max_size=8)
refs = st.lists(st.text(SAFE + ".", min_size=1, max_size=8), max_size=3).map("/".join)
subdirs = st.lists(st.sampled_from(["", ".", "..", "a", "b.c", "d-e", "f_g"]), max_size=5).map(
    "/".join
)
queries = st.one_of(st.none(), st.lists(st.tuples(users, users), min_size=1, max_size=3).map(tuple))


@st.composite
def git_urls(draw: st.DrawFn) -> tuple[str, str, str, str, tuple[tuple[str, str], ...] | None]:
    """(url, expected host, ref, raw subdir or "", query pairs) from safe alphabets."""
    kind = draw(st.sampled_from(["https", "ssh", "git", "scp"]))
    host = draw(hostnames)
    path = draw(paths)
    user = draw(st.one_of(st.none(), users))
    if kind == "scp":
        base = f"{user or 'git'}@{host}:{path}"
    else:
        port = draw(ports)
        host = host if port is None else f"{host}:{port}"
        userinfo = "" if user is None else f"{user}@"
        base = f"{kind}://{userinfo}{host}/{path}"
    query = draw(queries)
    if query:
        base += "?" + "&".join(f"{k}={v}" for k, v in query)
    ref = draw(refs)
    subdir = draw(st.one_of(st.none(), subdirs))
    fragment = ref if subdir is None else f"{ref}:{subdir}"
    text = f"{base}#{fragment}" if fragment else base
    return text, host, ref, subdir or "", query


@settings(max_examples=150, deadline=None)
@given(git_urls())
def test_generated_urls_round_trip(
    case: tuple[str, str, str, str, tuple[tuple[str, str], ...] | None],
) -> None:
    text, host, ref, subdir, query = case
    parsed = parse_git_url(text)
    assert is_git_transport(text)
    assert parsed.host == host
    assert parsed.ref == ref
    assert parsed.subdir == posixpath.normpath("/" + subdir.lstrip("/")).lstrip("/")
    assert "#" not in parsed.remote
    assert "?" not in parsed.remote
    assert parsed.remote == text.split("?")[0].split("#")[0]
    keys = [k for k, _ in query or ()]
    assert [k for k, _ in parsed.query] == list(dict.fromkeys(keys))
    assert sum(len(v) for _, v in parsed.query) == len(keys)


PREFIXES = ["", "https://", "HTTP://", "ssh://", "git://", "ftp://", "x1://", "docker-image://"]
PREFIXES += ["git@", "user@host:", "a-b@c.d:", "github.com/", "./", "://"]
messy = st.builds(
    operator.add,
    st.sampled_from(PREFIXES),
    st.text(alphabet="aZ09:/@#?%.-_ []\n\x00\u00e9;=+&", max_size=30),
)


@settings(max_examples=250, deadline=None)
@given(st.one_of(messy, st.text(max_size=40)))
def test_transport_check_agrees_with_parser(text: str) -> None:
    try:
        parse_git_url(text)
    except InvalidSourceError as err:
        protocol_error = "unknown protocol" in str(err) or "invalid protocol" in str(err)
    else:
        protocol_error = False
    assert is_git_transport(text) is not protocol_error
    looks_like_git_repository(text)  # never raises
    if "@" not in text:
        assert redact_url(text) == text


passwords = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=10).map("PW".__add__)
faults = st.sampled_from(
    ["", "/%zz", ":abc", "#%zz", " x", "\x00", "{", "%zz@", "/slash", "#hash", "?q"]
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["https", "ssh", "git", "ftp", "FTP", ""]),
    st.text("abcdefghij", min_size=1, max_size=6),
    passwords,
    faults,
    st.sampled_from(["password", "host", "path"]),
)
def test_password_is_never_leaked(
    scheme: str, user: str, password: str, fault: str, where: str
) -> None:
    secret = password + fault if where == "password" else password
    host = "host" + fault if where == "host" else "host"
    path = "/r.git" + fault if where == "path" else "/r.git"
    prefix = f"{scheme}://" if scheme else ""
    text = f"{prefix}{user}:{secret}@{host}{path}"
    try:
        parsed = parse_git_url(text)
    except InvalidSourceError as err:
        for shown in (str(err), err.source or "", err.diagnostics(), repr(err)):
            assert password not in shown
    else:
        assert password not in repr(parsed)
