# Helpers every buildsig policy can call (Buildx loads the same names for Dockerfile.rego).
# Written for buildsig from Buildx's documented semantics (buildx-policy.md §2.10).
package docker

import rego.v1

_sigstore_intermediate := "CN=sigstore-intermediate,O=sigstore.dev"

_github_actions_issuer := "https://token.actions.githubusercontent.com"

# A signature made by Docker's GitHub builder workflows for the GitHub repository `repo`
# ("owner/name"), on a GitHub-hosted runner, with at least one verified timestamp.
docker_github_builder_signature(sig, repo) if {
	sig.kind == "docker-github-builder"
	sig.type == "bundle-v0.3"
	sig.signer.certificateIssuer == _sigstore_intermediate
	sig.signer.issuer == _github_actions_issuer
	sig.signer.sourceRepositoryURI == concat("", ["https://github.com/", repo])
	sig.signer.runnerEnvironment == "github-hosted"
	count(sig.timestamps) > 0
}

# The image has provenance and a Docker GitHub builder signature from `repo`.
docker_github_builder(image, repo) if {
	image.hasProvenance
	some sig in image.signatures
	docker_github_builder_signature(sig, repo)
}

# As docker_github_builder, and some signature was made for the git tag `tag`.
docker_github_builder_tag(image, repo, tag) if {
	docker_github_builder(image, repo)
	some sig in image.signatures
	sig.signer.sourceRepositoryRef == concat("", ["refs/tags/", tag])
}

# An HTTP download whose Sigstore bundle (a policy file) is a Docker GitHub builder
# attestation from `repo`.
docker_github_builder_bundle(http, file, repo) if {
	sig := artifact_attestation(http, file)
	docker_github_builder_signature(sig, repo)
}

# The GitHub attestation of a release asset
# (https://github.com/<owner>/<repo>/releases/download/<tag>/<asset>).
github_release_attestation(http) := sig if {
	http.schema == "https"
	lower(http.host) == "github.com"
	parts := split(trim_prefix(http.path, "/"), "/")
	count(parts) >= 6
	parts[2] == "releases"
	parts[3] == "download"
	every i in [0, 1, 4, 5] {
		parts[i] != ""
	}
	sig := github_attestation(http, concat("/", [parts[0], parts[1]]))
}
