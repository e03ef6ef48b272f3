# The default policy (Buildx's BUILDX_DEFAULT_POLICY): Docker's own build images must be
# signed by Docker's GitHub builder. Written for buildsig from the documented rules
# (buildx-policy.md §2.11); it is evaluated on its own, next to the helpers module.
package docker

import rego.v1

_protected := {
	"docker.io/docker/dockerfile",
	"docker.io/docker/dockerfile-upstream",
	"docker.io/docker/buildkit-syft-scanner",
	"docker.io/moby/buildkit",
}

decision := {"allow": count(deny_msgs) == 0, "deny_msg": deny_msgs}

deny_msgs contains msg if {
	image := input.image
	image.fullRepo in _protected
	image.tag != ""
	not _allowed(image)
	msg := sprintf(
		"image %s is not allowed by default policy: a verified docker-github-builder signature is required for %s tag",
		[image.ref, image.tag],
	)
}

# --- versions: "X.Y[.Z][-labs]" is (X, Y); "X[-labs]" is (X, 999999); else none --------------

_version(tag) := [to_number(m[1]), to_number(m[2])] if {
	m := regex.find_all_string_submatch_n(`^(\d+)\.(\d+)(?:\.\d+)?(?:-labs)?$`, tag, 1)[0]
}

_version(tag) := [to_number(m[1]), 999999] if {
	m := regex.find_all_string_submatch_n(`^(\d+)(?:-labs)?$`, tag, 1)[0]
}

_version_ge(tag, major, minor) if {
	v := _version(tag)
	v[0] > major
}

_version_ge(tag, major, minor) if {
	v := _version(tag)
	v[0] == major
	v[1] >= minor
}

_labs(s) if endswith(s, "-labs")

_same_labs(a, b) if {
	_labs(a)
	_labs(b)
}

_same_labs(a, b) if {
	not _labs(a)
	not _labs(b)
}

# A tag selects a release: "1.21.3" that one, "1.21" any 1.21.x, "1" any 1.x.
_selects(tag, release) if tag == release

_selects(tag, release) if {
	regex.match(`^\d+\.\d+$`, tag)
	r := regex.find_all_string_submatch_n(`^(\d+)\.(\d+)`, release, 1)[0]
	t := split(tag, ".")
	to_number(t[0]) == to_number(r[1])
	to_number(t[1]) == to_number(r[2])
}

_selects(tag, release) if {
	regex.match(`^\d+$`, tag)
	r := regex.find_all_string_submatch_n(`^(\d+)`, release, 1)[0]
	to_number(tag) == to_number(r[1])
}

# --- docker/dockerfile and docker/dockerfile-upstream ------------------------------------------

_dockerfile := {"docker.io/docker/dockerfile", "docker.io/docker/dockerfile-upstream"}

_allowed(image) if {
	image.fullRepo in _dockerfile
	image.tag in {"latest", "labs", "master"}
	docker_github_builder(image, "moby/buildkit")
}

_allowed(image) if {
	image.fullRepo in _dockerfile
	not image.tag in {"latest", "labs", "master"}
	not _version_ge(image.tag, 1, 21) # older or unversioned tags: unsigned allowed
}

_allowed(image) if {
	image.fullRepo in _dockerfile
	_version_ge(image.tag, 1, 21)
	image.hasProvenance
	some sig in image.signatures
	docker_github_builder_signature(sig, "moby/buildkit")
	startswith(sig.signer.sourceRepositoryRef, "refs/tags/dockerfile/")
	ref := trim_prefix(sig.signer.sourceRepositoryRef, "refs/tags/dockerfile/")
	_same_labs(image.tag, ref)
	_selects(trim_suffix(image.tag, "-labs"), trim_suffix(ref, "-labs"))
}

# --- docker/buildkit-syft-scanner -------------------------------------------------------------

_syft := "docker.io/docker/buildkit-syft-scanner"

_allowed(image) if {
	image.fullRepo == _syft
	image.tag == "latest"
	docker_github_builder(image, "docker/buildkit-syft-scanner")
}

_allowed(image) if {
	image.fullRepo == _syft
	image.tag != "latest"
	not _version_ge(image.tag, 1, 10)
}

_allowed(image) if {
	image.fullRepo == _syft
	_version_ge(image.tag, 1, 10)
	image.hasProvenance
	some sig in image.signatures
	docker_github_builder_signature(sig, "docker/buildkit-syft-scanner")
	startswith(sig.signer.sourceRepositoryRef, "refs/tags/")
	_selects(image.tag, trim_prefix(sig.signer.sourceRepositoryRef, "refs/tags/"))
}

# --- moby/buildkit ------------------------------------------------------------------------------

_buildkit := "docker.io/moby/buildkit"

_buildkit_floating := {
	"latest", "latest-ubuntu", "rootless", "master", "master-rootless", "master-ubuntu",
	"nightly", "nightly-rootless", "nightly-ubuntu",
}

_floating(tag) if tag in _buildkit_floating

_floating(tag) if regex.match(`^buildx-stable-\d+(-rootless|-gpu)?$`, tag)

# vX.Y.Z[-rcN][-rootless|-ubuntu] with X > 0 or Y >= 27: the release it names
_release(tag) := m[1] if {
	m := regex.find_all_string_submatch_n(`^(v(\d+)\.(\d+)\.\d+(?:-rc\d+)?)(?:-rootless|-ubuntu)?$`, tag, 1)[0]
	_recent(to_number(m[2]), to_number(m[3]))
}

_recent(major, _) if major > 0

_recent(major, minor) if {
	major == 0
	minor >= 27
}

_allowed(image) if {
	image.fullRepo == _buildkit
	_floating(image.tag)
	docker_github_builder(image, "moby/buildkit")
}

_allowed(image) if {
	image.fullRepo == _buildkit
	not _floating(image.tag)
	not _release(image.tag)
}

_allowed(image) if {
	image.fullRepo == _buildkit
	release := _release(image.tag)
	image.hasProvenance
	some sig in image.signatures
	docker_github_builder_signature(sig, "moby/buildkit")
	sig.signer.sourceRepositoryRef == concat("", ["refs/tags/", release])
}
