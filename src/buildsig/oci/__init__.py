"""OCI images: registries and OCI layouts, platform resolution, config, attestations."""
