//! One way to wait for AWS: ask, and ask again on a backoff until a deadline. Every wait names what
//! it waits for, so its timeout says the same thing its progress line did.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, Retryable};

/// A wait that reached its deadline (or the end of its backoff) unmet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    /// What was waited for, e.g. "service web-dev to drain".
    pub what: String,
    /// How long the wait lasted.
    pub waited: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = Duration::from_secs(self.waited.as_secs());
        write!(
            f,
            "gave up waiting for {} after {}",
            self.what,
            humantime::format_duration(secs)
        )
    }
}

impl std::error::Error for TimedOut {}

/// Why one attempt did not end the wait: not there yet, or a failure that ends it.
enum Attempt<E> {
    NotYet,
    Failed(E),
}

/// Calls `check` until it returns `Ok(Some(_))`, sleeping as `backoff` says between calls, and no
/// later than `deadline` (`None` for a wait the user asked to last as long as it takes: following
/// a task or a log). An `Err` from `check` ends the wait at once (the outer result); the
/// deadline or the backoff running out gives the inner [`TimedOut`], for the caller to turn into
/// an error that says what to do.
pub async fn poll_until<T, E, F, Fut>(
    what: &str,
    deadline: impl Into<Option<Instant>>,
    backoff: impl BackoffBuilder,
    mut check: F,
) -> Result<Result<T, TimedOut>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let started = Instant::now();
    let until = Deadline {
        inner: backoff.build(),
        deadline: deadline.into(),
    };
    let attempt = || {
        let next = check();
        async move {
            match next.await {
                Ok(Some(found)) => Ok(found),
                Ok(None) => Err(Attempt::NotYet),
                Err(e) => Err(Attempt::Failed(e)),
            }
        }
    };
    match attempt
        .retry(until)
        .sleep(tokio::time::sleep)
        .when(|e| matches!(e, Attempt::NotYet))
        .await
    {
        Ok(found) => Ok(Ok(found)),
        Err(Attempt::Failed(e)) => Err(e),
        Err(Attempt::NotYet) => Ok(Err(TimedOut {
            what: what.to_string(),
            waited: started.elapsed(),
        })),
    }
}

/// A look that may change what the wait has seen, borrowing it for as long as it runs.
pub type Look<'a, T, E> = Pin<Box<dyn Future<Output = Result<Option<T>, E>> + 'a>>;

/// [`poll_until`] over a state each look reads and changes (what was printed, a log's token, the
/// last answer): `look(state)` once per turn. The caller keeps the state, so it survives the wait
/// being dropped (a Ctrl-C the caller selects on) and is there to report from after a timeout.
/// The state carries whatever the look needs (clients, output), so `look` captures nothing.
pub async fn poll_with<S, T, E, L>(
    what: &str,
    deadline: impl Into<Option<Instant>>,
    backoff: impl BackoffBuilder,
    state: &mut S,
    look: L,
) -> Result<Result<T, TimedOut>, E>
where
    L: for<'s> Fn(&'s mut S) -> Look<'s, T, E>,
{
    let slot = Cell::new(Some(state));
    let look = &look;
    let slot = &slot;
    poll_until(what, deadline, backoff, || async move {
        let state = slot.take().expect("one look at a time");
        let looked = look(&mut *state).await;
        slot.set(Some(state));
        looked
    })
    .await
}

/// A backoff cut at a deadline, if any: the last sleep ends at it, and none follows.
struct Deadline<B> {
    inner: B,
    deadline: Option<Instant>,
}

impl<B: Iterator<Item = Duration>> Iterator for Deadline<B> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let Some(deadline) = self.deadline else {
            return self.inner.next();
        };
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        self.inner.next().map(|d| d.min(left))
    }
}

/// A constant backoff of `every`, for waits whose deadline does the limiting.
pub fn every(every: Duration) -> backon::ConstantBuilder {
    backon::ConstantBuilder::default()
        .with_delay(every)
        .without_max_times()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn polls_until_the_check_is_done() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        let found = poll_until(
            "three calls",
            deadline,
            every(Duration::from_millis(1)),
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok::<_, String>((n == 3).then_some(n))
            },
        )
        .await;
        assert_eq!(found, Ok(Ok(3)));
    }

    #[tokio::test]
    async fn a_failure_ends_the_wait_at_once() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        let found: Result<Result<(), _>, _> = poll_until(
            "a failure",
            deadline,
            every(Duration::from_millis(1)),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("refused".to_string())
            },
        )
        .await;
        assert_eq!(found, Err("refused".to_string()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_state_kept_by_the_caller_outlives_a_dropped_wait() {
        struct Counted {
            looks: u32,
        }
        let mut state = Counted { looks: 0 };
        let wait = poll_with(
            "a look that never ends the wait",
            None,
            every(Duration::from_millis(1)),
            &mut state,
            |s| {
                Box::pin(async move {
                    s.looks += 1;
                    Ok::<Option<()>, String>(None)
                })
            },
        );
        // Dropped after a while, as a Ctrl-C select drops it: what the looks saw is still there.
        let _ = tokio::time::timeout(Duration::from_millis(50), wait).await;
        assert!(state.looks > 1, "{}", state.looks);
        let done = poll_with(
            "the next look",
            Instant::now() + Duration::from_secs(60),
            every(Duration::from_millis(1)),
            &mut state,
            |s| Box::pin(async move { Ok::<_, String>(Some(s.looks)) }),
        )
        .await;
        assert!(matches!(done, Ok(Ok(n)) if n > 1));
    }

    #[tokio::test]
    async fn the_deadline_ends_an_unmet_wait_and_names_it() {
        let deadline = Instant::now() + Duration::from_millis(120);
        let found: Result<Result<(), _>, String> = poll_until(
            "service web-dev to drain",
            deadline,
            every(Duration::from_millis(50)),
            || async { Ok(None) },
        )
        .await;
        let timed_out = found.unwrap().unwrap_err();
        assert!(
            timed_out.waited >= Duration::from_millis(100),
            "{timed_out:?}"
        );
        assert!(timed_out.waited < Duration::from_secs(5), "{timed_out:?}");
        assert!(timed_out
            .to_string()
            .starts_with("gave up waiting for service web-dev to drain after"));
    }
}
