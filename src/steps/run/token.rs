//! RunTask's client token: one per run, reused by the SDK's retries (it is part of the request), and
//! kept on disk until RunTask has answered, so that re-running a command whose RunTask answer was
//! lost sends the same token and ECS answers with the task it already started instead of starting
//! another (ECS keeps a RunTask token for 24 hours, ECS_Idempotency).
//!
//! The record is `target/fargate/runtask-<cluster>-<family>.json`: the token and a fingerprint of
//! the request. A request that differs (another revision, other overrides) gets a new token: ECS
//! would refuse the old one with other parameters (ConflictException).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Younger than ECS's 24 hours, so a reused token is one ECS still knows.
const REUSE_FOR: Duration = Duration::from_secs(23 * 3600);

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    token: String,
    fingerprint: String,
    created: u64,
}

/// The token of one RunTask request, and whether an earlier run's unanswered request had it.
#[derive(Debug)]
pub struct Pending {
    pub token: String,
    /// An earlier run sent this very request and never heard back.
    pub resumed: bool,
    path: Option<PathBuf>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The sha256 of the request's parameters (its JSON), which a reused token must match.
pub fn fingerprint(request: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(request.to_string().as_bytes()))
}

impl Pending {
    /// The token for `fingerprint`: the recorded one when an earlier run's request with the same
    /// fingerprint went unanswered less than 23 hours ago, else a new one, recorded before the
    /// request is sent. `dir`: `target/fargate` (`None`: nothing is recorded).
    pub fn begin(dir: Option<&Path>, cluster: &str, family: &str, fingerprint: &str) -> Pending {
        let path = dir.map(|d| d.join(format!("runtask-{cluster}-{family}.json")));
        let earlier = path
            .as_deref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            .filter(|r| {
                r.fingerprint == fingerprint && now().saturating_sub(r.created) < REUSE_FOR.as_secs()
            });
        if let Some(r) = earlier {
            return Pending {
                token: r.token,
                resumed: true,
                path,
            };
        }
        // Unique per attempt: the time, the process and the request.
        let seed = format!("{fingerprint}/{:?}/{}", SystemTime::now(), std::process::id());
        let token = format!("cf-{}", &hex::encode(Sha256::digest(seed.as_bytes()))[..40]);
        if let Some(p) = &path {
            let record = Record {
                token: token.clone(),
                fingerprint: fingerprint.to_string(),
                created: now(),
            };
            // Best effort: without the record a re-run cannot find the task, nothing worse.
            let _ = std::fs::create_dir_all(p.parent().unwrap_or(Path::new(".")))
                .and_then(|_| std::fs::write(p, serde_json::to_vec(&record).unwrap_or_default()));
        }
        Pending {
            token,
            resumed: false,
            path,
        }
    }

    /// RunTask answered (tasks or a refusal): the token is spent, the next run gets a new one.
    pub fn answered(&self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unanswered_request_is_resumed_with_its_token_and_an_answered_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pending::begin(Some(dir.path()), "c", "f", "fp1");
        assert!(!first.resumed);
        assert!(first.token.len() <= 64 && first.token.bytes().all(|b| (33..=126).contains(&b)));
        let again = Pending::begin(Some(dir.path()), "c", "f", "fp1");
        assert!(again.resumed);
        assert_eq!(again.token, first.token);
        // Another request (another revision, other overrides): a new token.
        let other = Pending::begin(Some(dir.path()), "c", "f", "fp2");
        assert!(!other.resumed);
        assert_ne!(other.token, first.token);
        other.answered();
        let fresh = Pending::begin(Some(dir.path()), "c", "f", "fp2");
        assert!(!fresh.resumed);
        assert_ne!(fresh.token, other.token);
    }
}
