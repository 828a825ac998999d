//! Image references pinned by digest: what a task definition names, and where ECR keeps it.

use serde::Serialize;

use crate::error::{Location, UserError};

/// An image reference pinned by digest: `host/repository@sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinnedImage {
    /// The full reference, as the task definition carries it.
    pub reference: String,
    /// `host/path`, without the digest.
    pub repository: String,
    pub digest: String,
}

/// Where an ECR image lives, read off its host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrLocation {
    pub registry_id: String,
    pub region: String,
    pub repository_name: String,
}

impl PinnedImage {
    pub fn parse(value: &str) -> Result<PinnedImage, UserError> {
        let bad = |why: &str| {
            UserError::new(format!("`{value}` is not an image pinned by digest ({why})"))
                .at(Location::Flag("--image".into()))
                .fix("pass the pushed image as <registry>/<repository>@sha256:<64 hex digits>, as `cargo fargate push` prints it")
        };
        let (repository, digest) = value
            .split_once('@')
            .ok_or_else(|| bad("no `@sha256:` digest; tags move, digests do not"))?;
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| bad("the digest must start with `sha256:`"))?;
        if hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            return Err(bad("the digest must be 64 lowercase hex digits"));
        }
        let (host, path) = repository
            .split_once('/')
            .ok_or_else(|| bad("no registry host"))?;
        let path_ok = !path.is_empty()
            && !path.contains(':')
            && path.split('/').all(|c| {
                !c.is_empty()
                    && c.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch)
                    })
            });
        if host.is_empty() || !path_ok {
            return Err(bad(
                "the repository must be lowercase `host/path` without a tag",
            ));
        }
        Ok(PinnedImage {
            reference: value.to_string(),
            repository: repository.to_string(),
            digest: digest.to_string(),
        })
    }

    /// `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>` → its ECR coordinates.
    pub fn ecr(&self) -> Option<EcrLocation> {
        let (host, name) = self.repository.split_once('/')?;
        let mut parts = host.split('.');
        let account = parts.next()?;
        let (dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?);
        let rest: Vec<&str> = parts.collect();
        let suffix_ok = rest == ["amazonaws", "com"] || rest == ["amazonaws", "com", "cn"];
        (account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && dkr == "dkr"
            && ecr == "ecr"
            && suffix_ok)
            .then(|| EcrLocation {
                registry_id: account.to_string(),
                region: region.to_string(),
                repository_name: name.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn images_must_be_pinned_by_digest() {
        let ok = PinnedImage::parse(&format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app@{DIGEST}"
        ))
        .unwrap();
        assert_eq!(ok.digest, DIGEST);
        assert_eq!(
            ok.ecr(),
            Some(EcrLocation {
                registry_id: "123456789012".into(),
                region: "eu-west-1".into(),
                repository_name: "team/app".into()
            })
        );
        assert_eq!(
            PinnedImage::parse(&format!("ghcr.io/o/app@{DIGEST}"))
                .unwrap()
                .ecr(),
            None
        );
        for bad in [
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest",
            "app@sha256:0123",
            "registry/app@md5:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry/App@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            let e = PinnedImage::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("flag --image: "), "{e}");
            assert!(e.contains("sha256:<64 hex digits>"), "{e}");
        }
    }
}
