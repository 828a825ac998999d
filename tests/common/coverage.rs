//! The IAM coverage runs (tests/iam.rs): a stage of one example, every command signed with an access
//! key of the stage's own, and the bench's request recorder (scripts/bench/agent/record.py) asked
//! whether a policy allows each recorded request — the API calls of that key, and the registry's
//! requests to the stage's repository (registrylog.py: the image push, as ECR authorizes it).

use super::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Output;

/// Who sent a registry request (registrylog.py): the tool, itself or through the Docker Engine
/// (the deployer); the docker CLI of a CodeBuild build (its service role); ECS pulling for a task
/// (its execution role); the bench agent recording a build's push in moto's ECR (no principal).
pub const DEPLOYER_CLIENTS: &[&str] = &["cargo-fargate", "docker-engine"];
pub const BUILD_CLIENTS: &[&str] = &["docker-cli"];
pub const TASK_CLIENTS: &[&str] = &["ecs-agent"];
const KNOWN_CLIENTS: &[&str] = &[
    "cargo-fargate",
    "docker-engine",
    "docker-cli",
    "ecs-agent",
    "bench-agent",
];

/// The inline policies of a role (as awscli reads them), as one policy document.
pub fn inline_policies(role: &str) -> Value {
    let mut statements = Vec::new();
    for name in aws(&["iam", "list-role-policies", "--role-name", role])["PolicyNames"]
        .as_array()
        .unwrap()
    {
        let doc = aws(&[
            "iam",
            "get-role-policy",
            "--role-name",
            role,
            "--policy-name",
            name.as_str().unwrap(),
        ])["PolicyDocument"]
            .clone();
        statements.extend(doc["Statement"].as_array().unwrap().iter().cloned());
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// One stage of an example project on the bench: project `name`, stage dev, settings as
/// CARGO_FARGATE_* variables, commands signed with `key` unless told otherwise.
pub struct Stage {
    pub name: String,
    pub key: String,
    pub dir: tempfile::TempDir,
    host: bool,
    env: Vec<(String, String)>,
}

/// parliament's findings on a policy (none for a clean one).
pub fn parliament(doc: &Value) -> Vec<Value> {
    let venv = env_var("BENCH_VENV");
    let out = std::process::Command::new(format!("{venv}/bin/parliament"))
        .args(["--string", &doc.to_string(), "--json"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("parliament runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("parliament prints JSON lines"))
        .collect()
}

/// A 20-character access key ID (as AWS and moto read them) of its own for `name` and `what`.
pub fn key_of(name: &str, what: &str) -> String {
    format!("AKIA{:0>16}", format!("{what}{name}").to_ascii_uppercase())[..20].to_string()
}

impl Stage {
    /// `example` (under examples/) as project `unique(prefix)`, with `builder` and these settings.
    pub fn new(prefix: &str, example: &str, builder: &str, settings: &[(&str, &str)]) -> Stage {
        let name = unique(prefix);
        let mut env: Vec<(String, String)> = vec![
            ("CARGO_FARGATE_NAME".into(), name.clone()),
            ("CARGO_FARGATE_SUBNETS".into(), net().subnet.clone()),
            ("CARGO_FARGATE_SECURITY_GROUPS".into(), net().sg.clone()),
        ];
        if builder == "codebuild" {
            env.push(("CARGO_FARGATE_BUILDER".into(), "codebuild".into()));
        }
        for (k, v) in settings {
            env.push((format!("CARGO_FARGATE_{k}"), v.to_string()));
        }
        Stage {
            key: key_of(&name, ""),
            dir: copy_fixture(&repo().join("examples").join(example)),
            host: builder == "host",
            name,
            env,
        }
    }

    pub fn family(&self) -> String {
        format!("{}-dev", self.name)
    }

    /// `cargo fargate <args>` signed with `key`, with `extra` settings on top of the stage's.
    pub fn run_as(&self, key: &str, extra: &[(&str, &str)], args: &[&str]) -> Output {
        let family = self.family();
        let mut cmd = if self.host {
            host_bench_command(self.dir.path(), &family, args)
        } else {
            bench_command(self.dir.path(), &family, args)
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(
                extra
                    .iter()
                    .map(|(k, v)| (format!("CARGO_FARGATE_{k}"), *v)),
            )
            .env("AWS_ACCESS_KEY_ID", key)
            .output()
            .unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_as(&self.key, &[], args)
    }

    /// `run` that must succeed; its JSON result.
    pub fn json(&self, args: &[&str]) -> Value {
        json_result(&self.run(&[args, &["--message-format", "json"]].concat()))
    }

    /// The generated deployer policy (`iam policy --for deployer [extra...]`), asked as `key`.
    pub fn deployer_policy(&self, extra: &[&str]) -> Value {
        let args = [&["iam", "policy", "--for", "deployer"], extra].concat();
        self.json(&args)["policy"].clone()
    }

    /// The registry requests to the stage's repository, from `clients` (all when `None`).
    pub fn registry(&self, clients: Option<&[&str]>) -> Value {
        let mut r = json!({"repository": self.family(), "region": "us-east-1"});
        if let Some(c) = clients {
            r["clients"] = json!(c);
        }
        r
    }
}

/// `GET`/`POST` (with `body`) of the recorder's `path`, JSON.
pub fn recorder(path: &str, body: Option<&Value>) -> Value {
    let endpoint = env_var("AWS_ENDPOINT_URL");
    let mut args = vec!["-s".to_string(), "--max-time".into(), "30".into()];
    if let Some(b) = body {
        args.extend([
            "-X".into(),
            "POST".into(),
            "-H".into(),
            "Content-Type: application/json".into(),
            "--data-binary".into(),
            b.to_string(),
        ]);
    }
    args.push(format!("{endpoint}{path}"));
    let o = std::process::Command::new("curl")
        .args(&args)
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!("the bench has no request recorder at {endpoint}{path} (restart it: scripts/bench.sh down && up): {}", stdout(&o))
    })
}

/// The actions recorded for `key`.
pub fn actions_of(key: &str) -> BTreeSet<String> {
    recorder(&format!("/_bench/record?key={key}"), None)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

/// The registry's requests to `repository` (every client), as ECR authorizes them.
pub fn registry_records(repository: &str) -> Vec<Value> {
    let r = recorder(
        &format!("/_bench/record/registry?repository={repository}"),
        None,
    );
    r.as_array()
        .unwrap_or_else(|| panic!("the recorder reads no registry log: {r}"))
        .clone()
}

/// The requests of `keys` that `policy` denies, of the actions starting with one of `prefixes`
/// (a service's `elasticloadbalancing:`, or one action such as `iam:PassRole`).
pub fn denied_of(keys: &[&str], policy: &Value, prefixes: &[&str]) -> Vec<Value> {
    Record::of_keys(keys).denied(policy, |a| prefixes.iter().any(|p| a.starts_with(p)))
}

/// What a policy is checked against: the requests signed with `keys`, and those of `registry`
/// (a `Stage::registry` selection).
pub struct Record {
    pub keys: Vec<String>,
    pub registry: Option<Value>,
}

impl Record {
    /// The requests signed with `keys`, without the registry's.
    pub fn of_keys(keys: &[&str]) -> Record {
        Record {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            registry: None,
        }
    }

    /// The requests `policy` denies whose action `judged` keeps.
    pub fn denied(&self, policy: &Value, judged: impl Fn(&str) -> bool) -> Vec<Value> {
        self.evaluate(policy)
            .1
            .into_iter()
            .filter(|d| judged(d["action"].as_str().unwrap_or_default()))
            .collect()
    }

    /// (requests checked, those `policy` denies).
    pub fn evaluate(&self, policy: &Value) -> (u64, Vec<Value>) {
        let mut bodies: Vec<Value> = self
            .keys
            .iter()
            .map(|k| json!({"key": k, "policy": policy}))
            .collect();
        if let Some(r) = &self.registry {
            bodies.push(json!({"registry": r, "policy": policy}));
        }
        let (mut checked, mut denied) = (0, Vec::new());
        for b in bodies {
            let r = recorder("/_bench/record/evaluate", Some(&b));
            checked += r["checked"]
                .as_u64()
                .unwrap_or_else(|| panic!("evaluate: {r}"));
            denied.extend(r["denied"].as_array().unwrap().iter().cloned());
        }
        (checked, denied)
    }

    /// Every recorded request is allowed by `policy` (parliament-clean), and without any one of
    /// its statements some request is denied (so the check can fail) — or, for a statement no
    /// request needs, parliament reports the policy without it: such a statement only states a
    /// power another one implies (s3:DeleteObject beside s3:PutLifecycleConfiguration, whose
    /// expiration rules delete objects). Returns how many requests were checked.
    pub fn assert_covered(&self, policy: &Value, what: &str) -> u64 {
        let (checked, denied) = self.evaluate(policy);
        assert!(checked > 10, "{what}: only {checked} requests recorded");
        assert_eq!(denied, Vec::<Value>::new(), "{what}: {policy:#}");
        assert_eq!(
            parliament(policy),
            Vec::<Value>::new(),
            "{what}: {policy:#}"
        );
        let all = policy["Statement"].as_array().unwrap();
        for (i, st) in all.iter().enumerate() {
            let mut fewer = all.clone();
            fewer.remove(i);
            let without = json!({"Version": "2012-10-17", "Statement": fewer});
            if self.evaluate(&without).1.is_empty() {
                let findings = parliament(&without);
                assert!(
                    !findings.is_empty(),
                    "nothing {what} does needs statement {}, nor does parliament: {st:#}",
                    st["Sid"]
                );
                eprintln!(
                    "{what}: statement {} is needed by parliament only: {}",
                    st["Sid"], findings[0]["detail"]
                );
            }
        }
        checked
    }
}

/// The actions registry requests are authorized as (registrylog.py).
const REGISTRY_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:BatchDeleteImage",
    "ecr:ListImages",
];

/// Each of `actions` is needed by the registry requests of `clients` to the stage's repository:
/// a policy granting every registry action on the repository allows those requests, one without
/// any of `actions` does not (the registry's share of the removal check, action by action).
pub fn assert_each_registry_action_needed(stage: &Stage, clients: &[&str], actions: &[&str]) {
    let arn = format!(
        "arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{}",
        stage.family()
    );
    let record = Record {
        keys: vec![],
        registry: Some(stage.registry(Some(clients))),
    };
    let grant = |actions: Vec<&str>| json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": arn}]});
    let (_, denied) = record.evaluate(&grant(REGISTRY_ACTIONS.to_vec()));
    assert_eq!(denied, Vec::<Value>::new(), "{clients:?}");
    for a in actions {
        let fewer: Vec<&str> = REGISTRY_ACTIONS
            .iter()
            .copied()
            .filter(|x| x != a)
            .collect();
        let (_, denied) = record.evaluate(&grant(fewer));
        assert!(
            !denied.is_empty() && denied.iter().all(|d| d["action"] == *a),
            "{clients:?}: without {a}: {denied:?}"
        );
    }
}

/// The registry's requests to the stage's repository: each from a known client, and `clients`
/// made the push (`want` among their actions). Returns the number of `clients`' requests that
/// ECR authorizes.
pub fn assert_pushed(stage: &Stage, clients: &[&str], want: &[&str]) -> usize {
    let records = registry_records(&stage.family());
    let mut seen = BTreeSet::new();
    let mut n = 0;
    for r in &records {
        let client = r["client"].as_str().unwrap();
        assert!(
            KNOWN_CLIENTS.contains(&client),
            "a registry request from an unknown client (who would AWS authorize it as?): {r}"
        );
        // null: a request ECR authorizes as no action (cancelling an upload)
        if let (true, Some(action)) = (clients.contains(&client), r["action"].as_str()) {
            seen.insert(action.to_string());
            n += 1;
        }
    }
    for a in want {
        assert!(
            seen.contains(*a),
            "{a} is not among {clients:?}'s registry requests: {seen:?}"
        );
    }
    n
}
