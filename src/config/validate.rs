//! Pure checks of configuration values, run before any AWS call. Each returns what is wrong and,
//! where it helps, what would be right.

/// Fargate's task size table: cpu units → valid memory sizes in MiB.
pub fn fargate_memory_options(cpu: i64) -> Option<Vec<i64>> {
    let gib = 1024;
    let range =
        |from: i64, to: i64, step: i64| (from..=to).step_by(step as usize).collect::<Vec<_>>();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(gib, 4 * gib, gib),
        1024 => range(2 * gib, 8 * gib, gib),
        2048 => range(4 * gib, 16 * gib, gib),
        4096 => range(8 * gib, 30 * gib, gib),
        8192 => range(16 * gib, 60 * gib, 4 * gib),
        16384 => range(32 * gib, 120 * gib, 8 * gib),
        _ => return None,
    })
}

pub const FARGATE_CPUS: &[i64] = &[256, 512, 1024, 2048, 4096, 8192, 16384];

pub fn cpu(cpu: i64) -> Result<(), String> {
    match fargate_memory_options(cpu) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{cpu} is not a Fargate cpu size; use one of {}",
            join(FARGATE_CPUS)
        )),
    }
}

pub fn cpu_memory(cpu: i64, memory: i64) -> Result<(), String> {
    let options =
        fargate_memory_options(cpu).ok_or_else(|| format!("{cpu} is not a Fargate cpu size"))?;
    if options.contains(&memory) {
        return Ok(());
    }
    let shown = if options.len() > 6 {
        format!(
            "{}–{} MiB in steps of {}",
            options[0],
            options[options.len() - 1],
            options[1] - options[0]
        )
    } else {
        format!("{} MiB", join(&options))
    };
    Err(format!(
        "{memory} MiB is not valid with cpu {cpu}; Fargate allows {shown}"
    ))
}

fn join(values: &[i64]) -> String {
    values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Stage names become part of resource names, so they use the narrowest charset those allow.
pub fn stage_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("stage name `{name}` is invalid; use 1–32 lowercase letters, digits or `-`, starting with a letter"))
    }
}

/// ECR: 2–256 chars, `[a-z0-9]+(?:[._-][a-z0-9]+)*` components separated by `/`.
pub fn ecr_repository(name: &str) -> Result<(), String> {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
            })
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
            && !c
                .as_bytes()
                .windows(2)
                .any(|w| matches!(w[0], b'.' | b'_' | b'-') && matches!(w[1], b'.' | b'_' | b'-'))
    };
    if (2..=256).contains(&name.len()) && name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid ECR repository name; use 2–256 lowercase letters and digits, separated by single `.`, `_`, `-` or `/`"
        ))
    }
}

pub fn cluster(name: &str) -> Result<(), String> {
    ecs_name(name, "cluster")
}

/// An ECS cluster, service or task definition family name: up to 255 letters, digits, `-`, `_`.
pub fn ecs_name(name: &str, what: &str) -> Result<(), String> {
    let ok = (1..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(()).ok_or_else(|| {
        format!(
            "`{name}` is not a valid ECS {what} name; use up to 255 letters, digits, `-` and `_`"
        )
    })
}

pub fn bucket(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    ok.then_some(()).ok_or_else(|| format!("`{name}` is not a valid S3 bucket name; use 3–63 lowercase letters, digits, `-` or `.`"))
}

pub fn region(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    ok.then_some(())
        .ok_or_else(|| format!("`{name}` is not an AWS region name such as `eu-west-1`"))
}

fn aws_id(id: &str, prefix: &str, what: &str) -> Result<(), String> {
    let ok = id.strip_prefix(prefix).is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit())
    });
    ok.then_some(())
        .ok_or_else(|| format!("`{id}` is not a {what} ID such as `{prefix}0123456789abcdef0`"))
}

pub fn subnet(id: &str) -> Result<(), String> {
    aws_id(id, "subnet-", "subnet")
}

/// The project's VPC range: an IPv4 `a.b.c.d/p` with p from 16 (AWS's largest VPC) to 24 (its 16
/// subnets, one per zone and tier, are then /28, the smallest AWS allows), on its boundary.
pub fn network_cidr(cidr: &str) -> Result<(), String> {
    let bad = || format!("`{cidr}` is not an IPv4 CIDR from /16 to /24 such as 10.0.0.0/16");
    let (ip, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    if !(16..=24).contains(&prefix) {
        return Err(bad());
    }
    if u32::from(ip) & !(u32::MAX << (32 - prefix)) != 0 {
        return Err(format!(
            "`{cidr}` has host bits set: its network is {}/{prefix}",
            std::net::Ipv4Addr::from(u32::from(ip) & (u32::MAX << (32 - prefix)))
        ));
    }
    Ok(())
}

/// How many availability zones the project's network spans.
pub fn zones(n: i64) -> Result<(), String> {
    if (2..=4).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "{n} zones: the project's network spans 2 to 4 availability zones"
        ))
    }
}

pub fn security_group(id: &str) -> Result<(), String> {
    aws_id(id, "sg-", "security group")
}

/// An IAM role ARN, read once: `arn:<partition>:iam::<account>:role/[path/]<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub partition: String,
    pub account: String,
    /// The role's name (the last path segment).
    pub name: String,
}

impl RoleArn {
    pub fn parse(value: &str) -> Result<RoleArn, String> {
        let bad = || {
            format!(
                "`{value}` is not an IAM role ARN such as `arn:aws:iam::123456789012:role/name`"
            )
        };
        let rest = value.strip_prefix("arn:").ok_or_else(bad)?;
        let mut parts = rest.splitn(5, ':');
        let (Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let path = resource.strip_prefix("role/").ok_or_else(bad)?;
        let name = path.rsplit('/').next().unwrap_or_default();
        let ok = partition.starts_with("aws")
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && !name.is_empty();
        ok.then(|| RoleArn {
            partition: partition.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
        .ok_or_else(bad)
    }
}

/// IAM role: a name (1–64 of `\w+=,.@-`) or `arn:aws[-partition]:iam::<12 digits>:role/[path/]name`.
pub fn role(value: &str) -> Result<(), String> {
    if value.starts_with("arn:") {
        return RoleArn::parse(value).map(|_| ());
    }
    role_name(value)
}

pub fn role_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
    ok.then_some(()).ok_or_else(|| {
        format!("`{name}` is not a valid IAM role name; use 1–64 letters, digits or `+=,.@-_` (a shorter `name` gives shorter role names)")
    })
}

/// A secret's `valueFrom`: an SSM parameter name or ARN, or a Secrets Manager ARN.
pub fn secret_reference(value: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "`{value}` is not an SSM parameter (`/path/name` or `arn:aws:ssm:<region>:<account>:parameter/name`) or a Secrets Manager ARN (`arn:aws:secretsmanager:<region>:<account>:secret:name`)"
        )
    };
    if let Some(rest) = value.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() != 5
            || !parts[0].starts_with("aws")
            || parts[2].is_empty()
            || parts[3].len() != 12
            || !parts[3].chars().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let ok = match parts[1] {
            "ssm" => parts[4]
                .strip_prefix("parameter/")
                .is_some_and(|n| !n.is_empty()),
            "secretsmanager" => parts[4]
                .strip_prefix("secret:")
                .is_some_and(|n| !n.is_empty()),
            _ => false,
        };
        return ok.then_some(()).ok_or_else(bad);
    }
    let ok = !value.is_empty()
        && value.len() <= 2048
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
    ok.then_some(()).ok_or_else(bad)
}

pub const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub fn log_retention(days: i64) -> Result<(), String> {
    LOG_RETENTION_DAYS
        .contains(&days)
        .then_some(())
        .ok_or_else(|| {
            format!(
                "{days} is not a CloudWatch Logs retention; use one of {}",
                join(LOG_RETENTION_DAYS)
            )
        })
}

pub fn log_group(name: &str) -> Result<(), String> {
    let ok = (1..=512).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/#".contains(c));
    ok.then_some(()).ok_or_else(|| {
        format!("`{name}` is not a valid log group name; use letters, digits and `._-/#`")
    })
}

/// A tag AWS accepts on every service we tag: 1–128 characters of key, up to 256 of value, and no
/// `aws:` prefix (reserved for AWS's own tags; ECS refuses the whole request).
pub fn tag(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!("tag key `{key}` must be 1–128 characters"));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!(
            "tag key `{key}` starts with `aws:`, which AWS reserves for its own tags; use another prefix"
        ));
    }
    if value.chars().count() > 256 {
        return Err(format!("the value of tag `{key}` is over 256 characters"));
    }
    Ok(())
}

/// Names that look like they hold a secret: their values belong in `secrets` (fetched by ECS at
/// start), not in `environment` (plain text in the task definition, visible to anyone who can
/// describe it).
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "PRIVATE_KEY",
        "API_KEY",
        "APIKEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n == "AWS_SECRET_ACCESS_KEY"
        || n == "AWS_SESSION_TOKEN"
}

pub fn env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(())
        .ok_or_else(|| format!("`{name}` is not a valid environment variable name"))
}

/// A value the container runtime must pass to the process (an environment value, an argument of
/// the command): a NUL byte cannot be, and ECS would register it, then fail to start the task
/// (CannotStartContainerError).
pub fn process_string(what: &str, value: &str) -> Result<(), String> {
    match value.find('\0') {
        Some(at) => Err(format!(
            "{what} holds a NUL byte (at character {}), which no process can be given: the task would be registered and never start",
            value[..at].chars().count() + 1
        )),
        None => Ok(()),
    }
}

pub fn registry_endpoint(value: &str) -> Result<(), String> {
    let host = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .unwrap_or(value);
    let host = host.trim_end_matches('/');
    let ok = !host.is_empty() && !host.contains('/') && !host.contains(char::is_whitespace);
    ok.then_some(()).ok_or_else(|| format!("`{value}` is not a registry endpoint such as `registry.internal:5000` or `https://vpce-…amazonaws.com`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_read_once_into_their_parts() {
        let arn = RoleArn::parse("arn:aws-cn:iam::123456789012:role/team/app-task").unwrap();
        assert_eq!(
            arn,
            RoleArn {
                partition: "aws-cn".into(),
                account: "123456789012".into(),
                name: "app-task".into(),
            }
        );
        for bad in [
            "arn:aws:iam::123456789012:user/me",
            "arn:aws:iam::1234:role/x",
            "arn:aws:s3::123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam:eu-west-1:123456789012:role/x",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
            assert!(role(bad).is_err(), "{bad}");
        }
        assert!(role("app-task").is_ok());
    }

    #[test]
    fn fargate_table_edges() {
        for (cpu, ok, bad) in [
            (256, vec![512, 1024, 2048], vec![256, 3072, 4096]),
            (512, vec![1024, 2048, 3072, 4096], vec![512, 5120, 1536]),
            (1024, vec![2048, 8192], vec![1024, 9216]),
            (2048, vec![4096, 16384], vec![3072, 17408]),
            (4096, vec![8192, 30720], vec![7168, 31744]),
            (8192, vec![16384, 20480, 61440], vec![17408, 65536]),
            (16384, vec![32768, 40960, 122880], vec![36864, 131072]),
        ] {
            for m in ok {
                assert!(cpu_memory(cpu, m).is_ok(), "{cpu}/{m} should be valid");
            }
            for m in bad {
                assert!(cpu_memory(cpu, m).is_err(), "{cpu}/{m} should be invalid");
            }
        }
        assert!(cpu(300).is_err());
        let msg = cpu_memory(1024, 1024).unwrap_err();
        assert!(msg.contains("2048–8192 MiB in steps of 1024"), "{msg}");
    }

    #[test]
    fn ecr_names() {
        for ok in ["hello", "hello-dev", "team/hello_app", "a1.b2"] {
            assert!(ecr_repository(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Hello", "a", "-hello", "hello-", "he--llo", "team//x", "x y",
        ] {
            assert!(ecr_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stage_names() {
        assert!(stage_name("dev").is_ok());
        assert!(stage_name("prod-eu1").is_ok());
        for bad in ["", "Prod", "1dev", "dev_x", "dev.x"] {
            assert!(stage_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_and_secret_looking_names() {
        assert!(tag("team", "x").is_ok());
        assert!(tag("aws:cloudformation:stack", "x")
            .unwrap_err()
            .contains("reserves"));
        assert!(tag("AWS:x", "x").is_err());
        assert!(looks_secret("DATABASE_PASSWORD"));
        assert!(looks_secret("github_token"));
        assert!(looks_secret("AWS_SECRET_ACCESS_KEY"));
        assert!(!looks_secret("RUST_LOG"));
        assert!(!looks_secret("PORT"));
    }

    #[test]
    fn references() {
        assert!(secret_reference("/hello/db-password").is_ok());
        assert!(secret_reference("arn:aws:ssm:eu-west-1:123456789012:parameter/hello/db").is_ok());
        assert!(
            secret_reference("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf")
                .is_ok()
        );
        assert!(secret_reference("arn:aws:s3:::bucket").is_err());
        assert!(secret_reference("arn:aws:secretsmanager:eu-west-1:12345:secret:x").is_err());
        assert!(role("hello-dev-task").is_ok());
        assert!(role("arn:aws:iam::123456789012:role/app/hello").is_ok());
        assert!(role("arn:aws:iam::123:role/x").is_err());
        assert!(role(&"x".repeat(65)).is_err());
        assert!(subnet("subnet-0123abcd").is_ok());
        assert!(subnet("subnet-xyz").is_err());
        assert!(security_group("sg-0123abcd").is_ok());
        assert!(region("eu-west-1").is_ok());
        assert!(region("us-gov-west-1").is_ok());
        assert!(region("euwest1").is_err());
        assert!(log_retention(30).is_ok());
        assert!(log_retention(31).is_err());
        assert!(bucket("hello-dev").is_ok());
        assert!(bucket("Hello_dev").is_err());
    }
}
