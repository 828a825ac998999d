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
mod manifest;
pub use manifest::{
    config_digest, index_architectures, is_image_config_type, is_referrers_fallback_tag,
    referrers_fallback_tag,
};

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE,
};
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
        seen: Option<Arc<Mutex<blobs::Cursor>>>,
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
            } => Some(blobs::file_body(path.clone(), *offset, *len, seen.clone())),
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

    /// Sends a request, answering an auth challenge once (Basic, or a Bearer token fetched with the
    /// credentials). A refusal after that is the user's to fix, and says so.
    async fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: HeaderMap,
        body: Payload,
    ) -> Result<Response> {
        let build = |auth: Option<String>| {
            let mut req = self
                .client
                .request(method.clone(), url)
                .headers(headers.clone());
            if let Some(a) = auth {
                req = req.header(AUTHORIZATION, a);
            }
            if let Some(b) = body.body() {
                // A streamed body has no length of its own; registries want one.
                req = req
                    .header(reqwest::header::CONTENT_LENGTH, body.len())
                    .body(b);
            }
            req
        };
        let cached = self.tokens.lock().unwrap().get(scope).cloned();
        let first_auth = cached
            .map(|t| format!("Bearer {t}"))
            .or_else(|| self.basic());
        let body_len = body.len();
        let resp = self
            .exchange(&method, url, || build(first_auth.clone()), body_len)
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let retry_auth = if let Some(params) = challenge.strip_prefix("Bearer ") {
            let token = self.fetch_token(params, scope).await?;
            self.tokens
                .lock()
                .unwrap()
                .insert(scope.to_string(), token.clone());
            Some(format!("Bearer {token}"))
        } else if first_auth.is_none() {
            self.basic()
        } else {
            None
        };
        let resp = match retry_auth {
            Some(auth) => {
                self.exchange(&method, url, || build(Some(auth.clone())), body_len)
                    .await?
            }
            None => resp,
        };
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(self.refused());
        }
        Ok(resp)
    }

    fn basic(&self) -> Option<String> {
        use base64::Engine;
        self.credentials.as_ref().map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password))
            )
        })
    }

    fn refused(&self) -> anyhow::Error {
        UserError::new(format!("the registry {} refused the login", self.host))
            .fix("check that `registry-endpoint` points at this account's ECR registry and that your credentials may push to it")
            .into()
    }

    /// One request under the run's time limit, retried with backoff on a transient failure
    /// (timeout, reset, 5xx, 429) when the method may be repeated; then one line naming the
    /// registry, the request and how long it waited.
    async fn exchange(
        &self,
        method: &Method,
        url: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
        body_len: u64,
    ) -> Result<Response> {
        // An upload session's PUT is not repeated here: `upload_blob` starts a new session.
        let repeatable = matches!(*method, Method::GET | Method::HEAD)
            || (*method == Method::PUT && !url.contains("/blobs/uploads/"));
        let mut retries = 0;
        loop {
            let mut req = request();
            if *method != Method::GET {
                // Writes and small reads get a whole-request limit; a GET streams, and the
                // client's read timeout catches it stalling.
                req = req.timeout(crate::net::timeout_for(body_len));
            }
            let res = req.send().await;
            let transient = match &res {
                Ok(r) => {
                    r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                }
                Err(e) => e.is_timeout() || e.is_connect() || e.is_request() || e.is_body(),
            };
            let may_repeat = repeatable || matches!(&res, Err(e) if e.is_connect());
            if transient && may_repeat && retries + 1 < crate::net::REGISTRY_ATTEMPTS {
                retries += 1;
                tokio::time::sleep(crate::net::backoff(retries)).await;
                continue;
            }
            return res.map_err(|e| self.unreachable(e, method, url, retries + 1, body_len));
        }
    }

    fn unreachable(
        &self,
        e: reqwest::Error,
        method: &Method,
        url: &str,
        attempts: u32,
        body_len: u64,
    ) -> anyhow::Error {
        let path = url.strip_prefix(&self.base).unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        if e.is_timeout() {
            let waited = crate::net::timeout_for(body_len).as_secs();
            return UserError::new(format!(
                "the registry {} did not answer {method} {path} within {waited}s ({attempts} attempt{})",
                self.host,
                if attempts == 1 { "" } else { "s" }
            ))
            .fix("check `registry-endpoint` (or CARGO_FARGATE_REGISTRY_ENDPOINT) and your network, or allow longer with --timeout SECS; re-running resumes: blobs already pushed are skipped")
            .into();
        }
        let cause = crate::error::innermost(&e);
        UserError::new(format!(
            "cannot reach the registry {} ({method} {path}, {attempts} attempt{}): {cause}",
            self.host,
            if attempts == 1 { "" } else { "s" }
        ))
        .fix(if cause.contains("UnknownIssuer") || cause.contains("invalid peer certificate") {
            "its certificate is signed by a CA this machine does not trust (a TLS-inspecting proxy?): point AWS_CA_BUNDLE (or `ca_bundle` in your AWS profile) at your network's CA bundle"
        } else {
            "check `registry-endpoint` (or CARGO_FARGATE_REGISTRY_ENDPOINT) and your network (behind a proxy: HTTPS_PROXY, NO_PROXY)"
        })
        .into()
    }

    /// The Bearer token dance: `realm="…",service="…",scope="…"`.
    async fn fetch_token(&self, params: &str, scope: &str) -> Result<String> {
        let mut realm = None;
        let mut query = Vec::new();
        for part in params.split(',') {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            let v = v.trim_matches('"').to_string();
            match k {
                "realm" => realm = Some(v),
                "service" => query.push(("service".to_string(), v)),
                _ => {}
            }
        }
        query.push(("scope".to_string(), scope.to_string()));
        let realm = realm.ok_or_else(|| {
            anyhow::anyhow!(
                "the registry {} sent a Bearer challenge without a realm",
                self.host
            )
        })?;
        let mut req = self.client.get(&realm).query(&query);
        if let Some(c) = &self.credentials {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let resp = self
            .exchange(
                &Method::GET,
                &realm,
                || req.try_clone().expect("a GET without a body clones"),
                0,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.refused());
        }
        let body: serde_json::Value = resp.json().await.context("reading the registry token")?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("the registry token response has no token"))
    }

    fn scope(repository: &str, push: bool) -> String {
        format!(
            "repository:{repository}:{}",
            if push { "pull,push" } else { "pull" }
        )
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
