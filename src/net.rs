//! The network policy of one run: how long a call to AWS or a registry may take (`--timeout`,
//! `CARGO_FARGATE_TIMEOUT`) and how often a transient failure is retried. Set once from the command
//! line before anything connects; every client reads it, so no call can wait forever.

pub mod poll;

pub use poll::{poll_until, TimedOut};

use std::sync::OnceLock;
use std::time::Duration;

static TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// The default when `--timeout` was not given (and in unit tests).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Registry uploads may take longer than `--timeout` by the time the body needs at this speed.
pub const SLOWEST_UPLOAD_BYTES_PER_SEC: u64 = 256 * 1024;

/// Attempts of one registry request on a transient failure (timeouts, resets, 5xx, 429).
pub const REGISTRY_ATTEMPTS: u32 = 4;

/// A client builder for HTTPS to registries: TLS is rustls on ring, installed once as the
/// process's provider (reqwest is built without one; see Cargo.toml). HTTPS_PROXY / HTTP_PROXY /
/// NO_PROXY are reqwest's own (read from the environment); a CA bundle ([`ca_bundle`]) replaces the
/// trusted roots.
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder();
    match ca_bundle() {
        Some(bundle) => builder
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&bundle.pem).unwrap_or_default()),
        None => builder,
    }
}

/// The AWS SDK's HTTPS client: the SDK's own hyper client, on rustls with ring, through the proxy
/// the environment names (HTTPS_PROXY, HTTP_PROXY, NO_PROXY; as the SDK's default client does),
/// trusting the CA bundle ([`ca_bundle`]) instead of the system's roots when one is set.
pub fn aws_http_client() -> anyhow::Result<aws_types::sdk_config::SharedHttpClient> {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{
        rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
    };
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    let trust = match ca_bundle() {
        Some(bundle) => TrustStore::empty().with_pem_certificate(bundle.pem.clone()),
        None => TrustStore::default(),
    };
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| anyhow::anyhow!("the TLS settings of the AWS client: {e}"))?;
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = ConnectorBuilder::default()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

/// A PEM bundle of the certificates to trust instead of the system's, as the AWS CLI takes it
/// (`AWS_CA_BUNDLE`, else the profile's `ca_bundle`): for AWS and the registry alike.
#[derive(Debug, Clone)]
pub struct CaBundle {
    pub path: String,
    /// Where it was named (`AWS_CA_BUNDLE`, `ca_bundle of profile x`), for messages.
    pub origin: String,
    pub pem: Vec<u8>,
}

impl CaBundle {
    /// Reads and checks the bundle: a file holding at least one PEM certificate.
    pub fn read(path: &str, origin: &str) -> Result<CaBundle, crate::error::UserError> {
        let fix = "point it at a PEM file of the CA certificates to trust, or unset it";
        let pem = std::fs::read(path).map_err(|e| {
            crate::error::UserError::new(format!(
                "{origin}: cannot read the CA bundle `{path}`: {e}"
            ))
            .fix(fix)
        })?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => Ok(CaBundle {
                path: path.to_string(),
                origin: origin.to_string(),
                pem,
            }),
            _ => Err(crate::error::UserError::new(format!(
                "{origin}: the CA bundle `{path}` holds no PEM certificate"
            ))
            .fix(fix)),
        }
    }
}

static CA_BUNDLE: OnceLock<Option<CaBundle>> = OnceLock::new();

/// Sets the run's CA bundle once, before any client is made (the AWS clients' set-up does).
pub fn set_ca_bundle(bundle: Option<CaBundle>) {
    let _ = CA_BUNDLE.set(bundle);
}

/// The run's CA bundle: what [`set_ca_bundle`] set, else `AWS_CA_BUNDLE` when it reads.
pub fn ca_bundle() -> Option<&'static CaBundle> {
    CA_BUNDLE
        .get_or_init(|| {
            let path = std::env::var("AWS_CA_BUNDLE")
                .ok()
                .filter(|p| !p.is_empty())?;
            CaBundle::read(&path, "AWS_CA_BUNDLE").ok()
        })
        .as_ref()
}

/// The proxy settings of the environment, passed to image builds on the Docker Engine as Docker's
/// predefined build arguments (they reach `RUN` steps and stay out of the image and its cache key).
pub fn proxy_build_args() -> Vec<(String, String)> {
    proxy_args_from(|var| std::env::var(var).ok())
}

fn proxy_args_from(lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    const NAMES: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"];
    let mut args = Vec::new();
    for name in NAMES {
        for var in [name.to_string(), name.to_ascii_lowercase()] {
            if let Some(value) = lookup(&var).filter(|v| !v.is_empty()) {
                args.push((var, value));
            }
        }
    }
    args
}

pub fn set_timeout(timeout: Duration) {
    let _ = TIMEOUT.set(timeout);
}

/// How long one call may take, retries included.
pub fn timeout() -> Duration {
    *TIMEOUT.get().unwrap_or(&DEFAULT_TIMEOUT)
}

/// A request carrying `bytes` may take `timeout()` plus the time the body needs at the slowest
/// upload speed we accept.
pub fn timeout_for(bytes: u64) -> Duration {
    timeout() + Duration::from_secs(bytes / SLOWEST_UPLOAD_BYTES_PER_SEC)
}

/// The pauses between a registry request's attempts: 0.5 s, 1 s, 2 s (capped at 8 s), for
/// [`REGISTRY_ATTEMPTS`] attempts in all. A fresh `build()` starts the steps over (an upload that
/// made progress).
pub fn registry_backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(8))
        .with_max_times(REGISTRY_ATTEMPTS as usize - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_clients_have_a_tls_provider() {
        // reqwest is built without a crypto provider: a client built without ours would panic.
        http_client().build().unwrap();
        aws_http_client().unwrap();
    }

    #[test]
    fn a_ca_bundle_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = CaBundle::read(missing.to_str().unwrap(), "AWS_CA_BUNDLE")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("AWS_CA_BUNDLE: cannot read the CA bundle")
                && e.contains("point it at a PEM file"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = CaBundle::read(junk.to_str().unwrap(), "ca_bundle of profile `corp`")
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn the_proxy_settings_become_dockers_predefined_build_args() {
        let env = |var: &str| match var {
            "HTTPS_PROXY" => Some("http://proxy.corp:3128".to_string()),
            "no_proxy" => Some("localhost,.corp".to_string()),
            "HTTP_PROXY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            proxy_args_from(env),
            [
                (
                    "HTTPS_PROXY".to_string(),
                    "http://proxy.corp:3128".to_string()
                ),
                ("no_proxy".to_string(), "localhost,.corp".to_string())
            ]
        );
    }

    #[test]
    fn registry_backoff_grows_and_stops_after_the_attempts() {
        use backon::BackoffBuilder;
        let pauses: Vec<Duration> = registry_backoff().build().collect();
        assert_eq!(
            pauses,
            [500, 1000, 2000].map(Duration::from_millis).to_vec(),
            "one pause fewer than REGISTRY_ATTEMPTS"
        );
    }

    #[test]
    fn big_uploads_get_time_for_their_bytes() {
        assert_eq!(timeout_for(0), timeout());
        assert_eq!(
            timeout_for(10 * SLOWEST_UPLOAD_BYTES_PER_SEC),
            timeout() + Duration::from_secs(10)
        );
    }
}
