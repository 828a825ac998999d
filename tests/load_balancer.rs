//! A load balancer made by the tool, on the bench: `load-balancer = "public"` makes (in `setup`,
//! planned by `--dry-run`) an ALB in the project's VPC with its security group, listener and
//! target group; `deploy` prints a URL that answers through the listener's HAProxy
//! (agent/listeners.py) in front of the target group's (agent/lb.py); `teardown` removes it all.
//! And the traffic keys' bad input: one line naming the key, nothing created, under --dry-run too.

mod common;
#[path = "load_balancer/scaling.rs"]
mod scaling;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// `cargo fargate <args>` for project `name`: examples/web-service as a service in the project's
/// own VPC (no `subnets`), checked on /health.
fn cf(dir: &Path, name: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let all = [args, &["--message-format", "json"]].concat();
    service_command(dir, name, "service", &all)
        .env("CARGO_FARGATE_HEALTH_CHECK_PATH", "/health")
        .env_remove("CARGO_FARGATE_SUBNETS")
        .env_remove("CARGO_FARGATE_SECURITY_GROUPS")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn load_balancers(name: &str) -> Vec<Value> {
    let o = aws_try(&["elbv2", "describe-load-balancers", "--names", name]);
    if !o.status.success() {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["LoadBalancers"].as_array().cloned().unwrap_or_default()
}

fn target_groups(name: &str) -> Vec<Value> {
    let o = aws_try(&["elbv2", "describe-target-groups", "--names", name]);
    if !o.status.success() {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["TargetGroups"].as_array().cloned().unwrap_or_default()
}

fn group(name: &str) -> Option<Value> {
    let filter = format!("Name=group-name,Values={name}");
    aws(&["ec2", "describe-security-groups", "--filters", &filter])["SecurityGroups"]
        .as_array()
        .unwrap()
        .first()
        .cloned()
}

#[test]
fn traffic_keys_bad_input_is_one_line_names_the_key_and_creates_nothing() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("lbx");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("CARGO_FARGATE_DEPLOYMENT", "canary")],
            "CARGO_FARGATE_DEPLOYMENT",
        ),
        (
            &[
                ("CARGO_FARGATE_LOAD_BALANCER", "public"),
                ("CARGO_FARGATE_DEPLOYMENT", "canary"),
                ("CARGO_FARGATE_CANARY_PERCENT", "0.01"),
            ],
            "CARGO_FARGATE_CANARY_PERCENT",
        ),
        (
            &[
                ("CARGO_FARGATE_MIN_COUNT", "3"),
                ("CARGO_FARGATE_MAX_COUNT", "2"),
                ("CARGO_FARGATE_SCALE_ON_CPU", "70"),
            ],
            "CARGO_FARGATE_MIN_COUNT",
        ),
        (
            &[
                ("CARGO_FARGATE_MAX_COUNT", "4"),
                ("CARGO_FARGATE_SCALE_ON_REQUESTS", "500"),
            ],
            "CARGO_FARGATE_SCALE_ON_REQUESTS",
        ),
        (
            &[
                ("CARGO_FARGATE_LOAD_BALANCER", "public"),
                ("CARGO_FARGATE_LISTENER", "https"),
            ],
            "CARGO_FARGATE_LISTENER",
        ),
    ];
    for (env, key) in cases {
        for command in [
            &["setup", "--dry-run"][..],
            &["deploy", "--dry-run"],
            &["setup"],
        ] {
            let o = cf(dir.path(), &name, env, command);
            let err = stderr(&o);
            assert!(!o.status.success(), "{env:?} {command:?}: {err}");
            let lines: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
            assert_eq!(lines.len(), 1, "{env:?}: {err}");
            assert!(lines[0].contains(key), "{env:?}: {err}");
        }
    }
    // The load balancer opens the project's tasks' group: a replacement for it is refused by setup.
    for command in [&["setup", "--dry-run"][..], &["setup"]] {
        let o = cf(
            dir.path(),
            &name,
            &[
                ("CARGO_FARGATE_LOAD_BALANCER", "public"),
                ("CARGO_FARGATE_SECURITY_GROUPS", "sg-0123456789abcdef0"),
            ],
            command,
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains("CARGO_FARGATE_SECURITY_GROUPS"), "{err}");
    }
    // Nothing was made for the project.
    let filter = format!("Name=tag:cargo-fargate:project,Values={name}");
    let vpcs = aws(&["ec2", "describe-vpcs", "--filters", &filter]);
    assert_eq!(vpcs["Vpcs"].as_array().unwrap().len(), 0, "{vpcs}");
    assert!(load_balancers(&format!("{name}-dev")).is_empty());
    let repos = aws_try(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        &format!("{name}-dev"),
    ]);
    assert!(!repos.status.success(), "a repository was made");
}

#[test]
fn a_public_load_balancer_is_made_by_setup_answers_at_the_url_deploy_prints_and_teardown_removes_it(
) {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("lb");
    let stage = format!("{name}-dev");
    let env = [("CARGO_FARGATE_LOAD_BALANCER", "public")];

    // Planned, nothing made.
    let plan = json_result(&cf(dir.path(), &name, &env, &["setup", "--dry-run"]));
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["resource"] == "load balancer")
        .unwrap_or_else(|| panic!("{plan}"))
        .clone();
    assert_eq!(step["action"], "create", "{step}");
    let said = step["changes"].to_string();
    for part in [
        "security group",
        "internet-facing load balancer",
        "target group → port 8080, health check /health every 5s, healthy after 2, deregistration delay 10s",
        "HTTP listener on 80",
        "port 8080 from the load balancer only",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    assert!(load_balancers(&stage).is_empty());

    // Made, tagged, as planned.
    let made = json_result(&cf(dir.path(), &name, &env, &["setup"]));
    assert!(made["changed"].as_u64().unwrap() > 0, "{made}");
    let lb = load_balancers(&stage);
    assert_eq!(lb.len(), 1);
    assert_eq!(lb[0]["Scheme"], "internet-facing");
    assert_eq!(lb[0]["Type"], "application");
    let lb_arn = lb[0]["LoadBalancerArn"].as_str().unwrap().to_string();
    let dns = lb[0]["DNSName"].as_str().unwrap().to_string();
    let tags = aws(&["elbv2", "describe-tags", "--resource-arns", &lb_arn]);
    assert!(tags.to_string().contains("cargo-fargate:stage"), "{tags}");
    let tg = target_groups(&stage);
    assert_eq!(tg.len(), 1);
    let tg_arn = tg[0]["TargetGroupArn"].as_str().unwrap().to_string();
    assert_eq!(tg[0]["Port"], 8080);
    assert_eq!(tg[0]["TargetType"], "ip");
    assert_eq!(tg[0]["HealthCheckPath"], "/health");
    assert_eq!(tg[0]["HealthCheckIntervalSeconds"], 5);
    assert_eq!(tg[0]["HealthyThresholdCount"], 2);
    let attributes = aws(&[
        "elbv2",
        "describe-target-group-attributes",
        "--target-group-arn",
        &tg_arn,
    ]);
    assert!(
        attributes["Attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["Key"] == "deregistration_delay.timeout_seconds" && a["Value"] == "10"),
        "{attributes}"
    );
    let listeners = aws(&[
        "elbv2",
        "describe-listeners",
        "--load-balancer-arn",
        &lb_arn,
    ])["Listeners"]
        .clone();
    assert_eq!(listeners.as_array().unwrap().len(), 1, "{listeners}");
    assert_eq!(listeners[0]["Port"], 80);
    assert_eq!(
        listeners[0]["DefaultActions"][0]["TargetGroupArn"],
        tg_arn.as_str()
    );
    // The tasks' group lets in the load balancer's group on 8080, and nothing else.
    let lb_group = group(&format!("{stage}-lb")).expect("the load balancer's group");
    let lb_group_id = lb_group["GroupId"].as_str().unwrap();
    assert_eq!(lb[0]["SecurityGroups"][0], lb_group_id);
    let tasks = group(&format!("{name}-tasks")).expect("the tasks' group");
    let rules = tasks["IpPermissions"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{tasks}");
    assert_eq!(rules[0]["FromPort"], 8080);
    assert_eq!(rules[0]["UserIdGroupPairs"][0]["GroupId"], lb_group_id);
    assert!(
        rules[0]["IpRanges"].as_array().unwrap().is_empty(),
        "{tasks}"
    );

    // A second setup changes nothing.
    let again = json_result(&cf(dir.path(), &name, &env, &["setup"]));
    assert_eq!(again["changed"], 0, "{again}");
    // A changed health check path is put on the target group; a changed scheme is refused.
    let moved = json_result(&cf(
        dir.path(),
        &name,
        &[env[0], ("CARGO_FARGATE_HEALTH_CHECK_PATH", "/")],
        &["setup"],
    ));
    assert!(
        moved["steps"]
            .to_string()
            .contains("target group health check / every 5s"),
        "{moved}"
    );
    assert_eq!(target_groups(&stage)[0]["HealthCheckPath"], "/");
    json_result(&cf(dir.path(), &name, &env, &["setup"]));
    assert_eq!(target_groups(&stage)[0]["HealthCheckPath"], "/health");
    let o = cf(
        dir.path(),
        &name,
        &[("CARGO_FARGATE_LOAD_BALANCER", "internal")],
        &["setup"],
    );
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("scheme cannot change"),
        "{err}"
    );
    assert_eq!(load_balancers(&stage)[0]["Scheme"], "internet-facing");

    // deploy prints the URL, and it answers through the listener.
    let deployed = json_result(&cf(
        dir.path(),
        &name,
        &env,
        &["deploy", "--wait-timeout", "3m"],
    ));
    assert_eq!(
        deployed["service"]["waited"]["rollout_state"], "COMPLETED",
        "{deployed}"
    );
    let url = deployed["service"]["url"].as_str().unwrap();
    assert_eq!(url, format!("http://{dns}"));
    let local = served(&format!("{dns}:80")).expect("the listener is served");
    assert_eq!(
        http_get(&local, &dns, "/").unwrap(),
        (200, "Hello from cargo-fargate\n".into())
    );
    let service = describe_service(&stage);
    assert_eq!(
        service["loadBalancers"][0]["targetGroupArn"],
        tg_arn.as_str()
    );

    // teardown removes the load balancer, its target group and groups (the last stage: the network).
    let down = json_result(&cf(
        dir.path(),
        &name,
        &env,
        &["teardown", "--yes", "--force"],
    ));
    let removed = down["items"].to_string();
    for r in [
        "load balancer",
        "target group",
        "lb security group",
        "network",
    ] {
        assert!(removed.contains(r), "{r}: {down}");
    }
    assert!(load_balancers(&stage).is_empty());
    assert!(target_groups(&stage).is_empty());
    assert!(group(&format!("{stage}-lb")).is_none());
    assert!(served(&format!("{dns}:80")).is_none());
}

#[test]
fn doctor_names_the_target_group_settings_that_slow_every_deploy_and_changes_nothing() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("lbd");
    // A target group of the user's with ELB's defaults.
    let tg = target_group(&name, &[]);
    let env = [
        ("CARGO_FARGATE_TARGET_GROUP_ARN", tg.as_str()),
        ("CARGO_FARGATE_SUBNETS", net().subnet.as_str()),
        ("CARGO_FARGATE_SECURITY_GROUPS", net().sg.as_str()),
    ];
    let o = cf(dir.path(), &name, &env, &["doctor"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let report = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v["type"] == "result")
        .unwrap_or_else(|| panic!("{out}"));
    let warnings: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "target-group")
        .collect();
    assert_eq!(warnings.len(), 2, "{report}");
    // ELB's defaults: 300 s of deregistration delay against the example's stop-timeout of 10 s,
    // and 5 checks 30 s apart (150 s) against 5 s × 2.
    let said = format!("{warnings:?}");
    assert!(
        said.contains("deregistration_delay.timeout_seconds = 300")
            && said.contains("290 s longer"),
        "{said}"
    );
    assert!(
        said.contains("150 s after it answers, 140 s more"),
        "{said}"
    );
    assert!(warnings.iter().all(|w| w["status"] == "warn"), "{said}");
    // Never modified.
    let after = aws(&[
        "elbv2",
        "describe-target-group-attributes",
        "--target-group-arn",
        &tg,
    ]);
    assert!(after["Attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["Key"] == "deregistration_delay.timeout_seconds" && a["Value"] == "300"));
}

/// The load balancer's calls (setup, deploy, status, teardown) are exactly what the deployer
/// policy's load balancer statements allow: each is allowed, and without either statement some
/// is denied. (The project network's EC2 calls are recorded without resources, so they are not
/// judged here: tests/iam.rs runs its coverage on subnets of the user's.)
#[test]
fn the_deployer_policy_allows_the_load_balancers_calls_and_needs_each_of_its_statements() {
    let stage = Stage::new(
        "lbi",
        "web-service",
        "docker",
        &[
            ("KIND", "service"),
            ("LOAD_BALANCER", "public"),
            ("HEALTH_CHECK_PATH", "/health"),
            ("SUBNETS", ""),
            ("SECURITY_GROUPS", ""),
        ],
    );
    ok(&stage.run(&["setup"]));
    let deployed = stage.json(&["deploy", "--wait-timeout", "3m"]);
    assert_eq!(deployed["service"]["action"], "created", "{deployed}");
    ok(&stage.run(&["status"]));
    let teardown_key = key_of(&stage.name, "T");
    ok(&stage.run_as(&teardown_key, &[], &["teardown", "--yes", "--force"]));

    let elb = ["elasticloadbalancing:"];
    let actions = actions_of(&stage.key);
    for a in [
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:DescribeLoadBalancers",
    ] {
        assert!(actions.contains(a), "{a} not recorded: {actions:?}");
    }
    let down = actions_of(&teardown_key);
    for a in [
        "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:DeleteTargetGroup",
    ] {
        assert!(down.contains(a), "{a} not recorded: {down:?}");
    }
    let policy = stage.deployer_policy(&[]);
    let keys = [stage.key.as_str()];
    assert_eq!(
        denied_of(&keys, &policy, &elb),
        Vec::<Value>::new(),
        "{policy:#}"
    );
    let teardown_policy = stage.deployer_policy(&["--teardown"]);
    let both = [stage.key.as_str(), teardown_key.as_str()];
    assert_eq!(
        denied_of(&both, &teardown_policy, &elb),
        Vec::<Value>::new(),
        "{teardown_policy:#}"
    );
    // The deploy-time policy does not let teardown delete the load balancer.
    assert!(!denied_of(&[teardown_key.as_str()], &policy, &elb).is_empty());
    // Each load balancer statement is needed.
    for sid in [
        "NoResourceLevelLoadBalancerReads",
        "TheStagesLoadBalancerTargetGroupAndListeners",
    ] {
        let mut without = teardown_policy.clone();
        without["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != sid);
        assert_ne!(without, teardown_policy, "{sid} is in the policy");
        assert!(
            !denied_of(&both, &without, &elb).is_empty(),
            "nothing needs {sid}"
        );
    }
}

/// With `certificate-arn`: an HTTPS listener on 443 forwarding to the target group, and HTTP on 80
/// answering with a redirect to it (the bench serves HTTP listeners only: no TLS there).
#[test]
fn with_a_certificate_the_listener_is_https_and_http_redirects_to_it() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("lbt");
    let stage = format!("{name}-dev");
    let cert = aws(&[
        "acm",
        "request-certificate",
        "--domain-name",
        "app.example.com",
    ])["CertificateArn"]
        .as_str()
        .unwrap()
        .to_string();
    let env = [
        ("CARGO_FARGATE_LOAD_BALANCER", "public"),
        ("CARGO_FARGATE_CERTIFICATE_ARN", cert.as_str()),
    ];
    json_result(&cf(dir.path(), &name, &env, &["setup"]));
    let lb = load_balancers(&stage);
    let lb_arn = lb[0]["LoadBalancerArn"].as_str().unwrap();
    let dns = lb[0]["DNSName"].as_str().unwrap().to_string();
    let mut listeners = aws(&["elbv2", "describe-listeners", "--load-balancer-arn", lb_arn])
        ["Listeners"]
        .as_array()
        .unwrap()
        .clone();
    listeners.sort_by_key(|l| l["Port"].as_i64());
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    assert_eq!(listeners[0]["Port"], 80);
    assert_eq!(listeners[0]["DefaultActions"][0]["Type"], "redirect");
    assert_eq!(
        listeners[0]["DefaultActions"][0]["RedirectConfig"]["Protocol"],
        "HTTPS"
    );
    assert_eq!(listeners[1]["Port"], 443);
    assert_eq!(listeners[1]["Protocol"], "HTTPS");
    assert_eq!(
        listeners[1]["Certificates"][0]["CertificateArn"],
        cert.as_str()
    );
    assert_eq!(listeners[1]["DefaultActions"][0]["Type"], "forward");
    // HTTP answers with the redirect, path and query kept.
    let local = served(&format!("{dns}:80")).expect("the HTTP listener is served");
    let answer = http_answer(&local, &dns, "/a/b?c=1").unwrap();
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    assert!(
        answer.contains(&format!("location: https://{dns}/a/b?c=1")),
        "{answer}"
    );
    json_result(&cf(
        dir.path(),
        &name,
        &env,
        &["teardown", "--yes", "--force"],
    ));
    assert!(load_balancers(&stage).is_empty());
}
