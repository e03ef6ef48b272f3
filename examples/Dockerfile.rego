# Policy for examples/Dockerfile: Buildx evaluates it for every build input
# (`docker buildx build` picks up <Dockerfile>.rego), and so does `buildsig check`.
package docker

import rego.v1

default allow := false

# --- the build context ------------------------------------------------------------------

allow if input.local

# --- base images: built and signed by Docker's GitHub builder for acme/images ------------

trusted_image_repo := "acme/images"

allow if {
	input.image
	docker_github_builder(input.image, trusted_image_repo)
}

deny_msg contains msg if {
	input.image
	not input.image.hasProvenance
	msg := sprintf("image %s has no provenance attestation", [input.image.ref])
}

deny_msg contains msg if {
	input.image
	input.image.hasProvenance
	not docker_github_builder(input.image, trusted_image_repo)
	msg := sprintf(
		"image %s is not signed by Docker's GitHub builder for %s",
		[input.image.ref, trusted_image_repo],
	)
}

# --- downloads: HTTPS from approved release hosts (the Dockerfile pins each --checksum) --

approved_download_hosts := {"github.com", "releases.hashicorp.com"}

allow if {
	input.http.schema == "https"
	input.http.host in approved_download_hosts
}

deny_msg contains msg if {
	input.http.url
	not input.http.host in approved_download_hosts
	msg := sprintf("download %s: host %s is not an approved download host", [input.http.url, input.http.host])
}

deny_msg contains msg if {
	input.http.schema != "https"
	msg := sprintf("download %s is not over HTTPS", [input.http.url])
}

# --- git sources: release tags signed by the maintainer's SSH key -----------------------

allow if {
	input.git.tag
	verify_git_signature(input.git.tag, "keys/maintainer.pub")
}

deny_msg contains msg if {
	input.git.remote
	not input.git.tag
	msg := sprintf("git %s: %s is not a signed release tag (no annotated tag object)", [input.git.remote, input.git.ref])
}

deny_msg contains msg if {
	input.git.tag
	not verify_git_signature(input.git.tag, "keys/maintainer.pub")
	msg := sprintf("git %s: tag %s is not signed by the maintainer key (keys/maintainer.pub)", [input.git.remote, input.git.tagName])
}

decision := {"allow": allow, "deny_msg": deny_msg}
