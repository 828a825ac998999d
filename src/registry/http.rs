//! The registry's HTTP exchange: auth (Basic, the Bearer token dance), the run's time limit on each
//! request, retries of transient failures with backoff, and one line that says what to fix.

use anyhow::Context;
use backon::Retryable;
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use super::{Payload, Registry};
use crate::error::{Result, UserError};

impl Registry {
    /// Sends a request, answering an auth challenge once (Basic, or a Bearer token fetched with the
    /// credentials). A refusal after that is the user's to fix, and says so.
    pub(super) async fn send(
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

    pub(super) fn basic(&self) -> Option<String> {
        use base64::Engine;
        self.credentials.as_ref().map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password))
            )
        })
    }

    pub(super) fn refused(&self) -> anyhow::Error {
        UserError::new(format!("the registry {} refused the login", self.host))
            .fix("check that `registry-endpoint` points at this account's ECR registry and that your credentials may push to it")
            .into()
    }

    /// One request under the run's time limit, retried with backoff on a transient failure
    /// (timeout, reset, 5xx, 429) when the method may be repeated; then one line naming the
    /// registry, the request and how long it waited.
    pub(super) async fn exchange(
        &self,
        method: &Method,
        url: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
        body_len: u64,
    ) -> Result<Response> {
        // An upload session's PUT is not repeated here: `upload_blob` starts a new session.
        let repeatable = matches!(*method, Method::GET | Method::HEAD)
            || (*method == Method::PUT && !url.contains("/blobs/uploads/"));
        let attempts = std::cell::Cell::new(0u32);
        let send = || {
            attempts.set(attempts.get() + 1);
            let mut req = request();
            if *method != Method::GET {
                // Writes and small reads get a whole-request limit; a GET streams, and the
                // client's read timeout catches it stalling.
                req = req.timeout(crate::net::timeout_for(body_len));
            }
            async move {
                let res = req.send().await;
                let transient = match &res {
                    Ok(r) => {
                        r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                    }
                    Err(e) => e.is_timeout() || e.is_connect() || e.is_request() || e.is_body(),
                };
                let may_repeat = repeatable || matches!(&res, Err(e) if e.is_connect());
                // An answer worth asking again for is the retry's "error"; the last one is
                // returned as it is.
                if transient && may_repeat {
                    Err(res)
                } else {
                    Ok(res)
                }
            }
        };
        let res = send
            .retry(crate::net::registry_backoff())
            .sleep(tokio::time::sleep)
            .await
            .unwrap_or_else(|last| last);
        res.map_err(|e| self.unreachable(e, method, url, attempts.get(), body_len))
    }

    pub(super) fn unreachable(
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
    pub(super) async fn fetch_token(&self, params: &str, scope: &str) -> Result<String> {
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

    pub(super) fn scope(repository: &str, push: bool) -> String {
        format!(
            "repository:{repository}:{}",
            if push { "pull,push" } else { "pull" }
        )
    }
}
