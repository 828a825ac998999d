//! A small HTTP service for cargo-fargate, on std::net alone.
//!
//! Listens on `$BIND:$PORT` (default 0.0.0.0:8080): `GET /health` answers 200 `ok` (for load balancer and
//! container health checks), `GET /` answers 200 with `$GREETING`, anything else 404 (or 405 for
//! another method). Each request is logged to stdout.
//!
//! On SIGTERM — what ECS sends when a task is stopped, `stop-timeout` seconds before SIGKILL — or
//! SIGINT it stops accepting, logs `shutting down`, finishes the requests in flight and exits 0.
//! Inside a container the service is PID 1, which the kernel never kills on a signal it has no
//! handler for: without the handler, a stop would always wait for SIGKILL.
//!
//! Exit codes: 0 after a graceful shutdown, 64 when `PORT` is not a port number, 1 when the port
//! cannot be bound.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks at the signal flag.
const POLL: Duration = Duration::from_millis(50);

/// Status line and body for a request line such as `GET /health HTTP/1.1`.
fn respond(request_line: &str, greeting: &str) -> (&'static str, String) {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/health") => ("200 OK", "ok\n".into()),
        ("GET" | "HEAD", "/") => ("200 OK", format!("{greeting}\n")),
        ("GET" | "HEAD", _) => ("404 Not Found", "not found\n".into()),
        ("", _) => ("400 Bad Request", "bad request\n".into()),
        _ => ("405 Method Not Allowed", "method not allowed\n".into()),
    }
}

/// Reads the request head (up to 8 KiB), answers, and closes the connection.
fn serve(mut stream: TcpStream, greeting: &str) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or("");
    let (status, body) = respond(line, greeting);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("{peer} \"{line}\" {}", &status[..3]);
    let body = if line.starts_with("HEAD ") { "" } else { &body };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// `web-service --health`: the container's health check (`health-check.command`), with no shell or
/// curl in the image: exit 0 when `GET /health` on this container's port answers 200.
fn health(port: u16) -> ExitCode {
    let check = || -> std::io::Result<bool> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    match check() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("unhealthy: /health did not answer 200");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: 127.0.0.1:{port}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("error: PORT `{port}` is not a port number; set PORT to 1-65535");
        return ExitCode::from(64);
    };
    if std::env::args().nth(1).as_deref() == Some("--health") {
        return health(port);
    }
    let greeting: Arc<str> = std::env::var("GREETING")
        .unwrap_or_else(|_| "Hello".into())
        .into();

    // The signal number that arrived, 0 until then.
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize) {
            eprintln!("error: cannot install the handler of signal {sig}: {e}");
            return ExitCode::FAILURE;
        }
    }

    // BIND: the address to listen on. On Fargate only 0.0.0.0 (every interface) is reachable from
    // outside the task; 127.0.0.1 is for trying out what cargo-fargate says about it.
    let bind = std::env::var("BIND").unwrap_or_else(|_| "0.0.0.0".into());
    let listener = match TcpListener::bind((bind.as_str(), port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {bind}:{port}: {e}; set PORT to a free port");
            return ExitCode::FAILURE;
        }
    };
    // Non-blocking, so the loop sees the signal flag within POLL instead of waiting in accept().
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("error: cannot configure the listener: {e}");
        return ExitCode::FAILURE;
    }
    println!("listening on {bind}:{port}");

    let mut workers = Vec::new();
    while signal.load(Ordering::SeqCst) == 0 {
        match listener.accept() {
            Ok((stream, _)) => {
                let greeting = Arc::clone(&greeting);
                workers.push(std::thread::spawn(move || {
                    if let Err(e) = serve(stream, &greeting) {
                        eprintln!("request failed: {e}");
                    }
                }));
                workers.retain(|w| !w.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(POLL)
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
    let name = match signal.load(Ordering::SeqCst) as i32 {
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "SIGINT",
    };
    println!(
        "shutting down: {name} received, finishing {} request(s) in flight",
        workers.iter().filter(|w| !w.is_finished()).count()
    );
    drop(listener);
    for w in workers {
        let _ = w.join();
    }
    println!("stopped");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::respond;

    #[test]
    fn routes() {
        assert_eq!(
            respond("GET /health HTTP/1.1", "hi"),
            ("200 OK", "ok\n".into())
        );
        assert_eq!(
            respond("GET /?x=1 HTTP/1.1", "hi"),
            ("200 OK", "hi\n".into())
        );
        assert_eq!(respond("GET /nope HTTP/1.1", "hi").0, "404 Not Found");
        assert_eq!(respond("POST / HTTP/1.1", "hi").0, "405 Method Not Allowed");
        assert_eq!(respond("", "hi").0, "400 Bad Request");
    }
}
