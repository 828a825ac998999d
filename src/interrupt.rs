//! Ctrl-C, owned in one place: one `tokio::signal::ctrl_c` listener for the whole process, that
//! every stage subscribes to instead of installing its own (two handlers would race for the
//! same signal).
//!
//! A stage that knows what to do with Ctrl-C (follow a task, a CodeBuild build, a local
//! container) [`claim`]s it while it runs. When nobody has claimed it, the command's dispatcher
//! ends the command ([`or_interrupted`]) with exit code 130 and one line that says what was left:
//! the [`note`] the running stage last set ("nothing was changed yet" during the plan, "the image
//! build stopped" during a build, …).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

use crate::error::Exit;

/// How many Ctrl-Cs the process has received, watched by every subscriber.
static PRESSED: OnceLock<watch::Sender<u64>> = OnceLock::new();
/// How many stages hold a [`Claim`].
static CLAIMS: AtomicUsize = AtomicUsize::new(0);
/// What an unclaimed Ctrl-C leaves behind, as the running stage last said.
static NOTE: Mutex<String> = Mutex::new(String::new());

/// Installs the one listener (once; later calls do nothing). Needs a tokio runtime. The handler
/// is in place when this returns: from then on SIGINT no longer kills the process.
pub fn install() {
    PRESSED.get_or_init(|| {
        let (tx, _) = watch::channel(0u64);
        let sender = tx.clone();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::interrupt()) {
                Ok(mut sigint) => {
                    tokio::spawn(async move {
                        while sigint.recv().await.is_some() {
                            sender.send_modify(|n| *n += 1);
                        }
                    });
                }
                // No handler: Ctrl-C keeps its default (the process ends with 130, silently).
                Err(_) => drop(sender),
            }
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                sender.send_modify(|n| *n += 1);
            }
        });
        tx
    });
}

/// Waits for the Ctrl-Cs pressed after it was made.
pub struct Subscription {
    rx: watch::Receiver<u64>,
}

impl Subscription {
    /// The next Ctrl-C (pending forever if the listener is gone).
    pub async fn recv(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Ctrl-Cs from now on, without taking them over.
pub fn subscribe() -> Subscription {
    install();
    let mut rx = PRESSED.get().expect("installed").subscribe();
    rx.mark_unchanged();
    Subscription { rx }
}

/// A stage handling Ctrl-C itself while this lives: the dispatcher leaves it alone.
pub struct Claim {
    sub: Subscription,
}

impl Claim {
    /// The next Ctrl-C.
    pub async fn recv(&mut self) {
        self.sub.recv().await
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes Ctrl-C over until the claim is dropped.
pub fn claim() -> Claim {
    let sub = subscribe();
    CLAIMS.fetch_add(1, Ordering::SeqCst);
    Claim { sub }
}

fn claimed() -> bool {
    CLAIMS.load(Ordering::SeqCst) > 0
}

/// Says what a Ctrl-C from now on leaves behind ("nothing was changed yet", "the image build
/// stopped; nothing was pushed", …).
pub fn note(left: impl Into<String>) {
    *NOTE.lock().unwrap_or_else(|e| e.into_inner()) = left.into();
}

/// The error an unclaimed Ctrl-C ends the command with: exit 130 and the last note.
pub fn interrupted() -> anyhow::Error {
    let note = NOTE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let what = if note.is_empty() {
        "interrupted".to_string()
    } else {
        format!("interrupted: {note}")
    };
    Exit::interrupted(anyhow::anyhow!(what))
}

/// Runs `command` until it ends or an unclaimed Ctrl-C ends it (then it is dropped, which stops
/// what it was waiting on: an Engine build's stream, a push, a poll).
pub async fn or_interrupted<T>(
    command: impl Future<Output = crate::error::Result<T>>,
) -> crate::error::Result<T> {
    let mut ctrl_c = subscribe();
    tokio::pin!(command);
    loop {
        tokio::select! {
            done = &mut command => return done,
            _ = ctrl_c.recv() => {
                if !claimed() {
                    return Err(interrupted());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Ctrl-C as the listener reports one.
    fn press() {
        PRESSED.get().expect("installed").send_modify(|n| *n += 1);
    }

    /// One test, in order: the statics are the process's.
    #[tokio::test]
    async fn an_unclaimed_ctrl_c_ends_the_command_with_the_note_a_claimed_one_does_not() {
        install();
        note("during the plan: nothing was changed yet");
        let command = std::future::pending::<crate::error::Result<i32>>();
        let ended = tokio::join!(or_interrupted(command), async {
            tokio::task::yield_now().await;
            press();
        })
        .0
        .unwrap_err();
        assert_eq!(
            crate::error::exit_code(&ended),
            crate::error::exit::INTERRUPTED
        );
        assert_eq!(
            format!("{ended:#}"),
            "interrupted: during the plan: nothing was changed yet"
        );

        // Claimed: the stage sees the Ctrl-C, the dispatcher lets the command finish.
        let command = async {
            let mut claim = claim();
            tokio::task::yield_now().await;
            claim.recv().await;
            Ok(7)
        };
        let (done, ()) = tokio::join!(or_interrupted(command), async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            press();
        });
        assert_eq!(done.unwrap(), 7);
        assert!(!claimed(), "the claim ends with the stage");
    }
}
