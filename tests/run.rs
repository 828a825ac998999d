//! render, register, diff, and what run, logs and stop refuse: the built binary against the bench
//! (moto over HTTP), checked through awscli, a different client than the one under test. Tasks that
//! really run are in tests/tasks.rs.
//!
//! moto is shared, so every test works on a project of its own name.

mod common;

use common::*;
use serde_json::{json, Value};

/// Nothing of `name`'s dev stage exists in AWS: roles, task definitions, log group, cluster.
fn assert_nothing_created(name: &str) {
    let family = format!("{name}-dev");
    for role in [format!("{family}-task"), format!("{family}-execution")] {
        let o = aws_try(&["iam", "get-role", "--role-name", &role]);
        assert!(!o.status.success(), "role {role} was created");
    }
    assert_eq!(
        revisions(&family),
        Vec::<String>::new(),
        "a task definition was registered"
    );
    let groups = aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        &format!("/ecs/{family}"),
    ]);
    assert_eq!(groups["logGroups"], json!([]), "a log group was created");
    let clusters = aws(&["ecs", "describe-clusters", "--clusters", &family]);
    assert_eq!(clusters["clusters"], json!([]), "a cluster was created");
}

#[test]
fn register_pins_the_image_creates_the_task_role_and_converges() {
    let name = unique("reg");
    let policy = aws(&[
        "iam",
        "create-policy",
        "--policy-name",
        &format!("{name}-read"),
        "--policy-document",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}).to_string(),
    ])["Policy"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let fargate = networked(&format!(
        "task-role-policies = [\"{policy}\"]\ntask-role-policy-files = [\"queue.json\"]\nports = [8080]\nlog-retention-days = 14\n\
         [package.metadata.fargate.environment]\nRUST_LOG = \"info\"\n\
         [package.metadata.fargate.secrets]\nDATABASE_URL = \"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}/db\"\nAPI_TOKEN = \"/{name}/token\"\n\
         [package.metadata.fargate.tags]\nteam = \"platform\"\n"
    ));
    let dir = project(&name, &fargate);
    std::fs::write(
        dir.path().join("queue.json"),
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}).to_string(),
    )
    .unwrap();
    let image = probe_image().to_string();

    let r = json_result(&cf(
        dir.path(),
        &["register", "--image", &image, "--message-format", "json"],
    ));
    let family = format!("{name}-dev");
    assert_eq!(r["task_definition"]["registered"], true);
    assert_eq!(r["task_definition"]["family"], family.as_str());

    let td = &aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &family,
        "--include",
        "TAGS",
    ]);
    let def = &td["taskDefinition"];
    let c = &def["containerDefinitions"][0];
    assert_eq!(c["image"], image.as_str(), "pinned by digest");
    let task_role = format!("arn:aws:iam::{ACCOUNT}:role/{family}-task");
    assert_eq!(def["taskRoleArn"], task_role.as_str());
    assert_eq!(def["executionRoleArn"], execution_role());
    assert_eq!(def["requiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(def["networkMode"], "awsvpc");
    assert_eq!(
        (def["cpu"].as_str(), def["memory"].as_str()),
        (Some("256"), Some("512"))
    );
    assert_eq!(
        def["runtimePlatform"],
        json!({"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"})
    );
    assert_eq!(c["essential"], true);
    assert_eq!(c["memory"], 512);
    assert_eq!(c["stopTimeout"], 30);
    assert_eq!(c["portMappings"][0]["containerPort"], 8080);
    assert_eq!(
        c["logConfiguration"],
        json!({"logDriver": "awslogs", "options": {"awslogs-group": format!("/ecs/{family}"), "awslogs-region": "us-east-1", "awslogs-stream-prefix": "dev"}})
    );
    // Secrets go in `secrets`, never in `environment`.
    assert_eq!(
        c["environment"],
        json!([{"name": "RUST_LOG", "value": "info"}])
    );
    let mut secrets: Vec<(String, String)> = c["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["valueFrom"].as_str().unwrap().into(),
            )
        })
        .collect();
    secrets.sort();
    assert_eq!(
        secrets,
        [
            ("API_TOKEN".to_string(), format!("/{name}/token")),
            (
                "DATABASE_URL".to_string(),
                format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}/db")
            )
        ]
    );
    let tags = td["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!({"key": "team", "value": "platform"})),
        "{tags:?}"
    );
    assert!(
        tags.contains(&json!({"key": "managed-by", "value": "cargo-fargate"})),
        "{tags:?}"
    );

    // The created task role trusts ECS tasks of this account only, with the configured policies.
    let role = &aws(&["iam", "get-role", "--role-name", &format!("{family}-task")])["Role"];
    let statement = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(statement["Principal"]["Service"], "ecs-tasks.amazonaws.com");
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:SourceAccount"],
        ACCOUNT
    );
    let attached = aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        &format!("{family}-task"),
    ]);
    assert_eq!(
        attached["AttachedPolicies"][0]["PolicyArn"],
        policy.as_str()
    );
    let inline = aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        &format!("{family}-task"),
        "--policy-name",
        "queue",
    ]);
    assert_eq!(
        inline["PolicyDocument"]["Statement"][0]["Action"],
        "sqs:SendMessage"
    );
    let groups = aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        &format!("/ecs/{family}"),
    ]);
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 14);

    // No change: no new revision, nothing rewritten.
    let again = json_result(&cf(
        dir.path(),
        &["register", "--image", &image, "--message-format", "json"],
    ));
    assert_eq!(again["task_definition"]["registered"], false);
    assert_eq!(
        again["task_definition"]["revision"],
        r["task_definition"]["revision"]
    );
    assert_eq!(again["roles"][0]["created"], false);
    assert_eq!(again["roles"][0]["changes"], json!([]));
    assert_eq!(again["log_group"]["created"], false);
    assert_eq!(revisions(&family).len(), 1);
    // The human form says so.
    let text = ok(&cf(dir.path(), &["register", "--image", &image]));
    assert!(text.starts_with(&format!("unchanged  {family}:")), "{text}");

    // Policies dropped from the configuration leave the managed role on the next register.
    set_fargate(dir.path(), &name, &networked(""));
    let r = json_result(&cf(
        dir.path(),
        &["register", "--image", &image, "--message-format", "json"],
    ));
    assert_eq!(
        r["roles"][0]["changes"],
        json!([format!("detached {policy}"), "removed inline policy queue"])
    );
    let task_role = format!("{family}-task");
    let attached = aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        &task_role,
    ]);
    assert_eq!(attached["AttachedPolicies"], json!([]));
    let inline = aws(&["iam", "list-role-policies", "--role-name", &task_role]);
    assert_eq!(inline["PolicyNames"], json!([]));
}

#[test]
fn diff_exit_code_is_0_when_unchanged_and_3_after_a_config_change() {
    let name = unique("diff");
    let dir = project(&name, &networked(""));
    let image = probe_image().to_string();
    // A failure of the tool is 1, never the 3 of "changed".
    let o = cf(dir.path(), &["diff", "--image", "no-digest", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Nothing registered yet: everything is new.
    let o = cf(dir.path(), &["diff", "--image", &image, "--exit-code"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("--- {name}-dev (none registered)")),
        "{}",
        stdout(&o)
    );

    ok(&cf(dir.path(), &["register", "--image", &image]));
    let o = cf(dir.path(), &["diff", "--image", &image, "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), format!("no changes against {name}-dev:1\n"));

    set_fargate(
        dir.path(),
        &name,
        &networked("memory = 1024\n[package.metadata.fargate.environment]\nNEW = \"1\"\n"),
    );
    let o = cf(dir.path(), &["diff", "--image", &image, "--exit-code"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let d = stdout(&o);
    assert!(
        d.starts_with(&format!("--- {name}-dev:1 (registered)\n+++ rendered\n")),
        "{d}"
    );
    assert!(d.contains("-  \"memory\": \"512\","), "{d}");
    assert!(d.contains("+  \"memory\": \"1024\","), "{d}");
    assert!(d.contains("+          \"name\": \"NEW\","), "{d}");
    // Without --exit-code a difference is not a failure; JSON says whether it changed.
    let r = json_result(&cf(
        dir.path(),
        &["diff", "--image", &image, "--message-format", "json"],
    ));
    assert_eq!(r["changed"], true);
    assert_eq!(r["latest_revision"], 1);
    // Registering the change makes them equal again.
    let r = json_result(&cf(
        dir.path(),
        &["register", "--image", &image, "--message-format", "json"],
    ));
    assert_eq!(r["task_definition"]["revision"], 2);
    let o = cf(dir.path(), &["diff", "--image", &image, "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn render_prints_the_definition_and_a_users_template_is_sent_as_is() {
    let name = unique("rnd");
    let dir = project(
        &name,
        &networked("task-template = \"td.json\"\ncommand = [\"serve\", \"--port\", \"80\"]\n"),
    );
    let template = std::fs::read_to_string(repo().join("task-templates/task-definition.json"))
        .unwrap()
        .replace(
            "\"networkMode\": \"awsvpc\",",
            "\"networkMode\": \"awsvpc\",\n  \"ephemeralStorage\": { \"sizeInGiB\": 30 },",
        );
    std::fs::write(dir.path().join("td.json"), template).unwrap();
    let image = probe_image().to_string();
    let out = ok(&cf(dir.path(), &["render", "--image", &image]));
    let def: Value = serde_json::from_str(&out).expect("render prints the definition as JSON");
    assert_eq!(def["family"], format!("{name}-dev"));
    assert_eq!(def["ephemeralStorage"]["sizeInGiB"], 30);
    assert_eq!(
        def["containerDefinitions"][0]["command"],
        json!(["serve", "--port", "80"])
    );
    assert_eq!(def["containerDefinitions"][0]["image"], image.as_str());
    // No entrypoint configured: no field, rather than an empty one.
    assert!(
        def["containerDefinitions"][0].get("entryPoint").is_none(),
        "{out}"
    );
    // An image from another registry is used as it is, with a warning that it was not checked.
    let elsewhere = format!("ghcr.io/acme/app@sha256:{}", "a".repeat(64));
    let o = cf(dir.path(), &["render", "--image", &elsewhere]);
    let def: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(def["containerDefinitions"][0]["image"], elsewhere.as_str());
    assert!(
        stderr(&o).contains("warning: ghcr.io/acme/app is not in ECR, so it was not checked"),
        "{}",
        stderr(&o)
    );
    // render registers and creates nothing.
    assert_nothing_created(&name);
    // register sends the template's fields as they are, ones cargo-fargate has no setting for too.
    ok(&cf(dir.path(), &["register", "--image", &image]));
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &format!("{name}-dev"),
    ]);
    assert_eq!(
        td["taskDefinition"]["ephemeralStorage"],
        json!({"sizeInGiB": 30})
    );
}

#[test]
fn the_default_vpc_is_refused_before_anything_is_created() {
    let name = unique("dvpc");
    let default_subnet = default_vpc_subnet();
    let dir = project(
        &name,
        &format!(
            "subnets = [\"{default_subnet}\"]\nexecution-role = \"{}\"\n",
            execution_role()
        ),
    );
    let image = probe_image().to_string();
    let e = one_line_error(
        &cf(dir.path(), &["run", "--image", &image]),
        "the subnets are in the default VPC",
    );
    assert!(
        e.contains("Cargo.toml:9: `package.metadata.fargate.subnets`"),
        "{e}"
    );
    assert!(e.contains("--allow-default-vpc"), "{e}");
    assert_nothing_created(&name);

    // With no subnets configured, in a region where only the default VPC has subnets.
    let dir = project(
        &name,
        &format!("execution-role = \"{}\"\n", execution_role()),
    );
    let e = one_line_error(
        &cf(
            dir.path(),
            &["run", "--image", &image, "--region", "ap-southeast-3"],
        ),
        "no subnets are configured and only the default VPC has any",
    );
    assert!(e.contains("--allow-default-vpc"), "{e}");
    assert_nothing_created(&name);
}

#[test]
fn a_given_role_that_does_not_trust_ecs_tasks_is_refused_before_anything_is_registered() {
    let name = unique("trust");
    let role = make_role(&format!("{name}-ec2"), "ec2.amazonaws.com");
    let dir = project(&name, &networked(&format!("task-role = \"{role}\"\n")));
    let image = probe_image().to_string();
    let e = one_line_error(
        &cf(dir.path(), &["register", "--image", &image]),
        &format!("role `{name}-ec2` does not trust ecs-tasks.amazonaws.com"),
    );
    assert!(
        e.contains("Cargo.toml:12: `package.metadata.fargate.task-role`"),
        "{e}"
    );
    assert_nothing_created(&name);
    // A given role that does trust ECS tasks is used as it is.
    let good = make_role(&format!("{name}-ecs"), "ecs-tasks.amazonaws.com");
    set_fargate(
        dir.path(),
        &name,
        &networked(&format!("task-role = \"{name}-ecs\"\n")),
    );
    let r = json_result(&cf(
        dir.path(),
        &["register", "--image", &image, "--message-format", "json"],
    ));
    assert_eq!(r["roles"][0]["arn"], good.as_str());
    assert_eq!(r["roles"][0]["managed"], false);
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &format!("{name}-dev"),
    ]);
    assert_eq!(td["taskDefinition"]["taskRoleArn"], good.as_str());
}

#[test]
fn bad_input_is_one_line_and_creates_nothing() {
    let name = unique("bad");
    let image = probe_image().to_string();
    let check = |fargate: &str, args: &[&str], needle: &str| -> String {
        let dir = project(&name, fargate);
        std::fs::write(
            dir.path().join("td.json"),
            "{\n  \"family\": {{ family | tojson }},\n  \"image\": {{ imagee | tojson }}\n}\n",
        )
        .unwrap();
        let mut all = args.to_vec();
        if !args.contains(&"--image") {
            all.extend(["--image", image.as_str()]);
        }
        let e = one_line_error(&cf(dir.path(), &all), needle);
        assert_nothing_created(&name);
        e
    };
    let e = check(
        &networked(&format!("task-role = \"{name}-missing\"\n")),
        &["register"],
        &format!("role `{name}-missing` does not exist in account {ACCOUNT}"),
    );
    assert!(e.contains("`package.metadata.fargate.task-role`"), "{e}");
    let e = check(
        &networked("task-role = \"arn:aws:iam::210987654321:role/app\"\n"),
        &["run"],
        "belongs to account 210987654321, but these credentials are for account 123456789012",
    );
    assert!(e.contains("Cargo.toml:12:"), "{e}");
    let e = check(
        &networked("[package.metadata.fargate.secrets]\nDB = \"arn:aws:secretsmanager:us-east-1:12345:secret:db\"\n"),
        &["register"],
        "is not an SSM parameter",
    );
    assert!(e.contains("`package.metadata.fargate.secrets`"), "{e}");
    let e = check(
        &networked(&format!(
            "create-cluster = false\ncluster = \"{name}-none\"\n"
        )),
        &["run"],
        &format!("ECS cluster `{name}-none` does not exist and creating it is turned off"),
    );
    assert!(
        e.contains("`package.metadata.fargate.create-cluster`"),
        "{e}"
    );
    let e = check(
        &networked("task-template = \"td.json\"\n"),
        &["register"],
        "unknown placeholder `imagee`; did you mean `image`?",
    );
    assert!(e.contains("td.json:3: `task-template`"), "{e}");
    let never = format!(
        "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/cargo-fargate-tests@sha256:{}",
        "e".repeat(64)
    );
    check(
        &networked(""),
        &["run", "--image", &never],
        "was never pushed",
    );
    check(
        &networked(""),
        &["render", "--image", "repo/app:latest"],
        "flag --image: `repo/app:latest` is not an image pinned by digest",
    );
    check(
        &networked(""),
        &["run", "-e", "NOT_AN_ASSIGNMENT"],
        "flag --env: `NOT_AN_ASSIGNMENT` is not KEY=VALUE",
    );
    // A managed role's name taken by a role cargo-fargate did not create.
    make_role(&format!("{name}-dev-task"), "ecs-tasks.amazonaws.com");
    let dir = project(&name, &networked(""));
    one_line_error(
        &cf(dir.path(), &["register", "--image", &image]),
        &format!("role `{name}-dev-task` already exists and was not created by cargo-fargate"),
    );
    assert_eq!(revisions(&format!("{name}-dev")), Vec::<String>::new());
}

#[test]
fn stop_and_logs_need_something_to_act_on() {
    let name = unique("idle");
    let dir = project(&name, &networked(""));
    one_line_error(&cf(dir.path(), &["stop"]), "no task to stop was named");
    one_line_error(
        &cf(dir.path(), &["logs"]),
        &format!("no task definition of `{name}-dev` is registered"),
    );
    let ps = ok(&cf(dir.path(), &["ps"]));
    assert_eq!(
        ps,
        format!("no tasks of {name}-dev in cluster {name}-dev\n")
    );
}

#[test]
fn a_managed_execution_role_reads_exactly_the_configured_secrets() {
    let policy = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";
    assert!(
        aws_try(&["iam", "get-policy", "--policy-arn", policy]).status.success(),
        "the bench's moto has no AWS managed policies: `scripts/bench.sh up` restarts it with MOTO_IAM_LOAD_MANAGED_POLICIES=true"
    );
    let name = unique("exe");
    let n = net();
    // The AWS-managed execution policy plus the secrets policy (`execution-role-policy =
    // "aws-managed"`); the default scoped policy is checked in tests/iam.rs.
    let base = format!(
        "subnets = [\"{}\"]\nsecurity-groups = [\"{}\"]\nexecution-role-policy = \"aws-managed\"\n",
        n.subnet, n.sg
    );
    let secrets = |body: &str| format!("{base}[package.metadata.fargate.secrets]\n{body}");
    let db = format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}/db");
    let dir = project(
        &name,
        &secrets(&format!("DB = \"{db}\"\nTOKEN = \"/{name}/token\"\n")),
    );
    let image = probe_image().to_string();
    let role = format!("{name}-dev-execution");
    let r = json_result(&cf(
        dir.path(),
        &["register", "--image", &image, "--message-format", "json"],
    ));
    assert_eq!(r["roles"][1]["created"], true);
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &format!("{name}-dev"),
    ]);
    assert_eq!(
        td["taskDefinition"]["executionRoleArn"],
        format!("arn:aws:iam::{ACCOUNT}:role/{role}")
    );
    let attached = aws(&["iam", "list-attached-role-policies", "--role-name", &role]);
    assert_eq!(attached["AttachedPolicies"].as_array().unwrap().len(), 1);
    assert_eq!(attached["AttachedPolicies"][0]["PolicyArn"], policy);
    let inline = |role: &str| {
        aws(&[
            "iam",
            "get-role-policy",
            "--role-name",
            role,
            "--policy-name",
            "cargo-fargate-secrets",
        ])
    };
    let doc = &inline(&role)["PolicyDocument"];
    assert_eq!(
        doc["Statement"][0]["Resource"],
        json!([format!(
            "arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/{name}/token"
        )])
    );
    assert_eq!(
        doc["Statement"][1]["Resource"],
        json!([db, format!("{db}-??????")])
    );
    let trust =
        &aws(&["iam", "get-role", "--role-name", &role])["Role"]["AssumeRolePolicyDocument"];
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "ecs-tasks.amazonaws.com"
    );

    // One secret fewer: the policy follows; none: it goes.
    set_fargate(dir.path(), &name, &secrets(&format!("DB = \"{db}\"\n")));
    let r = json_result(&cf(
        dir.path(),
        &["register", "--image", &image, "--message-format", "json"],
    ));
    assert_eq!(
        r["roles"][1]["changes"],
        json!(["inline policy cargo-fargate-secrets"])
    );
    assert_eq!(
        inline(&role)["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    set_fargate(dir.path(), &name, &base);
    ok(&cf(dir.path(), &["register", "--image", &image]));
    let listed = aws(&["iam", "list-role-policies", "--role-name", &role]);
    assert_eq!(listed["PolicyNames"], json!([]));
}
