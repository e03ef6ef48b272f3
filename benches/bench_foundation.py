"""Foundation benchmarks: identifier parsing and serialisation, and import cost."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import buildsig
from _harness import PYTHON, Benchmark, Row, command_seconds, ops_per_second

SRC = str(Path(__file__).resolve().parent.parent / "src")


def corpus(n: int = 1000, seed: int = 7) -> list[str]:
    """A fixed mix of the identifiers real Dockerfiles use."""
    rng = random.Random(seed)
    hexd = "0123456789abcdef"
    out = []
    for i in range(n):
        kind = i % 6
        name = f"team{rng.randrange(50)}/svc{rng.randrange(500)}"
        if kind == 0:
            out.append(f"docker-image://docker.io/library/alpine:3.{rng.randrange(30)}")
        elif kind == 1:
            digest = "".join(rng.choice(hexd) for _ in range(64))
            out.append(f"docker-image://ghcr.io/{name}:1.{i}@sha256:{digest}")
        elif kind == 2:
            out.append(f"docker-image://registry.example.com:5000/{name}:v{i}")
        elif kind == 3:
            out.append(f"git://github.com/{name}.git#refs/tags/v1.{i}:docs")
        elif kind == 4:
            out.append(
                f"https://downloads.example.com/{name}/v{i}/app.tar.gz?arch=amd64&arch=arm64"
            )
        else:
            out.append("local://context")
    return out


def parse_and_serialise(quick: bool) -> list[Row]:
    ids = corpus()
    env = buildsig.Env(filename="Dockerfile")
    state = {"i": 0}

    def one() -> None:
        i = state["i"] = (state["i"] + 1) % len(ids)
        buildsig.source_to_input(ids[i], platform="linux/amd64", env=env).to_json()

    inputs = [buildsig.source_to_input(x, platform="linux/amd64", env=env) for x in ids]
    dicts = [x.to_dict() for x in inputs]
    texts = [x.to_json() for x in inputs]

    def floor() -> None:
        i = state["i"] = (state["i"] + 1) % len(ids)
        json.dumps(dicts[i], indent=2)

    def load() -> None:
        i = state["i"] = (state["i"] + 1) % len(ids)
        buildsig.Input.from_json(texts[i])

    min_time = 0.1 if quick else 0.4
    parse_rate = ops_per_second(one, min_time=min_time)
    floor_rate = ops_per_second(floor, min_time=min_time)
    load_rate = ops_per_second(load, min_time=min_time)
    return [
        Row(
            "identifier → Input → JSON",
            parse_rate,
            "ids/s",
            peer="json.dumps of the same dict (floor)",
            peer_value=floor_rate,
            note="mixed image/git/http/local corpus, one core",
        ),
        Row(
            "JSON → Input (strict load)",
            load_rate,
            "docs/s",
            peer="json.dumps of the same dict (floor)",
            peer_value=floor_rate,
        ),
    ]


def import_time(quick: bool) -> list[Row]:
    env = dict(os.environ, PYTHONPATH=SRC)
    repeat = 5 if quick else 21
    bare = command_seconds([PYTHON, "-c", "pass"], repeat=repeat, env=env)
    ours = command_seconds([PYTHON, "-c", "import buildsig"], repeat=repeat, env=env)
    first_use = command_seconds(
        [PYTHON, "-c", "import buildsig; buildsig.source_to_input('docker-image://alpine:3')"],
        repeat=repeat,
        env=env,
    )
    rows = [
        Row(
            "import buildsig (net of interpreter start)",
            (ours - bare) * 1000,
            "ms",
            higher_is_better=False,
            target="< 150 ms",
            target_met=(ours - bare) * 1000 < 150,
            note=f"interpreter start alone {bare * 1000:.0f} ms",
        )
    ]
    rows.append(
        Row(
            "import buildsig + first source_to_input",
            (first_use - bare) * 1000,
            "ms",
            higher_is_better=False,
            note="loads the model and parsers (what the CLI pays)",
        )
    )
    try:
        peer = command_seconds([PYTHON, "-c", "import sigstore.verify"], repeat=repeat, env=env)
    except Exception:  # a missing peer is reported, not fatal
        rows[0].note += "; sigstore not installed"
    else:
        rows[0].peer, rows[0].peer_value = "import sigstore.verify", (peer - bare) * 1000
    return rows


BENCHMARKS = [
    Benchmark("parse", parse_and_serialise),
    Benchmark("import", import_time),
]
