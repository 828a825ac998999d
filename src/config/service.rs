//! The keys of a stage's kind (`kind = "task" | "service" | "web"`) and of its service, resolved
//! from the merged layer on their own so the rest of the resolution stays untouched.

use std::path::Path;

use serde::Serialize;

use super::raw::{Layer, Origin, Source, Value};
use super::resolve::Entry;
use super::resolver::Resolver;
use super::traffic::{Deployment, LoadBalancer, Scaling};
use crate::error::UserError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// Runs to completion (`deploy` runs it and waits for its exit code).
    Task,
    /// An ECS service with a rolling, circuit-broken deployment.
    Service,
    /// An ECS Express Mode service: load balancer, HTTPS URL and scaling managed by ECS.
    Web,
}

/// The service settings of a stage; only `exec` matters for `kind = "task"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSettings {
    pub kind: StageKind,
    pub desired_count: u32,
    pub max_count: u32,
    pub min_healthy_percent: u32,
    pub max_percent: u32,
    /// Sent only with a target group (ECS refuses it on a service without a load balancer).
    pub health_check_grace_period: u32,
    pub platform_version: String,
    pub target_group_arn: Option<String>,
    /// The port traffic goes to: `container-port`, else the first of `ports`.
    pub container_port: Option<u16>,
    pub health_check_path: String,
    pub exec: bool,
    /// `load-balancer`: the ALB `setup` makes (src/config/traffic.rs).
    pub load_balancer: Option<LoadBalancer>,
    pub deployment: Deployment,
    /// Autoscaling between `min-count` and `max-count`; None for a fixed count.
    pub scaling: Option<Scaling>,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            kind: StageKind::Task,
            desired_count: 1,
            max_count: 1,
            min_healthy_percent: 100,
            max_percent: 200,
            health_check_grace_period: 0,
            platform_version: "LATEST".into(),
            target_group_arn: None,
            container_port: None,
            health_check_path: "/ping".into(),
            exec: false,
            load_balancer: None,
            deployment: Deployment::default(),
            scaling: None,
        }
    }
}

/// A target group ARN: `arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>`.
pub fn target_group_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "elasticloadbalancing"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("targetgroup/")
            .is_some_and(|rest| rest.split('/').filter(|p| !p.is_empty()).count() == 2);
    ok.then_some(()).ok_or_else(|| {
        format!("`{arn}` is not a target group ARN such as `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/my-tg/0123456789abcdef`")
    })
}

/// The region and account of a target group ARN (checked by [`target_group_arn`]).
pub fn arn_region_account(arn: &str) -> (&str, &str) {
    let mut parts = arn.split(':');
    let region = parts.nth(3).unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    (region, account)
}

/// Resolves the kind and service keys; `ports` are the resolved container ports.
pub fn resolve(
    layer: &Layer,
    manifest: &Path,
    ports: &[u16],
) -> Result<(ServiceSettings, Vec<Entry>), UserError> {
    let mut r = Resolver {
        layer,
        manifest,
        entries: Vec::new(),
    };
    let (kind, kind_origin) = r.str_or("kind", || "task".into());
    let kind = match kind.as_str() {
        "service" => StageKind::Service,
        "web" => StageKind::Web,
        _ => StageKind::Task,
    };
    let (desired_count, max_count, max_origin) = counts(&mut r, kind)?;
    let (min_healthy_percent, _) = r.uint_at("min-healthy-percent", 100, 0..=100)?;
    let (max_percent, _) = r.uint_at("max-percent", 200, 100..=200)?;
    let (health_check_grace_period, grace_origin) =
        r.uint_at("health-check-grace-period", 0, 0..=86400)?;
    let (platform_version, _) = r.str_or("platform-version", || "LATEST".into());
    let (target, container_port) = target_and_port(&mut r, kind, ports)?;
    let load_balancer = super::traffic::load_balancer(
        &mut r,
        kind,
        target.as_ref().map(|(_, o)| o),
        container_port,
    )?;
    let balanced = load_balancer.is_some();
    let deployment = super::traffic::deployment(&mut r, balanced)?;
    let scaling = super::traffic::scaling(
        &mut r,
        kind,
        desired_count,
        (max_count, max_origin),
        balanced || target.is_some(),
    )?;
    if grace_origin.source != Source::Default
        && target.is_none()
        && !balanced
        && kind == StageKind::Service
    {
        return Err(r
            .error(
                "health-check-grace-period",
                &grace_origin,
                "a health check grace period applies to load balancer health checks, and the service has no target group".into(),
            )
            .fix("set `target-group-arn`, or drop `health-check-grace-period`"));
    }
    let (health_check_path, exec) = path_and_exec(&mut r)?;
    let _ = kind_origin;
    Ok((
        ServiceSettings {
            kind,
            desired_count,
            max_count,
            min_healthy_percent,
            max_percent,
            health_check_grace_period,
            platform_version,
            target_group_arn: target.map(|(a, _)| a),
            container_port,
            health_check_path,
            exec,
            load_balancer,
            deployment,
            scaling,
        },
        r.entries,
    ))
}

/// `desired-count` and `max-count` (at least the desired count); Express Mode keeps one task.
fn counts(r: &mut Resolver, kind: StageKind) -> Result<(u32, u32, Option<Origin>), UserError> {
    let (desired_count, desired_origin) = r.uint_at("desired-count", 1, 0..=1000)?;
    let max_given = r.opt_int("max-count");
    let max_origin = max_given.as_ref().map(|(_, o)| o.clone());
    let max_count = match max_given {
        Some((n, origin)) => {
            if n < desired_count as i64 || n > 1000 {
                return Err(r.error(
                    "max-count",
                    &origin,
                    format!("{n} must be between desired-count ({desired_count}) and 1000"),
                ));
            }
            n as u32
        }
        None => desired_count.max(1),
    };
    if kind == StageKind::Web && desired_count == 0 {
        return Err(r
            .error(
                "desired-count",
                &desired_origin,
                "Express Mode keeps at least one task running".into(),
            )
            .fix("set `desired-count = 1` or more"));
    }
    Ok((desired_count, max_count, max_origin))
}

/// A value and where it was set.
type Located = (String, Origin);

/// `target-group-arn` and the container port traffic goes to: `container-port`, else the first of
/// `ports`.
fn target_and_port(
    r: &mut Resolver,
    kind: StageKind,
    ports: &[u16],
) -> Result<(Option<Located>, Option<u16>), UserError> {
    let target = r.opt_str("target-group-arn");
    if let Some((arn, origin)) = &target {
        target_group_arn(arn).map_err(|what| r.error("target-group-arn", origin, what))?;
        if kind == StageKind::Web {
            return Err(r
                .error(
                    "target-group-arn",
                    origin,
                    "kind = \"web\" makes its own load balancer; a target group is for kind = \"service\"".into(),
                )
                .fix("drop `target-group-arn`, or set `kind = \"service\"`"));
        }
    }
    let container_port = match r.opt_int("container-port") {
        Some((p, origin)) => {
            if !(1..=65535).contains(&p) {
                return Err(r.error(
                    "container-port",
                    &origin,
                    format!("{p} is not a port (1–65535)"),
                ));
            }
            if !ports.is_empty() && !ports.contains(&(p as u16)) {
                return Err(r
                    .error(
                        "container-port",
                        &origin,
                        format!("port {p} is not one of the container's `ports`"),
                    )
                    .fix(format!("add {p} to `ports`, or pick one of them")));
            }
            Some(p as u16)
        }
        None => ports.first().copied(),
    };
    if let (Some((_, origin)), None) = (&target, container_port) {
        if kind == StageKind::Service {
            return Err(r
                .error(
                    "target-group-arn",
                    origin,
                    "kind = \"service\" with a target group needs the container port the load balancer sends traffic to".into(),
                )
                .fix("set `ports = [8080]` (or `container-port`) to the port your server listens on"));
        }
    }
    Ok((target, container_port))
}

/// `health-check-path` (an HTTP path) and `exec`.
fn path_and_exec(r: &mut Resolver) -> Result<(String, bool), UserError> {
    let (health_check_path, origin) = r.str_or("health-check-path", || "/ping".into());
    if !health_check_path.starts_with('/') {
        return Err(r
            .error(
                "health-check-path",
                &origin,
                format!("`{health_check_path}` is not an HTTP path"),
            )
            .fix("start it with `/`, e.g. `/health`"));
    }
    let exec = match r.setting("exec") {
        Some((Value::Bool(b), o)) => {
            r.record("exec", b, o);
            b
        }
        _ => {
            r.record("exec", false, Origin::default_value());
            false
        }
    };
    Ok((health_check_path, exec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_group_arns() {
        assert!(target_group_arn(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
        )
        .is_ok());
        assert!(target_group_arn(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1"
        )
        .is_err());
        assert!(target_group_arn("tg-123").is_err());
        assert_eq!(
            arn_region_account(
                "arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/web/0123"
            ),
            ("eu-west-1", "210987654321")
        );
    }

    fn load(fargate: &str) -> Result<super::super::Config, String> {
        let text = format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[package.metadata.fargate]\n{fargate}\n"
        );
        let manifest =
            crate::project::Manifest::from_text(Path::new("/p/Cargo.toml"), text).unwrap();
        let bins = vec!["app".to_string()];
        let facts = super::super::resolve::ProjectFacts {
            package_name: "app",
            package_dir: Path::new("/p"),
            manifest_path: Path::new("/p/Cargo.toml"),
            bins: &bins,
            default_run: None,
            bin_flag: None,
        };
        let stage = super::super::StageChoice {
            name: "dev".into(),
            location: None,
        };
        super::super::resolve_manifests(
            &manifest,
            &manifest,
            &facts,
            &stage,
            Layer::default(),
            |_| None,
        )
        .map_err(|e| e.to_string())
    }

    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";

    #[test]
    fn kinds_and_defaults() {
        let c = load("").unwrap();
        assert_eq!(c.service.kind, StageKind::Task);
        let c = load("kind = \"service\"\nports = [8080]\ndesired-count = 2").unwrap();
        assert_eq!(c.service.kind, StageKind::Service);
        assert_eq!(c.service.desired_count, 2);
        assert_eq!(c.service.container_port, Some(8080));
        assert_eq!(c.service.platform_version, "LATEST");
        let e = load("kind = \"cron\"").unwrap_err();
        assert!(e.contains("Cargo.toml:6") && e.contains("kind"), "{e}");
    }

    #[test]
    fn a_target_group_needs_a_port() {
        let e = load(&format!("kind = \"service\"\ntarget-group-arn = \"{TG}\"")).unwrap_err();
        assert!(
            e.contains("Cargo.toml:7") && e.contains("needs the container port"),
            "{e}"
        );
        assert!(load(&format!(
            "kind = \"service\"\ntarget-group-arn = \"{TG}\"\nports = [8080]"
        ))
        .is_ok());
        let e = load(&format!(
            "kind = \"service\"\ntarget-group-arn = \"{TG}\"\nports = [8080]\ncontainer-port = 9090"
        ))
        .unwrap_err();
        assert!(e.contains("not one of the container's `ports`"), "{e}");
        let e = load("kind = \"service\"\nhealth-check-grace-period = 30").unwrap_err();
        assert!(e.contains("no target group"), "{e}");
        let e = load("kind = \"web\"\nhealth-check-path = \"health\"").unwrap_err();
        assert!(e.contains("HTTP path"), "{e}");
        let e = load("kind = \"web\"\ndesired-count = 3\nmax-count = 2").unwrap_err();
        assert!(e.contains("max-count"), "{e}");
    }

    #[test]
    fn traffic_keys_bad_input_names_the_key() {
        let lb = "kind = \"service\"\nports = [8080]\nload-balancer = \"public\"\n";
        let cases = [
            ("kind = \"service\"\nports = [8080]\ndeployment = \"canary\"", "Cargo.toml:8", "has none"),
            (&format!("{lb}deployment = \"canary\"\ncanary-percent = 0.05"), "Cargo.toml:10", "canary-percent"),
            (&format!("{lb}deployment = \"canary\"\ncanary-percent = 101"), "out of range", "0.1–100"),
            (&format!("{lb}canary-percent = 5"), "applies to deployment = \"canary\"", "canary-percent"),
            ("kind = \"service\"\nmin-count = 4\nmax-count = 2\nscale-on = { cpu = 70 }", "Cargo.toml:7", "min-count (4) is above max-count (2)"),
            ("kind = \"service\"\nmax-count = 4\nscale-on = { requests = 100 }", "scale-on.requests", "counted by a load balancer"),
            (&format!("{lb}listener = \"https\""), "Cargo.toml:9", "needs a certificate"),
            ("kind = \"service\"\ncertificate-arn = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"", "certificate-arn", "there is none"),
            (&format!("{lb}certificate-arn = \"cert\""), "certificate-arn", "not an ACM certificate ARN"),
            (&format!("kind = \"service\"\nports = [8080]\nload-balancer = \"public\"\ntarget-group-arn = \"{TG}\""), "load-balancer", "keep one of them"),
            ("kind = \"web\"\nports = [8080]\nload-balancer = \"public\"", "load-balancer", "only kind = \"service\""),
            ("kind = \"service\"\nload-balancer = \"public\"", "load-balancer", "container port"),
            ("kind = \"service\"\nmin-count = 2\nmax-count = 5", "min-count", "a metric to track"),
        ];
        for (text, a, b) in cases {
            let e = load(text).unwrap_err();
            assert!(e.contains(a) && e.contains(b), "{text}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn traffic_keys_resolve() {
        use super::super::traffic::{Scheme, Strategy};
        let c = load("kind = \"service\"\nports = [8080]\nload-balancer = \"internal\"\ncertificate-arn = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"\nmin-count = 2\nmax-count = 6\nscale-on = { cpu = 70, requests = 1000 }").unwrap();
        let lb = c.service.load_balancer.unwrap();
        assert_eq!(lb.scheme, Scheme::Internal);
        assert!(lb.certificate_arn.is_some());
        assert_eq!(c.service.deployment.strategy, Strategy::Rolling);
        let c2 = load("kind = \"service\"\nports = [8080]\nload-balancer = \"public\"\ndeployment = \"canary\"\ncanary-percent = 2.5").unwrap();
        assert!(matches!(
            c2.service.deployment.strategy,
            Strategy::Canary { percent, bake_minutes: 5 } if percent == 2.5
        ));
        let s = c.service.scaling.unwrap();
        assert_eq!(
            (s.min, s.max, s.cpu, s.memory, s.requests),
            (2, 6, Some(70), None, Some(1000))
        );
        let c = load("kind = \"service\"\nports = [8080]\nload-balancer = \"public\"\nhealth-check-grace-period = 20").unwrap();
        assert_eq!(c.service.deployment.strategy, Strategy::Rolling);
        assert!(c.service.scaling.is_none());
    }
}
