# Example 2 of Docker's blog post on Buildx build policies, the production lockdown, as
# published (the seed document shared/seeds/001_029afd438bd41c0d.txt). The tests
# evaluate this file with local stand-ins for its hosts.
package docker

default allow := false

allow if input.local

# --- IMAGE RULES ---

# Internal registry: require digest + provenance attestation
allow if {
    input.image.host == "registry.company.com"
    input.image.isCanonical
    input.image.hasProvenance
}

# Docker Hardened Images: trusted with digest
allow if {
    input.image.host == "dhi.io"
    input.image.isCanonical
    input.image.hasProvenance
}

# Docker Hub: only specific base images, pinned to exact digests
pinned_dockerhub_images := {
    "golang": "sha256:def456abc789...",
    "alpine": "sha256:4b7ce07002c6...",
}

allow if {
    input.image.host == "docker.io"
    some repo, digest in pinned_dockerhub_images
    input.image.repo == repo
    input.image.checksum == digest
}

# --- HTTP DOWNLOAD RULES ---

# Only allow downloads from approved internal domains with HTTPS
approved_download_hosts := [
    "releases.internal.com",
    "artifacts.company.com"
]

allow if {
    input.http.schema == "https"
    input.http.host in approved_download_hosts
}

# --- GIT RULES ---

# Internal repos: allow freely
allow if {
    input.git
    startswith(input.git.remote, "https://github.com/our-org/")
}

# External repos: require signed tags from trusted maintainers
allow if {
    input.git
    not startswith(input.git.remote, "https://github.com/our-org/")
    input.git.tagName != ""
    verify_git_signature(input.git.tag, "trusted-maintainers.asc")
}

# --- ERROR MESSAGES ---

deny_msg contains msg if {
    not allow
    input.image
    input.image.host == "registry.company.com"
    not input.image.hasProvenance
    msg := sprintf(
        "Internal image %s requires provenance attestations. Rebuild with --provenance=true",
        [input.image.ref]
    )
}

deny_msg contains msg if {
    not allow
    input.http
    msg := sprintf(
        "Download from %s is not allowed. Approved hosts: %v",
        [input.http.host, approved_download_hosts]
    )
}

deny_msg contains msg if {
    not allow
    input.git
    not startswith(input.git.remote, "https://github.com/our-org/")
    msg := sprintf(
        "External Git repo %s requires a signed tag from a trusted maintainer",
        [input.git.remote]
    )
}

decision := {"allow": allow, "deny_msg": deny_msg}
