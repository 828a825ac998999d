//! What a manifest says, read without a registry: the platforms of an index, a manifest's config,
//! and the referrers tag schema (`sha256-<hex>.<kind>`) that stands in for the referrers API.

use crate::error::Result;

/// The architectures (`amd64`, `arm64`) an image index or manifest list names, each of its entries'
/// `platform`; None for a single image's manifest, whose architecture is in its config
/// (see [`config_digest`]).
pub fn index_architectures(manifest: &serde_json::Value) -> Option<Vec<String>> {
    let list = manifest["manifests"].as_array()?;
    Some(
        list.iter()
            .filter_map(|m| m["platform"]["architecture"].as_str())
            .filter(|a| *a != "unknown") // attestation and SBOM entries
            .map(str::to_string)
            .collect(),
    )
}

/// A single image manifest's config digest.
pub fn config_digest(manifest: &serde_json::Value) -> Result<&str> {
    manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the manifest names no image config"))
}

/// The tag an artifact of `kind` (`sbom`) referring to `subject` (`sha256:<hex>`) carries where the
/// registry has no referrers API: the tag schema cosign and oras fall back to.
pub fn referrers_fallback_tag(subject: &str, kind: &str) -> String {
    format!("{}.{kind}", subject.replace(':', "-"))
}

/// Whether `tag` is such a fallback tag: it names an artifact (signature, SBOM, attestation), not
/// an image that runs.
pub fn is_referrers_fallback_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(hex, kind)| {
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && !kind.is_empty()
        })
}

/// Whether ECR's `artifactMediaType` of a manifest is that of a runnable image's config (an OCI
/// artifact such as an SBOM has its own type, or the empty config's).
pub fn is_image_config_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sbom_tag_is_a_fallback_tag_and_an_image_tag_is_not() {
        let subject = format!("sha256:{}", "ab".repeat(32));
        let tag = super::referrers_fallback_tag(&subject, "sbom");
        assert_eq!(tag, format!("sha256-{}.sbom", "ab".repeat(32)));
        assert!(super::is_referrers_fallback_tag(&tag));
        assert!(!super::is_referrers_fallback_tag("dev-7f44d95e2bcd2cb7"));
        assert!(!super::is_referrers_fallback_tag("sha256-abc.sbom"));
    }
}
