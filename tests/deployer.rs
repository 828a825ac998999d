//! The deployer identity on the bench: `setup --ci github` makes the OIDC provider and the
//! `{project}-{stage}-deployer` role; a deploy with no access keys at all — only `AWS_ROLE_ARN` and
//! `AWS_WEB_IDENTITY_TOKEN_FILE` — takes the role through the SDK's default chain and succeeds, every
//! request it makes allowed by the role's policy (the bench's recorder); a token of another
//! repository or branch is refused (the bench agent evaluates the trust policy's conditions,
//! scripts/bench/agent/oidc.py). Bad flags: one line each, nothing created.

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

/// An unsigned JWT (`alg: none`) with `claims`: the bench does not verify signatures (there is
/// no issuer to fetch keys from), AWS does.
fn jwt(claims: &Value) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// parliament's findings on a trust policy, less the two it makes on every trust policy of this
/// kind: no `Resource` (a trust policy must have none: IAM refuses one) and an OIDC provider ARN
/// as `Federated` (it knows SAML providers and four web identity providers only).
fn trust_findings(doc: &Value) -> Vec<Value> {
    parliament(doc)
        .into_iter()
        .filter(|f| {
            let no_resource = f["issue"] == "MALFORMED"
                && f["detail"] == "Statement contains neither Resource nor NotResource";
            let oidc = f["issue"] == "UNKNOWN_FEDERATION_SOURCE"
                && f["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(":oidc-provider/"));
            !(no_resource || oidc)
        })
        .collect()
}

fn github_token(sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jwt(&json!({
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sts.amazonaws.com",
        "sub": sub,
        "exp": exp,
    }))
}

/// What awscli's AssumeRoleWithWebIdentity answers for `token`.
fn assume(role: &str, token: &str) -> std::process::Output {
    aws_try(&[
        "sts",
        "assume-role-with-web-identity",
        "--role-arn",
        role,
        "--role-session-name",
        "ci",
        "--web-identity-token",
        token,
    ])
}

#[test]
fn a_github_actions_deploy_takes_the_role_through_oidc_without_any_key() {
    let name = unique("oidc");
    let dir = stage_fixture();
    let repo = format!("acme/{name}");
    let setup = json_result(&cfg(
        dir.path(),
        &name,
        "dev",
        &[
            "setup", "--ci", "github", "--repo", &repo, "--branch", "main",
        ],
    ));
    let role_arn = setup["deployer_role"].as_str().unwrap().to_string();
    let role = format!("{name}-dev-deployer");
    assert!(role_arn.ends_with(&format!(":role/{role}")), "{setup}");
    let trust =
        aws(&["iam", "get-role", "--role-name", &role])["Role"]["AssumeRolePolicyDocument"].clone();
    let cond = &trust["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(
        cond["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        cond["token.actions.githubusercontent.com:sub"],
        format!("repo:{repo}:ref:refs/heads/main").as_str()
    );
    let policy = inline_policies(&role);
    assert_eq!(trust_findings(&trust), Vec::<Value>::new(), "{trust:#}");
    assert_eq!(parliament(&policy), Vec::<Value>::new(), "{policy:#}");
    // A second setup changes nothing.
    let again = json_result(&cfg(
        dir.path(),
        &name,
        "dev",
        &[
            "setup", "--ci", "github", "--repo", &repo, "--branch", "main",
        ],
    ));
    assert_eq!(again["changed"], 0, "{again}");

    // The trust is evaluated: another branch, another repository, another audience are refused.
    let main = github_token(&format!("repo:{repo}:ref:refs/heads/main"));
    assert!(
        assume(&role_arn, &main).status.success(),
        "{}",
        stderr(&assume(&role_arn, &main))
    );
    for sub in [
        format!("repo:{repo}:ref:refs/heads/feature"),
        "repo:acme/other:ref:refs/heads/main".to_string(),
        format!("repo:{repo}:pull_request"),
    ] {
        let o = assume(&role_arn, &github_token(&sub));
        assert!(
            !o.status.success() && stderr(&o).contains("AccessDenied"),
            "{sub}: {}",
            stderr(&o)
        );
    }

    // The deploy: no keys, only the role and the token file.
    let tokens = tempfile::tempdir().unwrap();
    let token_file = tokens.path().join("token");
    std::fs::write(&token_file, &main).unwrap();
    let deploy = |token: &std::path::Path| {
        let mut cmd = bench_command(
            dir.path(),
            &format!("{name}-dev"),
            &["deploy", "--stage", "dev", "--message-format", "json"],
        );
        cmd.env("CARGO_FARGATE_NAME", &name)
            .env("CARGO_FARGATE_SUBNETS", &net().subnet)
            .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
            .env_remove("CARGO_FARGATE_REPOSITORY")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", tokens.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", tokens.path().join("none"))
            .env("AWS_ROLE_ARN", &role_arn)
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", token)
            .env("AWS_ROLE_SESSION_NAME", format!("gha-{name}"));
        cmd.output().unwrap()
    };
    let result = json_result(&deploy(&token_file));
    assert_eq!(result["exit_code"], 0, "{result}");

    // Every request of the role's session is allowed by the role's own policy.
    let records = recorder("/_bench/record", None);
    let family = format!("{name}-dev");
    let mut keys: Vec<String> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "ecs:RunTask" && r["resource"].to_string().contains(&family))
        .map(|r| r["key"].as_str().unwrap().to_string())
        .filter(|k| k != "testing")
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), 1, "the deploy's session key: {keys:?}");
    let (checked, denied) = Record {
        keys,
        registry: None,
    }
    .evaluate(&policy);
    assert!(checked > 10, "only {checked} requests recorded");
    assert_eq!(denied, Vec::<Value>::new(), "{policy:#}");

    // A token for another branch gets nothing deployed.
    let feature = tokens.path().join("feature");
    std::fs::write(
        &feature,
        github_token(&format!("repo:{repo}:ref:refs/heads/feature")),
    )
    .unwrap();
    let o = deploy(&feature);
    assert!(!o.status.success(), "{}", stdout(&o));
}

#[test]
fn people_get_a_profile_that_takes_the_role() {
    let name = unique("ppl");
    let dir = stage_fixture();
    let alice = format!("arn:aws:iam::123456789012:user/{name}-alice");
    let r = json_result(&cfg(
        dir.path(),
        &name,
        "dev",
        &["setup", "--deployer-trust", &alice],
    ));
    let profile = r["profile"].as_str().unwrap();
    assert!(
        profile.contains(&format!(
            "role_arn = {}",
            r["deployer_role"].as_str().unwrap()
        )),
        "{profile}"
    );
    assert!(profile.contains("source_profile = "), "{profile}");
    let trust = aws(&[
        "iam",
        "get-role",
        "--role-name",
        &format!("{name}-dev-deployer"),
    ])["Role"]["AssumeRolePolicyDocument"]
        .clone();
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        json!([alice]),
        "{trust}"
    );
    assert_eq!(trust_findings(&trust), Vec::<Value>::new(), "{trust:#}");
    // teardown removes it with the stage.
    json_result(&cfg(
        dir.path(),
        &name,
        "dev",
        &["teardown", "--yes", "--force"],
    ));
    assert!(!role_exists(&format!("{name}-dev-deployer")));
}

#[test]
fn bad_flags_are_one_line_and_create_nothing() {
    let name = unique("badci");
    let dir = stage_fixture();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--ci", "github", "--repo", "acme"],
            "`acme` is not OWNER/NAME",
        ),
        (
            &["--ci", "jenkins", "--repo", "acme/api"],
            "unknown CI `jenkins`",
        ),
        (&["--ci", "github"], "--ci github needs --repo"),
        (
            &["--deployer-trust", "arn:aws:iam::999999999999:user/x"],
            "not an IAM user or role ARN of account 123456789012",
        ),
    ];
    for (flags, needle) in cases {
        let args = [&["setup"], flags].concat();
        one_line_error(&cfg(dir.path(), &name, "dev", &args), needle);
    }
    // An OIDC provider that exists with another audience is the account owner's to change.
    let host = format!("gitlab-{name}.example.com");
    aws(&[
        "iam",
        "create-open-id-connect-provider",
        "--url",
        &format!("https://{host}"),
        "--client-id-list",
        "other-audience",
        "--thumbprint-list",
        &"a".repeat(40),
    ]);
    let e = one_line_error(
        &cfg(
            dir.path(),
            &name,
            "dev",
            &[
                "setup",
                "--ci",
                "gitlab",
                "--repo",
                "group/app",
                "--gitlab-url",
                &format!("https://{host}"),
            ],
        ),
        "exists with audience other-audience but not sts.amazonaws.com",
    );
    assert!(
        e.contains("add-client-id-to-open-id-connect-provider"),
        "{e}"
    );
    assert!(
        repository_tags(&format!("{name}-dev")).is_none(),
        "nothing created"
    );
    assert!(!cluster_active(&format!("{name}-dev")));
    assert!(!role_exists(&format!("{name}-dev-deployer")));
}

#[test]
fn doctor_warns_when_a_ci_job_deploys_with_long_lived_keys() {
    let name = unique("cikey");
    let dir = stage_fixture();
    aws(&["iam", "create-user", "--user-name", &name]);
    let key = aws(&["iam", "create-access-key", "--user-name", &name])["AccessKey"].clone();
    let doctor = |ci: Option<&str>| {
        let mut cmd = bench_command(
            dir.path(),
            &format!("{name}-dev"),
            &["doctor", "--message-format", "json"],
        );
        cmd.env("CARGO_FARGATE_NAME", &name)
            .env("CARGO_FARGATE_SUBNETS", &net().subnet)
            .env("AWS_ACCESS_KEY_ID", key["AccessKeyId"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                key["SecretAccessKey"].as_str().unwrap(),
            )
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITLAB_CI")
            .env_remove("CI");
        if let Some(var) = ci {
            cmd.env(var, "true");
        }
        let out = cmd.output().unwrap();
        let r: Value = stdout(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .rfind(|v| v["type"] == "result")
            .unwrap_or_else(|| panic!("{}", stderr(&out)));
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "ci-credentials")
            .cloned()
    };
    assert_eq!(doctor(None), None);
    let warned = doctor(Some("GITHUB_ACTIONS")).expect("a ci-credentials check");
    assert_eq!(warned["status"], "warn");
    assert!(
        warned["message"]
            .as_str()
            .unwrap()
            .contains("GitHub Actions"),
        "{warned}"
    );
    assert!(
        warned["fix"]
            .as_str()
            .unwrap()
            .contains("cargo fargate setup --ci github"),
        "{warned}"
    );
    let gitlab = doctor(Some("GITLAB_CI")).expect("a ci-credentials check");
    assert!(
        gitlab["fix"].as_str().unwrap().contains("--ci gitlab"),
        "{gitlab}"
    );
}
