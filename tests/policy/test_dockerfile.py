"""The source list of a Dockerfile, checked against what BuildKit's frontend builds."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from buildsig.errors import InvalidInputError
from buildsig.policy.dockerfile import (
    MAX_DOCKERFILE_SIZE,
    DockerfileError,
    DockerfileSource,
    dockerfile_sources,
)

AMD64 = "linux/amd64"
SHA = "sha256:" + "ab" * 32
COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT_SECRETS = {"git.authtokensecret": "GIT_AUTH_TOKEN", "git.authheadersecret": "GIT_AUTH_HEADER"}
CTX = "local://context"


def img(name: str) -> str:
    return f"docker-image://{name}"


def run(text: str, **kw: Any) -> list[tuple[str, str | int | None, str, int]]:
    kw.setdefault("platform", AMD64)
    kw.setdefault("build_platform", AMD64)
    return [(s.identifier, s.stage, s.instruction, s.line) for s in dockerfile_sources(text, **kw)]


def full(text: str, **kw: Any) -> list[DockerfileSource]:
    kw.setdefault("platform", AMD64)
    kw.setdefault("build_platform", AMD64)
    return dockerfile_sources(text, **kw)


# --- whole Dockerfiles ----------------------------------------------------------------------

GO_MULTISTAGE = (
    """\
# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG ALPINE_VERSION=3.20

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine${ALPINE_VERSION} AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
RUN --mount=type=cache,target=/go/pkg/mod \\
    --mount=type=bind,source=go.sum,target=go.sum \\
    --mount=type=bind,source=go.mod,target=go.mod \\
    go mod download -x
COPY . .
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM gcr.io/distroless/static-debian12:nonroot@sha256:"""
    + "cd" * 32
    + """
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
"""
)

NODE = """\
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
RUN npm run build

FROM nginx:1.27-alpine
COPY --from=build /app/dist /usr/share/nginx/html
"""

CASES: list[tuple[str, str, dict[str, Any], list[tuple[str, str | int | None, str, int]]]] = [
    (
        "go multi-stage with syntax, platform args and mounts",
        GO_MULTISTAGE,
        {},
        [
            (img("docker.io/docker/dockerfile:1.7"), None, "SYNTAX", 1),
            (img("docker.io/library/golang:1.22-alpine3.20"), "build", "FROM", 5),
            (CTX, "build", "RUN", 8),
            (
                img("gcr.io/distroless/static-debian12:nonroot@sha256:" + "cd" * 32),
                1,
                "FROM",
                15,
            ),
        ],
    ),
    (
        "node: stages are not images, context listed once",
        NODE,
        {},
        [
            (img("docker.io/library/node:20-bookworm-slim"), "deps", "FROM", 1),
            (CTX, "deps", "COPY", 3),
            (img("docker.io/library/nginx:1.27-alpine"), 2, "FROM", 12),
        ],
    ),
    (
        "node with a target prunes the later stage",
        NODE,
        {"target": "deps"},
        [
            (img("docker.io/library/node:20-bookworm-slim"), "deps", "FROM", 1),
            (CTX, "deps", "COPY", 3),
        ],
    ),
    (
        "target is case-insensitive",
        NODE,
        {"target": "DEPS"},
        [
            (img("docker.io/library/node:20-bookworm-slim"), "deps", "FROM", 1),
            (CTX, "deps", "COPY", 3),
        ],
    ),
    (
        "unreachable stages do not count",
        "FROM alpine AS unused\nADD https://example.com/a /a\nFROM debian:12\nRUN true\n",
        {},
        [(img("docker.io/library/debian:12"), 1, "FROM", 3)],
    ),
    (
        "FROM without tag gets latest; digests kept; registries kept",
        "FROM alpine\nFROM alpine@" + SHA + "\nFROM ghcr.io/org/img:1.0@" + SHA + "\n"
        "FROM localhost:5000/x\nCOPY --from=0 / /\nCOPY --from=1 / /\nCOPY --from=2 / /\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            (img("docker.io/library/alpine@" + SHA), 1, "FROM", 2),
            (img("ghcr.io/org/img:1.0@" + SHA), 2, "FROM", 3),
            (img("localhost:5000/x:latest"), 3, "FROM", 4),
        ],
    ),
    (
        "FROM scratch is no source",
        "FROM scratch\nCOPY app /app\n",
        {},
        [(CTX, 0, "COPY", 2)],
    ),
    (
        "ARG-parameterised base image, default",
        "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:${TAG}\n",
        {},
        [(img("docker.io/library/alpine:3.19"), 0, "FROM", 3)],
    ),
    (
        "ARG-parameterised base image, build arg overrides",
        "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:${TAG}\n",
        {"build_args": {"TAG": "3.20", "BASE": "docker.io/library/debian"}},
        [(img("docker.io/library/debian:3.20"), 0, "FROM", 3)],
    ),
    (
        "undeclared build args are not visible in FROM",
        "FROM alpine${SUFFIX}\n",
        {"build_args": {"SUFFIX": ":edge"}},
        [(img("docker.io/library/alpine:latest"), 0, "FROM", 1)],
    ),
    (
        "global ARG defaults may use earlier ARGs",
        "ARG REG=ghcr.io\nARG IMG=$REG/acme/base\nARG V\nFROM ${IMG}:${V:-stable}\n",
        {},
        [(img("ghcr.io/acme/base:stable"), 0, "FROM", 4)],
    ),
    (
        "${VAR:+alt} and ${VAR-default}",
        "ARG DIGEST=\nARG SET=x\nFROM alpine${SET:+:3.18}\nFROM busybox${UNSET-:1}\n"
        "FROM alpine${DIGEST:+@$DIGEST}\nCOPY --from=0 / /\nCOPY --from=1 / /\n",
        {},
        [
            (img("docker.io/library/alpine:3.18"), 0, "FROM", 3),
            (img("docker.io/library/busybox:1"), 1, "FROM", 4),
            (img("docker.io/library/alpine:latest"), 2, "FROM", 5),
        ],
    ),
    (
        "${VAR:+alt} with a digest build arg",
        "ARG DIGEST\nFROM alpine:3.20${DIGEST:+@$DIGEST}\n",
        {"build_args": {"DIGEST": SHA}},
        [(img("docker.io/library/alpine:3.20@" + SHA), 0, "FROM", 2)],
    ),
    (
        "pattern substitutions",
        "ARG V=v1.2.3\nFROM alpine:${V#v}\nFROM alpine:${V%.*}\nFROM alpine:${V/./-}\n"
        "COPY --from=0 / /\nCOPY --from=1 / /\n",
        {},
        [
            (img("docker.io/library/alpine:1.2.3"), 0, "FROM", 2),
            (img("docker.io/library/alpine:v1.2"), 1, "FROM", 3),
            (img("docker.io/library/alpine:v1-2.3"), 2, "FROM", 4),
        ],
    ),
    (
        "escaped dollar is literal and quotes are removed",
        'ARG X=3.20\nFROM "alpine:$X"\nRUN echo \\$X\n',
        {},
        [(img("docker.io/library/alpine:3.20"), 0, "FROM", 2)],
    ),
    (
        "stage-local ARG does not leak into the next stage's FROM",
        "ARG V=1\nFROM alpine:$V AS a\nARG V=2\nFROM busybox:$V\nCOPY --from=a / /\n",
        {},
        [
            (img("docker.io/library/alpine:1"), "a", "FROM", 2),
            (img("docker.io/library/busybox:1"), 1, "FROM", 4),
        ],
    ),
    (
        "stage ARG takes the global value; ADD URL expanded",
        "ARG VERSION=1.2.3\nFROM alpine\nARG VERSION\n"
        "ADD https://example.com/tool-${VERSION}.tar.gz /tmp/\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 2),
            ("https://example.com/tool-1.2.3.tar.gz", 0, "ADD", 4),
        ],
    ),
    (
        "without ARG in the stage the global value is not visible",
        "ARG VERSION=1.2.3\nFROM alpine\nADD https://example.com/tool-${VERSION}.tar.gz /tmp/\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 2),
            ("https://example.com/tool-.tar.gz", 0, "ADD", 3),
        ],
    ),
    (
        "ENV is used in ADD and inherited by a child stage",
        "FROM alpine AS base\nENV V=9 \\\n    BASE_URL=https://dl.example.com\n"
        "FROM base\nADD ${BASE_URL}/v${V}/x.zip /x.zip\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), "base", "FROM", 1),
            ("https://dl.example.com/v9/x.zip", 1, "ADD", 5),
        ],
    ),
    (
        "legacy ENV form",
        "FROM alpine\nENV URL https://example.com/a b.tgz\nADD $URL /\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            # one word after expansion: BuildKit splits ADD arguments before expanding
            ("https://example.com/a b.tgz", 0, "ADD", 3),
        ],
    ),
    (
        "COPY --from image and stage index",
        "FROM golang:1.22 AS build\nRUN go build\nFROM alpine:3.20\n"
        "COPY --from=0 /out /out\nCOPY --from=docker/buildx-bin:0.16 /buildx /usr/bin/\n"
        "COPY --from=BUILD /x /x\n",
        {},
        [
            (img("docker.io/library/golang:1.22"), "build", "FROM", 1),
            (img("docker.io/library/alpine:3.20"), 1, "FROM", 3),
            (img("docker.io/docker/buildx-bin:0.16"), 1, "COPY", 5),
        ],
    ),
    (
        "RUN --mount from images and stages",
        "FROM alpine AS tools\nFROM debian:12\n"
        "RUN --mount=type=bind,from=tools,target=/t \\\n"
        "    --mount=type=cache,from=busybox:1.36,target=/c \\\n"
        "    --mount=from=ghcr.io/acme/certs:1,target=/certs,source=/etc/ssl \\\n"
        "    --mount=type=secret,id=npm \\\n"
        "    --mount=type=tmpfs,target=/tmp true\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), "tools", "FROM", 1),
            (img("docker.io/library/debian:12"), 1, "FROM", 2),
            (img("docker.io/library/busybox:1.36"), 1, "RUN", 3),
            (img("ghcr.io/acme/certs:1"), 1, "RUN", 3),
        ],
    ),
    (
        "mount type from a variable",
        "FROM alpine\nARG T=bind\nRUN --mount=type=$T,target=/src make\n",
        {},
        [(img("docker.io/library/alpine:latest"), 0, "FROM", 1), (CTX, 0, "RUN", 3)],
    ),
    (
        "ADD of a local path and a local archive is the context",
        "FROM alpine\nADD rootfs.tar.gz /\nADD ./conf /etc/conf\n",
        {},
        [(img("docker.io/library/alpine:latest"), 0, "FROM", 1), (CTX, 0, "ADD", 2)],
    ),
    (
        "github.com/ shorthand is a local path for ADD",
        "FROM alpine\nADD github.com/moby/buildkit /src\n",
        {},
        [(img("docker.io/library/alpine:latest"), 0, "FROM", 1), (CTX, 0, "ADD", 2)],
    ),
    (
        "https URL without .git is an HTTP download",
        "FROM alpine\nADD https://github.com/moby/buildkit/archive/v0.1.tar.gz /\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            ("https://github.com/moby/buildkit/archive/v0.1.tar.gz", 0, "ADD", 2),
        ],
    ),
    (
        "git URL forms",
        "FROM alpine\n"
        "ADD https://github.com/moby/buildkit.git#v0.12.0 /a\n"
        "ADD git@github.com:moby/buildkit.git /b\n"
        "ADD git://example.com/r.git#main:sub/dir/ /c\n"
        "ADD ssh://git@example.com:2222/r.git#" + COMMIT + " /d\n"
        "ADD https://github.com/moby/buildkit.git?ref=main&subdir=docs /e\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            ("git://github.com/moby/buildkit.git#v0.12.0", 0, "ADD", 2),
            ("git://github.com/moby/buildkit.git", 0, "ADD", 3),
            ("git://example.com/r.git#main:sub/dir", 0, "ADD", 4),
            ("git://example.com:2222/r.git#" + COMMIT, 0, "ADD", 5),
            ("git://github.com/moby/buildkit.git#main:docs", 0, "ADD", 6),
        ],
    ),
    (
        "heredocs are inline content, not instructions",
        "FROM alpine\nRUN <<EOF\nFROM evil\nADD https://evil.example/x /\nEOF\n"
        "COPY <<-EOT /etc/x\n\tFROM nope\n\tEOT\nRUN <<A cat && <<'B' cat\nFROM a\nA\nFROM b\nB\n"
        "ADD https://example.com/after /\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            ("https://example.com/after", 0, "ADD", 14),
        ],
    ),
    (
        "COPY of heredoc content only does not use the context",
        "FROM alpine\nCOPY <<EOF /x\nhello\nEOF\n",
        {},
        [(img("docker.io/library/alpine:latest"), 0, "FROM", 1)],
    ),
    (
        "backtick escape directive",
        "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n    AS base\n"
        "ARG V=1\nADD https://example.com/`$V/$V.zip C:\\\\x\\\\\n",
        {},
        [
            (img("mcr.microsoft.com/windows/servercore:ltsc2022"), "base", "FROM", 2),
            ("https://example.com/$V/1.zip", "base", "ADD", 5),
        ],
    ),
    (
        "backslash is ordinary text with a backtick escape",
        "# escape=`\nFROM alpine\nRUN echo \\\nCOPY x /x\n",
        {},
        [(img("docker.io/library/alpine:latest"), 0, "FROM", 2), (CTX, 0, "COPY", 4)],
    ),
    (
        "comments and empty lines inside continuations",
        "FROM alpine\nRUN apk add \\\n# a comment\n\n    curl\nADD \\\n  https://example.com/f \\\n"
        "  /f\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            ("https://example.com/f", 0, "ADD", 6),
        ],
    ),
    (
        "JSON form arguments",
        'FROM alpine\nCOPY ["a b.txt", "/dst/"]\nADD ["https://example.com/j.tgz", "/j"]\n'
        'RUN ["echo", "hi"]\n',
        {},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            (CTX, 0, "COPY", 2),
            ("https://example.com/j.tgz", 0, "ADD", 3),
        ],
    ),
    (
        "lower-case instructions and AS",
        "from alpine as Builder\nfrom builder\nadd https://example.com/z /\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), "builder", "FROM", 1),
            ("https://example.com/z", 1, "ADD", 3),
        ],
    ),
    (
        "FROM an earlier stage name only; a later one is an image",
        "FROM base\nFROM alpine AS base\nCOPY --from=0 / /\n",
        {},
        [
            (img("docker.io/library/base:latest"), 0, "FROM", 1),
            (img("docker.io/library/alpine:latest"), "base", "FROM", 2),
        ],
    ),
    (
        "duplicates keep the first location",
        "FROM alpine:3.20 AS a\nADD https://example.com/x /x\nFROM alpine:3.20\n"
        "COPY --from=a / /\nADD https://example.com/x /y\nCOPY . .\nCOPY a b\n",
        {},
        [
            (img("docker.io/library/alpine:3.20"), "a", "FROM", 1),
            ("https://example.com/x", "a", "ADD", 2),
            (CTX, 1, "COPY", 6),
        ],
    ),
    (
        "ONBUILD triggers of a stage run in stages built from it",
        "FROM alpine AS base\nONBUILD COPY --from=busybox:1 /bin/busybox /bb\n"
        "ONBUILD ADD https://example.com/ob /ob\nFROM base\n",
        {},
        [
            (img("docker.io/library/alpine:latest"), "base", "FROM", 1),
            (img("docker.io/library/busybox:1"), 1, "COPY", 4),
            ("https://example.com/ob", 1, "ADD", 4),
        ],
    ),
    (
        "syntax directive after a shebang; BOM ignored",
        "\ufeff#!/usr/bin/env docker-build\n# syntax = docker/dockerfile:1\nFROM alpine\n",
        {},
        [
            (img("docker.io/docker/dockerfile:1"), None, "SYNTAX", 2),
            (img("docker.io/library/alpine:latest"), 0, "FROM", 3),
        ],
    ),
    (
        "a directive after an instruction is a comment",
        "FROM alpine\n# syntax=evil/frontend\n",
        {},
        [(img("docker.io/library/alpine:latest"), 0, "FROM", 1)],
    ),
    (
        "BUILDKIT_SYNTAX build arg replaces the frontend",
        "# syntax=docker/dockerfile:1\nFROM alpine\n",
        {"build_args": {"BUILDKIT_SYNTAX": "docker/dockerfile-upstream:master"}},
        [
            (img("docker.io/docker/dockerfile-upstream:master"), None, "SYNTAX", 1),
            (img("docker.io/library/alpine:latest"), 0, "FROM", 2),
        ],
    ),
    (
        "git build context",
        "FROM alpine\nCOPY . /src\n",
        {"context": "https://github.com/org/repo.git#main:app"},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            ("git://github.com/org/repo.git#main:app", 0, "COPY", 2),
        ],
    ),
    (
        "HTTP build context",
        "FROM alpine\nCOPY . /src\n",
        {"context": "https://example.com/ctx.tar.gz"},
        [
            (img("docker.io/library/alpine:latest"), 0, "FROM", 1),
            ("https://example.com/ctx.tar.gz", 0, "COPY", 2),
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [pytest.param(t, k, e, id=name) for name, t, k, e in CASES],
)
def test_sources(text: str, kwargs: dict[str, Any], expected: list[Any]) -> None:
    assert run(text, **kwargs) == expected


# --- platforms ------------------------------------------------------------------------------

PLATFORM_DF = """\
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETOS TARGETARCH TARGETVARIANT TARGETPLATFORM
ADD https://example.com/${TARGETOS}/${TARGETARCH}${TARGETVARIANT:+/$TARGETVARIANT}/tool /t
FROM --platform=$TARGETPLATFORM alpine AS final
COPY --from=build /t /t
"""


@pytest.mark.parametrize(
    ("platform", "build_platform", "expected"),
    [
        (
            "linux/arm64",
            "linux/amd64",
            [
                (img("docker.io/library/golang:1.22"), "linux/amd64"),
                ("https://example.com/linux/arm64/tool", None),
                (img("docker.io/library/alpine:latest"), "linux/arm64"),
            ],
        ),
        (
            "linux/arm/v7",
            "linux/arm64",
            [
                (img("docker.io/library/golang:1.22"), "linux/arm64"),
                ("https://example.com/linux/arm/v7/tool", None),
                (img("docker.io/library/alpine:latest"), "linux/arm/v7"),
            ],
        ),
        (
            "linux/amd64",
            None,  # defaults to the target platform
            [
                (img("docker.io/library/golang:1.22"), "linux/amd64"),
                ("https://example.com/linux/amd64/tool", None),
                (img("docker.io/library/alpine:latest"), "linux/amd64"),
            ],
        ),
    ],
)
def test_platform_args(platform: str, build_platform: str | None, expected: list[Any]) -> None:
    got = dockerfile_sources(PLATFORM_DF, platform=platform, build_platform=build_platform)
    assert [(s.identifier, s.platform) for s in got] == expected


def test_same_image_on_two_platforms_is_two_sources() -> None:
    text = "FROM --platform=linux/arm64 alpine AS a\nFROM --platform=linux/amd64 alpine\n"
    text += "COPY --from=a / /\n"
    got = full(text)
    assert [(s.identifier, s.platform) for s in got] == [
        (img("docker.io/library/alpine:latest"), "linux/arm64"),
        (img("docker.io/library/alpine:latest"), "linux/amd64"),
    ]


def test_platform_build_arg_override() -> None:
    got = full(
        "FROM --platform=$BUILDPLATFORM alpine\n", build_args={"BUILDPLATFORM": "linux/s390x"}
    )
    assert got[0].platform == "linux/s390x"


def test_default_platform_is_the_host() -> None:
    got = dockerfile_sources("FROM --platform=$TARGETPLATFORM alpine\n")
    from buildsig._internal.platform import host_platform

    assert got[0].platform == str(host_platform())


# --- attributes -----------------------------------------------------------------------------


def test_http_checksum_attr() -> None:
    text = f"FROM alpine\nARG SUM={SHA}\nADD --checksum=$SUM https://example.com/dl/x.tgz?a=1 /x\n"
    src = full(text)[1]
    assert src == DockerfileSource(
        identifier="https://example.com/dl/x.tgz?a=1",
        kind="http",
        stage=0,
        instruction="ADD",
        line=3,
        attrs={"http.checksum": SHA, "http.filename": "x.tgz"},
    )


def test_http_filename_without_path() -> None:
    src = full("FROM alpine\nADD https://example.com /x\n")[1]
    assert dict(src.attrs) == {"http.filename": "__unnamed__"}


def test_git_attrs() -> None:
    text = (
        "FROM alpine\n"
        f"ADD --keep-git-dir --checksum={COMMIT} https://github.com/moby/buildkit.git#v0.12.0 /a\n"
        "ADD git@github.com:moby/buildkit.git?submodules=false&mtime=commit /b\n"
    )
    a, b = full(text)[1:]
    assert a.identifier == "git://github.com/moby/buildkit.git#v0.12.0"
    assert a.kind == "git"
    assert dict(a.attrs) == {
        "git.fullurl": "https://github.com/moby/buildkit.git",
        "git.keepgitdir": "true",
        "git.checksum": COMMIT,
        **GIT_SECRETS,
    }
    assert b.identifier == "git://github.com/moby/buildkit.git"
    assert dict(b.attrs) == {
        "git.fullurl": "git@github.com:moby/buildkit.git",
        "git.mountsshsock": "default",
        "git.skipsubmodules": "true",
        "git.mtime": "commit",
        **GIT_SECRETS,
    }


def test_git_query_keep_git_dir_and_tag() -> None:
    src = full("FROM alpine\nADD https://example.com/r.git?tag=v1&keep-git-dir /r\n")[1]
    assert src.identifier == "git://example.com/r.git#refs/tags/v1"
    assert src.attrs["git.keepgitdir"] == "true"


def test_keep_git_dir_false_is_no_attr() -> None:
    src = full("FROM alpine\nADD --keep-git-dir=false https://example.com/r.git /r\n")[1]
    assert "git.keepgitdir" not in src.attrs


def test_git_password_is_not_repeated() -> None:
    src = full("FROM alpine\nADD https://user:s3cret@example.com/r.git /r\n")[1]
    assert "s3cret" not in src.attrs["git.fullurl"]
    assert src.identifier == "git://example.com/r.git"


def test_kinds_and_value_semantics() -> None:
    got = full(GO_MULTISTAGE)
    assert [s.kind for s in got] == ["image", "image", "local", "image"]
    assert len(set(got)) == len(got)  # hashable
    assert pickle.loads(pickle.dumps(got)) == got
    with pytest.raises(AttributeError):
        got[0].identifier = "x"  # type: ignore[misc]


def test_context_is_listed_once_across_stages() -> None:
    text = "FROM alpine AS a\nCOPY a /\nFROM alpine AS b\nCOPY b /\nFROM scratch\n"
    text += "COPY --from=a / /\nCOPY --from=b / /\n"
    assert [s.identifier for s in full(text)] == [img("docker.io/library/alpine:latest"), CTX]


def test_git_context_keep_git_dir_build_arg() -> None:
    got = full(
        "FROM alpine\nCOPY . .\n",
        context="https://github.com/org/repo.git",
        build_args={"BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1"},
    )
    assert got[1].attrs["git.keepgitdir"] == "true"
    assert got[1].kind == "git"


# --- errors ---------------------------------------------------------------------------------

ERRORS: list[tuple[str, str, dict[str, Any], int | None, str]] = [
    ("empty", "", {}, None, "cannot be empty"),
    ("only comments", "# hello\n\n", {}, None, "no instructions"),
    ("unknown instruction before FROM", "FORM alpine\n", {}, 1, "unknown instruction: FORM"),
    ("unknown instruction later", "FROM alpine\nRUNN x\n", {}, 2, "unknown instruction"),
    ("instruction before FROM", "ARG A=1\nRUN echo\n", {}, 2, "no build stage"),
    ("only ARG", "ARG A=1\n", {}, None, "no stages"),
    ("FROM with no argument", "FROM\n", {}, 1, "one or three arguments"),
    ("FROM with two arguments", "FROM a b\n", {}, 1, "one or three arguments"),
    ("bad stage name", "FROM alpine AS 1st\n", {}, 1, "invalid name for build stage"),
    ("blank base", "ARG B\nFROM $B\n", {}, 2, "should not be blank"),
    ("uppercase image", "FROM Alpine\n", {}, 1, "failed to parse stage name"),
    (
        "required variable",
        "ARG REG\nFROM ${REG:?set_REG}/app\n",
        {},
        2,
        "REG: set_REG",
    ),
    ("required variable unset", "FROM alpine:${V?}\n", {}, 1, "V: is not allowed to be unset"),
    ("bad substitution", "FROM alpine:${}\n", {}, 1, "bad substitution"),
    ("missing brace", "FROM alpine:${V:-x\n", {}, 1, "missing '}'"),
    ("unfinished substitution", "FROM alpine:${V\n", {}, 1, "unsupported modifier"),
    ("spaces split FROM", "ARG R\nFROM ${R:?set R}/app\n", {}, 2, "one or three arguments"),
    (
        "stage index out of range",
        "FROM alpine\nCOPY --from=5 /x /x\n",
        {},
        2,
        "invalid stage index 5",
    ),
    ("variable in --from", "FROM alpine\nCOPY --from=$X /x /x\n", {}, 2, "variable expansion"),
    (
        "variable in mount from",
        "FROM alpine\nRUN --mount=from=$X,target=/x true\n",
        {},
        2,
        "doesn't support variable expansion",
    ),
    ("unknown flag", "FROM alpine\nCOPY --frm=a x y\n", {}, 2, "unknown flag: --frm"),
    ("flag without value", "FROM --platform alpine\n", {}, 1, "missing a value"),
    ("bad platform", "FROM --platform=linux/*  alpine\n", {}, 1, "failed to parse platform"),
    ("target not found", "FROM alpine\n", {"target": "nope"}, None, "could not be found"),
    ("COPY with one argument", "FROM alpine\nCOPY x\n", {}, 2, "at least two arguments"),
    ("COPY of a URL", "FROM alpine\nCOPY https://example.com/x /x\n", {}, 2, "can't be a URL"),
    ("COPY of a git ref", "FROM alpine\nCOPY git@github.com:a/b.git /x\n", {}, 2, "git ref"),
    ("bad checksum", "FROM alpine\nADD --checksum=md5:1 https://e.com/x /x\n", {}, 2, "digest"),
    (
        "checksum on a local file",
        f"FROM alpine\nADD --checksum={SHA} file /x\n",
        {},
        2,
        "requires HTTP(S) or Git",
    ),
    (
        "checksum with two sources",
        f"FROM alpine\nADD --checksum={SHA} https://e.com/a https://e.com/b /x/\n",
        {},
        2,
        "multiple sources",
    ),
    (
        "git checksum mismatch",
        f"FROM alpine\nADD --checksum={COMMIT} https://e.com/r.git?commit=abc /x\n",
        {},
        2,
        "checksum mismatch",
    ),
    (
        "bad git query",
        "FROM alpine\nADD https://e.com/r.git?foo=bar /x\n",
        {},
        2,
        "unexpected query",
    ),
    ("unterminated heredoc", "FROM alpine\nRUN <<EOF\necho\n", {}, 2, "unterminated heredoc"),
    ("bad escape directive", "# escape=x\nFROM alpine\n", {}, 1, "invalid escape token"),
    ("repeated directive", "# syntax=a\n# syntax=b\nFROM alpine\n", {}, 2, "only one syntax"),
    ("non-string JSON", 'FROM alpine\nCOPY ["a", 1]\n', {}, 2, "only strings"),
    (
        "secret mount with from",
        "FROM alpine\nRUN --mount=type=secret,from=x,id=a t\n",
        {},
        2,
        "from",
    ),
    (
        "circular",
        "FROM alpine AS a\nCOPY --from=b / /\nFROM alpine AS b\nCOPY --from=a / /\n",
        {},
        None,
        "circular",
    ),
    ("ONBUILD FROM", "FROM alpine\nONBUILD FROM x\n", {}, 2, "isn't allowed as an ONBUILD trigger"),
    ("bad syntax image", "# syntax=Bad/Image\nFROM alpine\n", {}, 1, "lowercase"),
]


@pytest.mark.parametrize(
    ("text", "kwargs", "line", "message"),
    [pytest.param(t, k, ln, m, id=name) for name, t, k, ln, m in ERRORS],
)
def test_errors(text: str, kwargs: dict[str, Any], line: int | None, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        full(text, **kwargs)
    assert isinstance(info.value, InvalidInputError)
    assert message in str(info.value)
    if line is not None:
        assert info.value.line == line
        assert str(info.value).startswith(f"dockerfile line {line}: ")


def test_copy_from_later_stage_names_the_line() -> None:
    with pytest.raises(DockerfileError, match="needs to be defined before") as info:
        full(
            "FROM alpine\nCOPY --from=later /x /x\nFROM busybox AS later\nFROM scratch\n"
            "COPY --from=0 / /\n"
        )
    assert info.value.line == 2


def test_copy_from_later_stage_in_unreachable_stage_is_fine() -> None:
    text = "FROM alpine\nCOPY --from=later /x /x\nFROM busybox AS later\n"
    assert run(text) == [(img("docker.io/library/busybox:latest"), "later", "FROM", 3)]


def test_mount_from_later_stage() -> None:
    with pytest.raises(DockerfileError, match="stage needs to be defined before"):
        full(
            "FROM alpine\nRUN --mount=from=later,target=/x true\nFROM busybox AS later\n"
            "FROM scratch\nCOPY --from=0 / /\n"
        )


def test_size_cap() -> None:
    text = "FROM alpine\n" + "#" * MAX_DOCKERFILE_SIZE
    with pytest.raises(DockerfileError, match="allowed"):
        full(text)


def test_invalid_platform_argument() -> None:
    with pytest.raises(InvalidInputError):
        dockerfile_sources("FROM alpine\n", platform="linux/*")


def test_error_pickles_with_line() -> None:
    with pytest.raises(DockerfileError) as info:
        full("FROM alpine\nBOGUS\n")
    err = pickle.loads(pickle.dumps(info.value))
    assert isinstance(err, DockerfileError)
    assert err.line == 2
    assert str(err) == str(info.value)


# --- cross-check with dockerfile-parse on inputs it handles ----------------------------------

SIMPLE = [GO_MULTISTAGE, NODE, PLATFORM_DF]


@pytest.mark.parametrize("text", SIMPLE)
def test_instruction_lines_agree_with_dockerfile_parse(text: str) -> None:
    dfp = pytest.importorskip("dockerfile_parse")
    import io

    parser = dfp.DockerfileParser(fileobj=io.BytesIO())
    parser.content = text
    theirs = {
        (item["instruction"], item["startline"] + 1)
        for item in parser.structure
        if item["instruction"] in ("FROM", "COPY", "ADD", "RUN")
    }
    ours = {(s.instruction, s.line) for s in full(text) if s.instruction != "SYNTAX"}
    assert ours <= theirs


def test_dockerfile_parse_misreads_heredocs() -> None:
    """Why buildsig has its own parser: dockerfile-parse sees a FROM inside a heredoc."""
    dfp = pytest.importorskip("dockerfile_parse")
    import io

    text = "FROM alpine\nRUN <<EOF\nFROM evil\nEOF\n"
    parser = dfp.DockerfileParser(fileobj=io.BytesIO())
    parser.content = text
    assert [i["value"] for i in parser.structure if i["instruction"] == "FROM"] == [
        "alpine",
        "evil",
    ]
    assert run(text) == [(img("docker.io/library/alpine:latest"), 0, "FROM", 1)]


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "FROM alpine:" + "${A:-" * 5000 + "x" + "}" * 5000 + "\n",
        "FROM alpine\nONBUILD " + "ONBUILD " * 20000 + "RUN x\n",
        "FROM alpine\nONBUILD BOGUS x\n",
    ],
    ids=["deep substitution", "deep onbuild", "unknown onbuild trigger"],
)
def test_hostile_input_is_a_clean_error(text: str) -> None:
    with pytest.raises(DockerfileError):
        full(text)


def test_long_stage_chains_do_not_recurse() -> None:
    n = 3000
    lines = ["FROM alpine AS s0"]
    lines += [f"FROM alpine AS s{i}\nCOPY --from=s{i - 1} / /" for i in range(1, n)]
    got = full("\n".join(lines) + "\n")
    assert [s.identifier for s in got] == [img("docker.io/library/alpine:latest")]


def test_fuzz_never_crashes() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    pieces = st.sampled_from(
        [
            "FROM ",
            "alpine",
            " AS a",
            "\n",
            "COPY ",
            "--from=",
            "a",
            "0",
            " x y",
            "ADD ",
            "https://e.com/r.git",
            "#v1",
            "?tag=1",
            "$",
            "{",
            "}",
            ":-",
            ":?",
            "ARG ",
            "A=1",
            "<<EOF",
            "EOF",
            "\\",
            "`",
            "# escape=`",
            "# syntax=x",
            "RUN ",
            "--mount=",
            "type=bind,from=b",
            '["a", "b"]',
            "'",
            '"',
            "ONBUILD ",
            "ENV ",
            "--platform=",
            "$TARGETPLATFORM",
            " ",
            "\t",
            "scratch",
            "git@h:o/r",
            "--checksum=sha256:0",
        ]
    )

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.lists(pieces, max_size=40))
    def check(parts: list[str]) -> None:
        try:
            got = full("".join(parts))
        except DockerfileError:
            return
        for src in got:
            assert src.kind in ("image", "http", "git", "local")
            assert src.line >= 0

    check()


def test_copy_from_later_stage_index() -> None:
    text = "FROM alpine AS a\nCOPY --from=1 / /\nFROM busybox\n"
    with pytest.raises(DockerfileError, match="needs to be defined before") as info:
        full(text, target="a")
    assert info.value.line == 2


def test_stage_index_may_name_an_image_state() -> None:
    # BuildKit appends the images that COPY --from names to its list of stages while it
    # links commands, so an index past the last stage can refer to one of them.
    text = "FROM alpine AS a\nCOPY --from=busybox:1 / /\nFROM scratch\nCOPY --from=2 / /\n"
    assert run(text) == [(img("docker.io/library/busybox:1"), 1, "COPY", 4)]


def test_buildkit_syntax_without_directive() -> None:
    got = full("FROM alpine\n", build_args={"BUILDKIT_SYNTAX": "docker/dockerfile:1.9"})
    assert (got[0].identifier, got[0].instruction, got[0].line) == (
        img("docker.io/docker/dockerfile:1.9"),
        "SYNTAX",
        0,
    )


def test_syntax_image_also_used_as_base_is_listed_once() -> None:
    got = full("# syntax=docker/dockerfile:1\nFROM docker/dockerfile:1\n")
    assert [(s.identifier, s.instruction) for s in got] == [
        (img("docker.io/docker/dockerfile:1"), "SYNTAX")
    ]


def test_copy_from_image_in_a_platform_stage_uses_the_target_platform() -> None:
    text = "FROM --platform=linux/arm64 alpine\nCOPY --from=busybox / /\n"
    got = full(text)
    assert [(s.identifier, s.platform) for s in got] == [
        (img("docker.io/library/alpine:latest"), "linux/arm64"),
        (img("docker.io/library/busybox:latest"), None),
    ]
