//! The network policy of one run: how long a call to AWS or a registry may take (`--timeout`,
//! `CARGO_FARGATE_TIMEOUT`) and how often a transient failure is retried. Set once from the command
//! line before anything connects; every client reads it, so no call can wait forever.

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
/// process's provider (reqwest is built without one; see Cargo.toml).
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// The AWS SDK's HTTPS client: the SDK's own hyper client, on rustls with ring.
pub fn aws_http_client() -> aws_types::sdk_config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
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

/// Backoff before attempt `n` (1-based retry count): 0.5 s, 1 s, 2 s, … capped at 8 s.
pub fn backoff(retry: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << retry.min(4).saturating_sub(1)))
        .min(Duration::from_secs(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_clients_have_a_tls_provider() {
        // reqwest is built without a crypto provider: a client built without ours would panic.
        http_client().build().unwrap();
        let _ = aws_http_client();
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert!(backoff(30) <= Duration::from_secs(8));
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
