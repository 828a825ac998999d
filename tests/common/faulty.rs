//! A misbehaving HTTP endpoint on 127.0.0.1 for fault tests: per request it hangs, answers what it
//! is told (an HTML 500, a throttling error, a denial), drops the connection, or forwards to the real
//! bench service. It serves one request per connection, stops when dropped, and every wait in it is
//! bounded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any connection is held (a hang ends by then at the latest).
const HOLD: Duration = Duration::from_secs(60);

/// A request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The operation of an AWS JSON-protocol request (`X-Amz-Target: …ECS….DescribeTasks`), or the
    /// `Action=` of a query-protocol one.
    pub fn operation(&self) -> String {
        if let Some(t) = self.header("x-amz-target") {
            return t.rsplit('.').next().unwrap_or(t).to_string();
        }
        let body = String::from_utf8_lossy(&self.body);
        body.split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or_default()
            .to_string()
    }
}

/// What to do with a request.
pub enum Reply {
    /// Accept and never answer (until the endpoint is dropped or `HOLD` passes).
    Hang,
    /// Answer this.
    Answer {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Pass it to the real service.
    Forward,
    /// Read the request, then close the connection without an answer (a reset on the way).
    Drop,
    /// Pass it to the real service, which carries it out, then close the connection without its
    /// answer: the caller cannot know whether it happened.
    Swallow,
}

impl Reply {
    pub fn html(status: u16) -> Reply {
        Reply::Answer {
            status,
            content_type: "text/html; charset=utf-8",
            body: format!("<!DOCTYPE html><html><body><h1>{status} Proxy Error</h1></body></html>"),
        }
    }

    /// An AWS JSON-protocol error (ECS, ECR, CloudWatch Logs).
    pub fn aws_json(status: u16, code: &str, message: &str) -> Reply {
        Reply::Answer {
            status,
            content_type: "application/x-amz-json-1.1",
            body: serde_json::json!({"__type": code, "message": message}).to_string(),
        }
    }
}

pub struct Faulty {
    pub url: String,
    pub addr: String,
    pub seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    pub connections: Arc<AtomicUsize>,
}

impl Faulty {
    /// Starts the endpoint; `upstream` (`127.0.0.1:port`) is where `Forward` goes.
    pub fn start(
        upstream: Option<String>,
        rule: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Faulty {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let rule = Arc::new(rule);
        let upstream = Arc::new(upstream);
        {
            let (stop, seen, connections) = (stop.clone(), seen.clone(), connections.clone());
            thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(600) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            connections.fetch_add(1, Ordering::SeqCst);
                            let (rule, upstream, seen, stop) =
                                (rule.clone(), upstream.clone(), seen.clone(), stop.clone());
                            thread::spawn(move || {
                                let _ = serve(conn, &*rule, upstream.as_deref(), &seen, &stop);
                            });
                        }
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        Faulty {
            url: format!("http://{addr}"),
            addr,
            seen,
            stop,
            connections,
        }
    }

    /// Forwards every request to `upstream` but `operation`'s, which get `reply()`: a new fault is
    /// one line, `Faulty::on(moto, "RunTask", || Reply::Swallow)`.
    pub fn on(
        upstream: String,
        operation: &'static str,
        reply: impl Fn() -> Reply + Send + Sync + 'static,
    ) -> Faulty {
        Faulty::start(Some(upstream), move |r| {
            if r.operation() == operation {
                reply()
            } else {
                Reply::Forward
            }
        })
    }

    /// How many requests of `operation` came.
    pub fn count(&self, operation: &str) -> usize {
        self.operations().iter().filter(|o| *o == operation).count()
    }

    /// The operations seen so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(Request::operation)
            .collect()
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    mut conn: TcpStream,
    rule: &(dyn Fn(&Request) -> Reply + Send + Sync),
    upstream: Option<&str>,
    seen: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (head, req) = read_request(&mut conn)?;
    seen.lock().unwrap().push(req.clone());
    match rule(&req) {
        Reply::Hang => {
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < HOLD {
                thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
        Reply::Answer {
            status,
            content_type,
            body,
        } => {
            let text = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(text.as_bytes())
        }
        Reply::Drop => conn.shutdown(std::net::Shutdown::Both),
        reply @ (Reply::Forward | Reply::Swallow) => {
            let mut up = TcpStream::connect(upstream.expect("Forward needs an upstream"))?;
            up.set_read_timeout(Some(Duration::from_secs(30)))?;
            // One request per connection: ask the upstream to close after answering.
            let head = head
                .lines()
                .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                .collect::<Vec<_>>()
                .join("\r\n");
            up.write_all(format!("{}\r\nconnection: close\r\n\r\n", head.trim_end()).as_bytes())?;
            up.write_all(&req.body)?;
            let mut answer = Vec::new();
            up.read_to_end(&mut answer)?;
            if matches!(reply, Reply::Swallow) {
                return conn.shutdown(std::net::Shutdown::Both);
            }
            conn.write_all(&answer)
        }
    }
}

/// Reads the head and a content-length or chunked body.
fn read_request(conn: &mut TcpStream) -> std::io::Result<(String, Request)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.lines();
    let first: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut req = Request {
        method: first.first().unwrap_or(&"").to_string(),
        path: first.get(1).unwrap_or(&"").to_string(),
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body)?;
        req.body = body;
    } else if req
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        // Keep the raw chunked bytes: forwarding passes them on as they came.
        let mut raw = Vec::new();
        while !raw.ends_with(b"0\r\n\r\n") {
            if conn.read(&mut byte)? == 0 {
                break;
            }
            raw.push(byte[0]);
        }
        req.body = raw;
    }
    Ok((head.trim_end().to_string(), req))
}
