//! A server that listens on a declared port only on loopback (127.0.0.1, ::1) answers nobody but
//! itself: not a published port, not the load balancer, not another task. Two ways to notice it, for
//! the two places the tool can look: the kernel's socket table of the container's network namespace
//! (`/proc/<pid>/net/tcp{,6}`, `run --local` on a local engine), and the task's own log line saying
//! where it listens (a service on Fargate, where only its logs reach us).

/// The one line that says what is wrong and how to fix it.
pub fn warning(address: &str, port: u16, seen: &str) -> String {
    format!(
        "the container listens on {address}:{port} only ({seen}): nothing outside it can reach that \
         (published ports, load balancers, other tasks); bind 0.0.0.0:{port} instead"
    )
}

/// The declared ports that have a listening socket and only on loopback, from the text of
/// `/proc/<pid>/net/tcp` and `tcp6` (the sockets of the process's network namespace).
pub fn loopback_only(tcp: &str, tcp6: &str, ports: &[u16]) -> Vec<(String, u16)> {
    let mut listeners: Vec<(bool, String, u16)> = Vec::new();
    for line in tcp.lines().chain(tcp6.lines()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st ...; st 0A = LISTEN
        if fields.len() < 4 || fields[3] != "0A" {
            continue;
        }
        let Some((addr, port)) = fields[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        if let Some((loopback, shown)) = classify(addr) {
            listeners.push((loopback, shown, port));
        }
    }
    let mut found = Vec::new();
    for &p in ports {
        let on: Vec<&(bool, String, u16)> = listeners.iter().filter(|l| l.2 == p).collect();
        if !on.is_empty() && on.iter().all(|l| l.0) {
            found.push((on[0].1.clone(), p));
        }
    }
    found
}

/// (is loopback, as shown) of a /proc/net/tcp address: IPv4 as 8 hex digits, IPv6 as 32 (each
/// 32-bit word in the kernel's little-endian order on the machines Docker runs on).
fn classify(hex: &str) -> Option<(bool, String)> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).map(u32::swap_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    match words.as_slice() {
        [v4] => {
            let ip = std::net::Ipv4Addr::from(*v4);
            Some((ip.is_loopback(), ip.to_string()))
        }
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            let ip = std::net::Ipv6Addr::from(bytes);
            let loopback =
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback());
            Some((loopback, format!("[{ip}]")))
        }
        _ => None,
    }
}

/// A log line saying the server listens on loopback at a declared port ("listening on
/// 127.0.0.1:8080", "Running on http://localhost:8080/"): (address, port). Lines about connecting
/// somewhere are not about listening.
pub fn in_log_line(line: &str, ports: &[u16]) -> Option<(String, u16)> {
    let lower = line.to_ascii_lowercase();
    if lower.contains("connect") {
        return None;
    }
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let mut rest = lower.as_str();
        while let Some(at) = rest.find(host) {
            let after = &rest[at + host.len()..];
            if let Some(digits) = after.strip_prefix(':') {
                let end = digits
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(digits.len());
                if let Ok(port) = digits[..end].parse::<u16>() {
                    if ports.contains(&port) {
                        return Some((host.to_string(), port));
                    }
                }
            }
            rest = after;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    fn row(local: &str, st: &str) -> String {
        format!("   0: {local} 00000000:0000 {st} 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n")
    }

    #[test]
    fn a_port_on_loopback_only_is_found_and_one_on_any_address_is_not() {
        // 127.0.0.1:8080 listening, 0.0.0.0:9090 listening, 127.0.0.1:9090 listening too,
        // an established connection from loopback on 7070.
        let tcp = format!(
            "{HEAD}{}{}{}{}",
            row("0100007F:1F90", "0A"),
            row("00000000:2382", "0A"),
            row("0100007F:2382", "0A"),
            row("0100007F:1B9E", "01")
        );
        assert_eq!(
            loopback_only(&tcp, HEAD, &[8080, 9090, 7070, 6060]),
            [("127.0.0.1".to_string(), 8080)]
        );
    }

    #[test]
    fn ipv6_loopback_and_wildcard() {
        let tcp6 = format!(
            "{HEAD}{}{}",
            row("00000000000000000000000001000000:1F90", "0A"),
            row("00000000000000000000000000000000:2382", "0A")
        );
        assert_eq!(
            loopback_only(HEAD, &tcp6, &[8080, 9090]),
            [("[::1]".to_string(), 8080)]
        );
        // ::ffff:127.0.0.1
        let mapped = format!(
            "{HEAD}{}",
            row("0000000000000000FFFF00000100007F:1F90", "0A")
        );
        assert_eq!(loopback_only(HEAD, &mapped, &[8080]).len(), 1);
    }

    #[test]
    fn log_lines_that_say_where_the_server_listens() {
        let ports = [8080];
        assert_eq!(
            in_log_line("listening on 127.0.0.1:8080", &ports),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(
            in_log_line(
                " * Running on http://localhost:8080/ (Press CTRL+C)",
                &ports
            ),
            Some(("localhost".into(), 8080))
        );
        assert!(in_log_line("listening on 0.0.0.0:8080", &ports).is_none());
        assert!(in_log_line("listening on 127.0.0.1:80801", &ports).is_none());
        assert!(in_log_line("listening on 127.0.0.1:9000", &ports).is_none());
        assert!(in_log_line("connecting to localhost:8080", &ports).is_none());
        assert!(
            warning("127.0.0.1", 8080, "its socket table").ends_with("bind 0.0.0.0:8080 instead")
        );
    }
}
