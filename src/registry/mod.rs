//! A client for the registry HTTP API (OCI distribution / Docker Registry v2), used to ask whether an
//! image is already pushed, to read its digest, and to push the host builder's image blob by blob
//! ([`blobs`]: streamed between disk and network, chunked and resumed where the registry allows).
//!
//! Auth: HTTP Basic (ECR accepts `AWS:<token>`), and the Bearer token dance public registries use.
//! Credentials live in memory only; their Debug form is redacted.
//!
//! Hand-written rather than `oci-client` (0.17): its blob push takes a stream it cannot replay, so a
//! failed chunk fails the whole blob (no resume from the registry's upload status, no per-chunk
//! retry), it has no per-request time limit or backoff of our `--timeout`, and it would add
//! jsonwebtoken, oci-spec, chrono and a second sha2 to every install's compile.

mod blobs;
mod http;
mod index;
mod manifest;
mod upload;
pub use index::{download_json, index_of, PlatformImage};
pub use manifest::{
    config_digest, index_architectures, is_image_config_type, is_referrers_fallback_tag,
    referrers_fallback_tag,
};

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::{Result, UserError};

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Registry credentials. The password never appears in Debug or Display output.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
}

impl Credentials {
    pub fn new(username: &str, password: &str) -> Self {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }
    }
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: <redacted> }}",
            self.username
        )
    }
}

/// `sha256:<hex>` of some bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Turns a registry endpoint (`host[:port]` or a URL) into (base URL, host). Bare loopback hosts speak
/// plain HTTP, as Docker allows for them; everything else HTTPS unless the URL says otherwise.
pub fn endpoint(value: &str) -> (String, String) {
    let value = value.trim_end_matches('/');
    if let Some(host) = value.strip_prefix("http://") {
        return (value.to_string(), host.to_string());
    }
    if let Some(host) = value.strip_prefix("https://") {
        return (value.to_string(), host.to_string());
    }
    let hostname = value.split(':').next().unwrap_or(value);
    let plain = hostname == "localhost" || hostname.starts_with("127.") || hostname == "[::1]";
    (
        format!("{}://{value}", if plain { "http" } else { "https" }),
        value.to_string(),
    )
}

/// An image reference split into registry, repository and tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub reference: String,
}

impl ImageRef {
    /// Parses `name[:tag|@digest]` the way Docker does: no registry part means Docker Hub, and a
    /// one-component Docker Hub name lives under `library/`.
    pub fn parse(image: &str) -> Result<ImageRef> {
        let (name, reference) = match image.split_once('@') {
            Some((n, d)) => (n, d.to_string()),
            None => match image.rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => (n, t.to_string()),
                _ => (image, "latest".to_string()),
            },
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let (registry, repository) = if registry == "docker.io" {
            let repo = if repository.contains('/') {
                repository
            } else {
                format!("library/{repository}")
            };
            ("registry-1.docker.io".to_string(), repo)
        } else {
            (registry, repository)
        };
        if repository.is_empty() || reference.is_empty() {
            return Err(UserError::new(format!(
                "`{image}` is not an image reference such as `debian:bookworm-slim`"
            ))
            .into());
        }
        Ok(ImageRef {
            registry,
            repository,
            reference,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

/// Serialises a value by its Display form (an image reference as users write it).
pub fn display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// What a request carries. A file range is read from disk while it is sent (never whole in
/// memory), and read again when the request is repeated.
pub(crate) enum Payload {
    None,
    Bytes(Vec<u8>),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
        /// Follows the bytes as they leave, for the digest computed on the way.
        seen: Option<Arc<Mutex<upload::Cursor>>>,
    },
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Payload::None => 0,
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }

    fn body(&self) -> Option<reqwest::Body> {
        match self {
            Payload::None => None,
            Payload::Bytes(b) => Some(b.clone().into()),
            Payload::File {
                path,
                offset,
                len,
                seen,
            } => Some(upload::file_body(path.clone(), *offset, *len, seen.clone())),
        }
    }
}

pub struct Registry {
    base: String,
    pub host: String,
    client: reqwest::Client,
    credentials: Option<Credentials>,
    /// Bearer tokens by scope, for registries that use the token dance.
    tokens: Mutex<HashMap<String, String>>,
}

pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

impl Registry {
    pub fn new(endpoint_value: &str, credentials: Option<Credentials>) -> Result<Registry> {
        let (base, host) = endpoint(endpoint_value);
        let client = crate::net::http_client()
            .user_agent(concat!("cargo-fargate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(crate::net::timeout().min(std::time::Duration::from_secs(10)))
            // A read that stalls this long fails (and is retried); a long download that keeps
            // moving is not cut.
            .read_timeout(crate::net::timeout())
            .build()
            .context("making the registry HTTP client")?;
        Ok(Registry {
            base,
            host,
            client,
            credentials,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /v2/`: checks the endpoint answers and the credentials are accepted.
    pub async fn check_login(&self) -> Result<()> {
        let resp = self
            .send(
                Method::GET,
                &self.url("/v2/"),
                "",
                HeaderMap::new(),
                Payload::None,
            )
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(anyhow::anyhow!(
                "the registry {} answered {} to /v2/",
                self.host,
                resp.status()
            ))
        }
    }

    /// A pull-scoped read of `/v2/<repository>/<path>`, accepting `accept`.
    async fn read(
        &self,
        method: Method,
        repository: &str,
        path: &str,
        accept: &'static str,
    ) -> Result<Response> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        let url = self.url(&format!("/v2/{repository}/{path}"));
        self.send(
            method,
            &url,
            &Self::scope(repository, false),
            headers,
            Payload::None,
        )
        .await
    }

    /// The digest of `repository:reference`, or None when the registry does not have it.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>> {
        let resp = self
            .read(
                Method::HEAD,
                repository,
                &format!("manifests/{reference}"),
                ACCEPT_MANIFESTS,
            )
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => match resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
            {
                Some(d) => Ok(Some(d.to_string())),
                None => Ok(Some(self.get_manifest(repository, reference).await?.digest)),
            },
            s => Err(anyhow::anyhow!(
                "the registry {} answered {s} for {repository}:{reference}",
                self.host
            )),
        }
    }

    pub async fn get_manifest(&self, repository: &str, reference: &str) -> Result<Manifest> {
        let resp = self
            .read(
                Method::GET,
                repository,
                &format!("manifests/{reference}"),
                ACCEPT_MANIFESTS,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(UserError::new(format!(
                "{}/{repository}:{reference} does not exist",
                self.host
            ))
            .fix("check the image name and tag")
            .into());
        }
        let resp = ok_or_status(
            resp,
            &format!("reading the manifest of {repository}:{reference}"),
        )
        .await?;
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(MEDIA_DOCKER_MANIFEST)
            .to_string();
        let bytes = resp.bytes().await?.to_vec();
        let digest = digest_of(&bytes);
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Puts a manifest under a tag; returns its digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(media_type)?);
        let digest = digest_of(&bytes);
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let resp = self
            .send(
                Method::PUT,
                &url,
                &Self::scope(repository, true),
                headers,
                Payload::Bytes(bytes),
            )
            .await?;
        ok_or_status(
            resp,
            &format!("pushing the manifest {repository}:{reference}"),
        )
        .await?;
        Ok(digest)
    }

    /// Whether the registry answers the OCI 1.1 referrers API for `digest` (ECR does; distribution
    /// 2.x does not), i.e. whether an artifact's `subject` makes it findable from the image.
    pub async fn referrers_supported(&self, repository: &str, digest: &str) -> Result<bool> {
        let resp = self
            .read(
                Method::GET,
                repository,
                &format!("referrers/{digest}"),
                MEDIA_OCI_INDEX,
            )
            .await?;
        Ok(resp.status().is_success())
    }
}

/// Runs a whole transfer (`once`) until it succeeds: at most `REGISTRY_ATTEMPTS` tries, 0.5 s,
/// 1 s, 2 s apart ([`crate::net::registry_backoff`]); a refused login is final at once. On failure,
/// the last error and how many tries were made.
async fn with_retries<T, F, Fut>(mut once: F) -> std::result::Result<T, (anyhow::Error, u32)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    use backon::Retryable;
    let tries = std::cell::Cell::new(0u32);
    let attempt = || {
        tries.set(tries.get() + 1);
        once()
    };
    attempt
        .retry(crate::net::registry_backoff())
        .sleep(tokio::time::sleep)
        .when(|e| !is_refusal(e))
        .await
        .map_err(|e| (e, tries.get()))
}

/// The registry refused our credentials: asking again will not help.
fn is_refusal(e: &anyhow::Error) -> bool {
    e.downcast_ref::<UserError>()
        .is_some_and(|u| u.what.ends_with("refused the login"))
}

async fn ok_or_status(resp: Response, what: &str) -> Result<Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let detail: String = body
        .chars()
        .take(300)
        .collect::<String>()
        .replace('\n', " ");
    Err(anyhow::anyhow!(
        "{what}: the registry answered {status}: {detail}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_parse_as_docker_does() {
        let r = ImageRef::parse("debian:bookworm-slim").unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("registry-1.docker.io", "library/debian", "bookworm-slim")
        );
        let r = ImageRef::parse("127.0.0.1:5000/bench/debian:12").unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("127.0.0.1:5000", "bench/debian", "12")
        );
        let r = ImageRef::parse("gcr.io/distroless/cc-debian12@sha256:abc").unwrap();
        assert_eq!(r.reference, "sha256:abc");
        let r = ImageRef::parse("localhost/x").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.reference.as_str()),
            ("localhost", "latest")
        );
    }

    #[test]
    fn endpoints_pick_their_scheme() {
        assert_eq!(
            endpoint("127.0.0.1:5000"),
            ("http://127.0.0.1:5000".into(), "127.0.0.1:5000".into())
        );
        assert_eq!(
            endpoint("123.dkr.ecr.eu-west-1.amazonaws.com"),
            (
                "https://123.dkr.ecr.eu-west-1.amazonaws.com".into(),
                "123.dkr.ecr.eu-west-1.amazonaws.com".into()
            )
        );
        assert_eq!(
            endpoint("https://proxy.internal:8443/").1,
            "proxy.internal:8443"
        );
    }

    #[test]
    fn credentials_never_show_the_password() {
        let c = Credentials::new("AWS", "s3cr3t-token");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
