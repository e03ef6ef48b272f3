# Example 1 of Docker's blog post on Buildx build policies, the registry gatekeeper, as
# published (the seed document shared/seeds/001_029afd438bd41c0d.txt). The tests and
# benches evaluate this file.
package docker

default allow := false

# Allow local files (build context + Dockerfile itself)
allow if input.local

# Define approved registries — the VIP list
approved_registries := [
    "registry.company.com",
    "docker.io",
    "ghcr.io"
]

# Images must come from an approved registry AND use a digest reference
allow if {
    input.image.host in approved_registries
    input.image.isCanonical # Requires @sha256:... digest
}

# HTTP downloads must use HTTPS — it's 2026, people
allow if {
    input.http.schema == "https"
}

# Git repos are allowed (for multi-stage builds pulling from internal repos)
allow if input.git

# Helpful error messages so developers don't have to guess
deny_msg contains msg if {
    not allow
    input.image
    not input.image.isCanonical
    msg := sprintf(
        "Image %s must use a digest reference (e.g., @sha256:...). Tags alone are not allowed.",
        [input.image.ref]
    )
}

deny_msg contains msg if {
    not allow
    input.image
    input.image.isCanonical
    msg := sprintf(
        "Registry %s is not in the approved list. Allowed: %v",
        [input.image.host, approved_registries]
    )
}

deny_msg contains msg if {
    not allow
    input.http
    input.http.schema != "https"
    msg := "All HTTP downloads must use HTTPS. Plain HTTP is not allowed."
}

decision := {"allow": allow, "deny_msg": deny_msg}
