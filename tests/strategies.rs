//! ECS's native blue-green, canary and linear deployments on the bench: `setup` makes the alternate
//! target group, the production listener rule and the infrastructure role; `deploy` asks ECS for the
//! strategy and follows it; the bench (agent/shifting.py) starts the new revision behind the other
//! target group and moves the rule's weights in the documented steps. A request loop through the load
//! balancer sees the answers move from the old revision's greeting to the new one with no failed
//! request; a revision failing its health check, or an alarm in ALARM during the bake, rolls back.
//! A bake "minute" is shortened per service (POST /_bench/ecs/minute).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `cargo fargate <args>` for project `name`: examples/web-service, one task behind the load balancer
/// the tool makes, answering `GREETING` (the revision's name) on /.
fn cf(dir: &Path, name: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
    let all = [args, &["--message-format", "json"]].concat();
    let mut cmd = service_command(dir, name, "service", &all);
    cmd.env("CARGO_FARGATE_HEALTH_CHECK_PATH", "/health")
        .env("CARGO_FARGATE_LOAD_BALANCER", "public")
        .env("CARGO_FARGATE_DESIRED_COUNT", "1")
        .env("CARGO_FARGATE_HEALTH_CHECK_GRACE_PERIOD", "5")
        .env_remove("CARGO_FARGATE_SUBNETS")
        .env_remove("CARGO_FARGATE_SECURITY_GROUPS")
        .envs(env.iter().copied());
    cmd
}

/// A bake "minute" of this stage's service lasts `seconds` on the bench.
fn short_minute(stage: &str, seconds: u32) {
    let endpoint = env_var("AWS_ENDPOINT_URL");
    let agent = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let sock: std::net::SocketAddr = agent.parse().unwrap();
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(3)).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST /_bench/ecs/minute?service={stage}&seconds={seconds} HTTP/1.0\r\nHost: {agent}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
}

/// The share of `new` among the answers between the first `new` and the last `old` (the mixed part).
fn mixed_share(seen: &[String], old: &str, new: &str) -> Option<f64> {
    let first = seen.iter().position(|b| b == new)?;
    let last = seen.iter().rposition(|b| b == old)?;
    if last < first {
        return None;
    }
    let part = &seen[first..=last];
    Some(part.iter().filter(|b| *b == new).count() as f64 / part.len() as f64)
}

/// setup planned and made what a traffic-shifting deployment needs; the infrastructure role ECS
/// moves traffic with trusts ECS and is allowed only this stage's parts.
fn infrastructure_checked(stage: &str, plan: &serde_json::Value) {
    let said = plan["steps"].to_string();
    assert!(said.contains("alternate target group"), "{said}");
    assert!(said.contains("production listener rule"), "{said}");
    // The infrastructure role ECS moves traffic with: trusts ECS, allowed only this stage's parts.
    let role = aws(&[
        "iam",
        "get-role",
        "--role-name",
        &format!("{stage}-infrastructure"),
    ]);
    assert!(role.to_string().contains("ecs.amazonaws.com"), "{role}");
    let policy = aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        &format!("{stage}-infrastructure"),
        "--policy-name",
        "traffic-shifting",
    ]);
    assert!(!policy.to_string().contains("FullAccess"), "{policy}");
    // parliament reads ELB's "app or net" resource types as both required: an NLB form (`/net/`)
    // a load balancer of type application never has is not a finding.
    let findings: Vec<_> = parliament(&policy["PolicyDocument"])
        .into_iter()
        .filter(|f| {
            !(f["issue"] == "RESOURCE_MISMATCH"
                && f["detail"].as_array().is_some_and(|d| {
                    d.iter().all(|x| {
                        x["required_format"]
                            .as_str()
                            .unwrap_or("")
                            .contains("/net/")
                    })
                }))
        })
        .collect();
    assert!(findings.is_empty(), "{findings:?}");
    assert!(
        policy
            .to_string()
            .contains(&format!("targetgroup/{stage}-alt/*")),
        "{policy}"
    );
}

/// Setup and a first deploy answering `v1`: (dir, load balancer's local address, DNS name).
fn first_deploy(
    name: &str,
    env: &[(&str, &str)],
    shifts: bool,
) -> (tempfile::TempDir, String, String) {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let stage = format!("{name}-dev");
    let plan = json_result(
        &cf(dir.path(), name, env, &["setup", "--dry-run"])
            .output()
            .unwrap(),
    );
    json_result(&cf(dir.path(), name, env, &["setup"]).output().unwrap());
    if shifts {
        infrastructure_checked(&stage, &plan);
        // A second setup changes nothing.
        let again = json_result(&cf(dir.path(), name, env, &["setup"]).output().unwrap());
        assert_eq!(again["changed"], 0, "{again}");
    }
    short_minute(&stage, 5);
    let v1 = [env, &[("CARGO_FARGATE_ENVIRONMENT", "GREETING=v1")]].concat();
    let deployed = json_result(
        &cf(dir.path(), name, &v1, &["deploy", "--wait-timeout", "4m"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        deployed["service"]["waited"]["rollout_state"], "COMPLETED",
        "{deployed}"
    );
    let url = deployed["service"]["url"].as_str().unwrap().to_string();
    let dns = url.trim_start_matches("http://").to_string();
    let local = served(&format!("{dns}:80")).expect("the listener is served");
    assert_eq!(http_get(&local, &dns, "/").unwrap(), (200, "v1\n".into()));
    (dir, local, dns)
}

/// Deploys revision `greeting` while the loop runs: (deploy's output, answers, failures, seconds).
fn deploy_during_loop(
    dir: &Path,
    name: &str,
    env: &[(&str, &str)],
    greeting: &str,
    at: (&str, &str),
    during: impl FnOnce(),
) -> (Output, Vec<String>, Vec<String>, f64) {
    let environment = format!("GREETING={greeting}");
    let env = [env, &[("CARGO_FARGATE_ENVIRONMENT", environment.as_str())]].concat();
    let traffic = Traffic::start(at.0, at.1, Duration::from_millis(10));
    let started = Instant::now();
    let child = cf(dir, name, &env, &["deploy", "--wait-timeout", "4m"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    during();
    let o = child.wait_with_output().unwrap();
    let secs = started.elapsed().as_secs_f64();
    // A moment more: the answers after the deploy returned are the new revision's (or the old one's).
    std::thread::sleep(Duration::from_secs(1));
    let (seen, failed) = traffic.finish();
    (o, seen, failed, secs)
}

/// Setup and a first deploy of `v1` (`first_deploy`), then `v2` deployed under the loop: it
/// succeeds, no request fails and the last answer is v2's. (dir, load balancer's local address, DNS
/// name, what the deploy said, the answers in order.)
fn shifted_to_v2(
    strategy: &str,
    name: &str,
    env: &[(&str, &str)],
) -> (tempfile::TempDir, String, String, String, Vec<String>) {
    let (dir, local, dns) = first_deploy(name, env, true);
    let (o, seen, failed, secs) =
        deploy_during_loop(dir.path(), name, env, "v2", (&local, &dns), || {});
    let err = said(&o);
    assert!(o.status.success(), "{err}");
    eprintln!(
        "{strategy}: {secs:.1}s, {} answers, {} failed",
        seen.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(seen.last().map(String::as_str), Some("v2"), "{seen:?}");
    (dir, local, dns, err, seen)
}

/// What a command said: its JSON events (stdout, status lines included) and stderr.
fn said(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o))
}

fn events(stage: &str) -> String {
    describe_service(stage)["events"].to_string()
}

/// A CloudWatch alarm on the ALB metric `metric`: its `statistic` over one minute, against 1.
fn put_alarm(alarm: &str, metric: &str, statistic: &str, comparison: &str) {
    aws(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        alarm,
        "--metric-name",
        metric,
        "--namespace",
        "AWS/ApplicationELB",
        "--statistic",
        statistic,
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "1",
        "--comparison-operator",
        comparison,
    ]);
}

/// Once the service's events say `event` a second time (polled every `poll_ms`, for up to 2
/// minutes), puts `alarm` in ALARM.
fn alarm_at_second(stage: &str, event: &str, poll_ms: u64, alarm: &str) {
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until && events(stage).matches(event).count() < 2 {
        std::thread::sleep(Duration::from_millis(poll_ms));
    }
    aws(&[
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        alarm,
        "--state-value",
        "ALARM",
        "--state-reason",
        "test",
    ]);
}

#[test]
fn blue_green_moves_all_traffic_at_once_and_a_revision_failing_its_health_check_rolls_back() {
    let name = unique("bg");
    let stage = format!("{name}-dev");
    let env = [
        ("CARGO_FARGATE_DEPLOYMENT", "blue-green"),
        ("CARGO_FARGATE_BAKE_TIME", "1"),
    ];
    let (dir, local, dns, err, seen) = shifted_to_v2("blue-green", &name, &env);
    // Old answers, then new ones: no mixed part (all at once).
    assert_eq!(seen.first().map(String::as_str), Some("v1"), "{seen:?}");
    assert_eq!(mixed_share(&seen, "v1", "v2"), None, "{seen:?}");
    assert!(err.contains("100% on"), "{err}");
    assert!(err.contains("bake 1 min"), "{err}");
    let service = describe_service(&stage);
    assert_eq!(
        service["deploymentConfiguration"]["strategy"], "BLUE_GREEN",
        "{service}"
    );
    let adv = &service["loadBalancers"][0]["advancedConfiguration"];
    assert!(
        adv["alternateTargetGroupArn"]
            .as_str()
            .unwrap()
            .contains(&format!("{stage}-alt")),
        "{adv}"
    );
    // status says the strategy and where traffic goes now: all on the alternate group.
    let st = json_result(&cf(dir.path(), &name, &env, &["status"]).output().unwrap());
    assert!(
        st["traffic"]["strategy"]
            .as_str()
            .unwrap()
            .starts_with("blue-green"),
        "{st}"
    );
    assert!(
        st["traffic"]["weights"]
            .to_string()
            .contains(&format!("[\"{stage}-alt\",100]")),
        "{st}"
    );
    // A second deploy of the same changes nothing.
    let v2 = [&env[..], &[("CARGO_FARGATE_ENVIRONMENT", "GREETING=v2")]].concat();
    let again = json_result(&cf(dir.path(), &name, &v2, &["deploy"]).output().unwrap());
    assert_eq!(again["service"]["action"], "unchanged", "{again}");

    // A revision the load balancer cannot reach (it listens on 127.0.0.1 only): its targets fail
    // their health checks, the breaker rolls back, and traffic never leaves v2.
    let environment = "GREETING=v3,BIND=127.0.0.1";
    let bad = [&env[..], &[("CARGO_FARGATE_ENVIRONMENT", environment)]].concat();
    let traffic = Traffic::start(&local, &dns, Duration::from_millis(10));
    let o = cf(dir.path(), &name, &bad, &["deploy", "--wait-timeout", "4m"])
        .output()
        .unwrap();
    let (seen, failed) = traffic.finish();
    let err = said(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(err.contains("circuit breaker"), "{err}");
    assert!(failed.is_empty(), "{failed:?}");
    assert!(seen.iter().all(|b| b == "v2"), "{seen:?}");
    assert!(events(&stage).contains("deployment failed"));
}

#[test]
fn canary_shifts_its_percent_then_the_rest_and_an_alarm_during_the_bake_rolls_back() {
    let name = unique("can");
    let stage = format!("{name}-dev");
    let alarm = format!("{name}-5xx");
    let env = [
        ("CARGO_FARGATE_DEPLOYMENT", "canary"),
        ("CARGO_FARGATE_CANARY_PERCENT", "25"),
        ("CARGO_FARGATE_CANARY_BAKE", "1"),
        ("CARGO_FARGATE_ROLLBACK_ALARMS", alarm.as_str()),
    ];
    put_alarm(
        &alarm,
        "HTTPCode_Target_5XX_Count",
        "Sum",
        "GreaterThanOrEqualToThreshold",
    );
    let (dir, local, dns, err, seen) = shifted_to_v2("canary", &name, &env);
    // During the canary bake (5 s) about a quarter of the answers came from v2.
    let share = mixed_share(&seen, "v1", "v2").expect("a canary phase");
    assert!((0.1..0.45).contains(&share), "{share}");
    assert!(
        err.contains("25% to") && err.contains("(canary), bake 1 min"),
        "{err}"
    );
    assert!(events(&stage).contains("shifted 25% of production traffic"));

    // An alarm put in ALARM during the canary bake: traffic returns to v2, deploy names the alarm.
    // v3's canary is the second "shifted 25%" event (v2's is the first).
    let set_alarm = || alarm_at_second(&stage, "shifted 25%", 300, &alarm);
    let (o, seen, failed, _) =
        deploy_during_loop(dir.path(), &name, &env, "v3", (&local, &dns), set_alarm);
    let err = said(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains(&alarm) && err.contains("rolled back"), "{err}");
    assert!(failed.is_empty(), "{failed:?}");
    assert!(seen.iter().any(|b| b == "v3"), "the canary answered");
    assert_eq!(seen.last().map(String::as_str), Some("v2"), "{seen:?}");
    assert_eq!(http_get(&local, &dns, "/").unwrap(), (200, "v2\n".into()));
}

#[test]
fn linear_shifts_in_steps_with_a_bake_between_and_rollback_goes_back_the_same_way() {
    let name = unique("lin");
    let env = [
        ("CARGO_FARGATE_DEPLOYMENT", "linear"),
        ("CARGO_FARGATE_LINEAR_STEP_PERCENT", "34"),
        ("CARGO_FARGATE_LINEAR_BAKE", "1"),
    ];
    let (dir, local, dns, err, seen) = shifted_to_v2("linear", &name, &env);
    // Steps of 34% and 68% (5 s each): the first half of the mixed part has fewer v2 answers than
    // the second, and both have some of each.
    let first = seen.iter().position(|b| b == "v2").unwrap();
    let last = seen.iter().rposition(|b| b == "v1").unwrap();
    let mid = first + (last - first) / 2;
    let share =
        |part: &[String]| part.iter().filter(|b| *b == "v2").count() as f64 / part.len() as f64;
    let (early, late) = (share(&seen[first..mid]), share(&seen[mid..=last]));
    assert!(early < late, "{early} {late}");
    assert!(
        (0.15..0.55).contains(&early) && (0.45..0.9).contains(&late),
        "{early} {late}"
    );
    for step in ["34% to", "68% to", "100% on"] {
        assert!(err.contains(step), "{step}: {err}");
    }

    // rollback goes back to v1 through the same steps, followed as deploy follows them.
    let back = cf(
        dir.path(),
        &name,
        &env,
        &["rollback", "--wait-timeout", "4m"],
    )
    .output()
    .unwrap();
    let said_back = said(&back);
    assert!(back.status.success(), "{said_back}");
    assert!(
        said_back.contains("34% to") && said_back.contains("100% on"),
        "{said_back}"
    );
    assert_eq!(http_get(&local, &dns, "/").unwrap(), (200, "v1\n".into()));
}

/// `rollback-alarms` with the default rolling deployment: an alarm in ALARM while the new revision
/// rolls out fails it, ECS goes back to the previous revision, and deploy names the alarm.
#[test]
fn a_rolling_deployment_rolls_back_when_its_alarm_goes_off() {
    let name = unique("ral");
    let stage = format!("{name}-dev");
    let alarm = format!("{name}-latency");
    put_alarm(
        &alarm,
        "TargetResponseTime",
        "Average",
        "GreaterThanThreshold",
    );
    let env = [("CARGO_FARGATE_ROLLBACK_ALARMS", alarm.as_str())];
    let (dir, local, dns) = first_deploy(&name, &env, false);
    // once v2's task has started (its deployment is the second one to start a task)
    let set_alarm = || alarm_at_second(&stage, "has started 1 tasks", 200, &alarm);
    let (o, seen, failed, _) =
        deploy_during_loop(dir.path(), &name, &env, "v2", (&local, &dns), set_alarm);
    let err = said(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(&alarm) && err.contains("rolled back to"),
        "{err}"
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(seen.last().map(String::as_str), Some("v1"), "{seen:?}");
    let dc = &describe_service(&stage)["deploymentConfiguration"];
    assert_eq!(dc["alarms"]["alarmNames"][0], alarm.as_str(), "{dc}");
}
