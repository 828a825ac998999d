//! Tasks that really run: `run`, `logs`, `ps` and `stop` on the bench, where the bench agent in
//! moto's process carries out every task on the local Docker Engine. The image is the probe
//! (tests/fixtures/probe: PROBE_* env vars say what it prints, how long it waits, how it exits and
//! how it takes SIGTERM), so exit codes, stop codes and log lines are the containers' own. Checked
//! through awscli, a different client than the one under test.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Stops a task through awscli without waiting: a test's cleanup, so that no probe sleeps on.
fn stop_quietly(cluster: &str, arn: &str) {
    aws_try(&["ecs", "stop-task", "--cluster", cluster, "--task", arn]);
}

/// The probe's behaviour as `[package.metadata.fargate.environment]` entries.
fn probe_env(vars: &[(&str, &str)]) -> String {
    let mut s = String::from("[package.metadata.fargate.environment]\n");
    for (k, v) in vars {
        s.push_str(&format!("{k} = {}\n", json!(v)));
    }
    s
}

/// Waits until a task's log stream holds `line` (the container is up and has done that much).
fn wait_for_log(group: &str, stream: &str, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_messages(group, stream).iter().any(|m| m == line) {
        assert!(
            Instant::now() < deadline,
            "`{line}` never reached {group} {stream}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn run_uses_the_network_streams_logs_while_waiting_and_exits_when_stopped() {
    let name = unique("run");
    let env = probe_env(&[
        ("PROBE_LINES", "hello from the task|second line"),
        ("PROBE_ENV", "EXTRA"),
        ("PROBE_SLEEP", "4"),
    ]);
    let dir = project(&name, &networked(&env));
    let image = probe_image();
    let family = format!("{name}-dev");
    let mut child = cf_spawn(
        dir.path(),
        &[
            "run",
            "--image",
            image,
            "-e",
            "EXTRA=1",
            "--message-format",
            "json",
            "--",
            "migrate",
            "--dry-run",
        ],
    );
    let out = lines_of(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let started = wait_for_line(&out, &mut seen, |l| l.contains("\"step\":\"started\""));
    let started: Value = serde_json::from_str(&started).unwrap();
    let arn = started["message"]
        .as_str()
        .unwrap()
        .trim_start_matches("task ")
        .to_string();
    let id = arn.rsplit('/').next().unwrap().to_string();
    let status = wait_child(&mut child);
    seen.extend(out.iter());
    let events: Vec<Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let logs: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "log")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    // What the container wrote: the command override and the -e variable reached it.
    let written = [
        "args: migrate --dry-run",
        "hello from the task",
        "second line",
        "EXTRA=1",
    ];
    assert_eq!(logs, written, "{events:?}");
    // Printed while the task ran, not only once it had stopped.
    let first_log = events.iter().position(|e| e["type"] == "log").unwrap();
    let stopped = events
        .iter()
        .position(|e| e["step"] == "status" && e["message"] == "STOPPED")
        .unwrap_or_else(|| panic!("no STOPPED status: {events:?}"));
    assert!(first_log < stopped, "{events:?}");
    let result = events.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["tasks"][0]["last_status"], "STOPPED");
    assert_eq!(result["tasks"][0]["containers"][0]["exit_code"], 0);
    assert_eq!(result["exit_code"], 0);
    assert_eq!(status.code(), Some(0));

    // RunTask got the configured network, launch type, overrides and tags.
    let described = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &family,
        "--tasks",
        &arn,
        "--include",
        "TAGS",
    ]);
    let task = &described["tasks"][0];
    assert_eq!(task["launchType"], "FARGATE");
    assert_eq!(task["startedBy"], "cargo-fargate");
    assert_eq!(task["stopCode"], "EssentialContainerExited");
    let details = task["attachments"][0]["details"].as_array().unwrap();
    let detail = |n: &str| {
        details.iter().find(|d| d["name"] == n).unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(detail("subnetId"), net().subnet);
    let eni = aws(&[
        "ec2",
        "describe-network-interfaces",
        "--network-interface-ids",
        &detail("networkInterfaceId"),
    ]);
    assert_eq!(
        eni["NetworkInterfaces"][0]["Groups"][0]["GroupId"],
        net().sg.as_str()
    );
    assert_eq!(eni["NetworkInterfaces"][0]["VpcId"], net().vpc.as_str());
    let o = &task["overrides"]["containerOverrides"][0];
    assert_eq!(o["name"], name.as_str());
    assert_eq!(o["command"], json!(["migrate", "--dry-run"]));
    assert_eq!(o["environment"], json!([{"name": "EXTRA", "value": "1"}]));
    assert!(task["tags"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "cargo-fargate:stage", "value": "dev"})));

    // logs shows what the task wrote, afterwards too; ps --all the stopped task.
    let logs = ok(&cf(dir.path(), &["logs", "--task", &id]));
    assert_eq!(logs, format!("{}\n", written.join("\n")));
    let all = ok(&cf(dir.path(), &["logs"]));
    let prefixed: Vec<String> = written
        .iter()
        .map(|l| format!("[{}] {l}\n", &id[..8]))
        .collect();
    assert_eq!(all, prefixed.concat());
    let ps = json_result(&cf(
        dir.path(),
        &["ps", "--all", "--message-format", "json"],
    ));
    assert_eq!(ps["tasks"][0]["id"], id.as_str());
    assert_eq!(ps["tasks"][0]["last_status"], "STOPPED");
    let text = ok(&cf(dir.path(), &["ps", "--all"]));
    assert!(text.lines().nth(1).unwrap().starts_with(&id), "{text}");
}

#[test]
fn run_detached_prints_the_arn_and_logs_ps_and_stop_act_on_running_tasks() {
    let name = unique("det");
    let env = probe_env(&[
        ("PROBE_LINES", "started|sleep:5|still running"),
        ("PROBE_SLEEP", "300"),
    ]);
    let dir = project(&name, &networked(&env));
    let image = probe_image();
    let family = format!("{name}-dev");
    let r = json_result(&cf(
        dir.path(),
        &[
            "run",
            "--image",
            image,
            "--detach",
            "--count",
            "2",
            "--message-format",
            "json",
        ],
    ));
    assert_eq!(r["detached"], true);
    assert_eq!(r["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(r["network"]["subnets"], json!([net().subnet]));
    assert_eq!(r["network"]["security_groups"], json!([net().sg]));
    let listed = aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        &family,
        "--family",
        &family,
    ]);
    assert_eq!(listed["taskArns"].as_array().unwrap().len(), 2);
    // logs -f follows every task of the stage until Ctrl-C: the second line of each comes 5 s
    // after its first, while logs -f runs.
    let first = r["tasks"][0]["id"].as_str().unwrap().to_string();
    let second = r["tasks"][1]["id"].as_str().unwrap().to_string();
    let mut follow = cf_spawn(dir.path(), &["logs", "-f"]);
    let followed = lines_of(follow.stdout.take().unwrap());
    let mut seen = Vec::new();
    for id in [&first, &second] {
        let want = format!("[{}] still running", &id[..8]);
        if !seen.contains(&want) {
            wait_for_line(&followed, &mut seen, |l| l == want);
        }
    }
    interrupt(&follow);
    assert_eq!(wait_child(&mut follow).code(), Some(0));
    seen.extend(followed.iter());
    seen.sort();
    let mut want: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|id| ["started", "still running"].map(|l| format!("[{}] {l}", &id[..8])))
        .collect();
    want.sort();
    assert_eq!(seen, want, "each event once");

    // ps finds them; stop takes an ID, or --all.
    let ps = json_result(&cf(dir.path(), &["ps", "--message-format", "json"]));
    let ids = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let running = ids(&ps["tasks"]);
    assert_eq!(running, ids(&r["tasks"]));
    assert_eq!(ps["tasks"][0]["desired_status"], "RUNNING");
    assert_eq!(ps["tasks"][0]["last_status"], "RUNNING");
    assert_eq!(ps["tasks"][0]["started_by"], "cargo-fargate");
    let one = json_result(&cf(
        dir.path(),
        &["stop", &running[0], "--message-format", "json"],
    ));
    assert_eq!(one["stopped"].as_array().unwrap().len(), 1);
    assert!(one["stopped"][0].as_str().unwrap().ends_with(&running[0]));
    one_line_error(
        &cf(dir.path(), &["stop", &running[0]]),
        &format!("task `{}` is not a running task of {family}", running[0]),
    );
    let rest = json_result(&cf(
        dir.path(),
        &["stop", "--all", "--message-format", "json"],
    ));
    assert_eq!(rest["stopped"].as_array().unwrap().len(), 1);
    assert!(rest["stopped"][0].as_str().unwrap().ends_with(&running[1]));
    assert_eq!(
        ok(&cf(dir.path(), &["ps"])),
        format!("no tasks of {family} in cluster {family}\n")
    );
    // Each probe got SIGTERM, said so, and exited with it.
    for id in &running {
        let task = wait_stopped(&family, id, 60);
        assert_eq!(task["stopCode"], "UserInitiated", "{task}");
        assert_eq!(task["containers"][0]["exitCode"], 143, "{task}");
        let logs = ok(&cf(dir.path(), &["logs", "--task", id]));
        assert!(logs.ends_with("got SIGTERM\n"), "{logs}");
    }
    // A second run reuses the registered revision; the human form is the ARN alone.
    let text = ok(&cf(dir.path(), &["run", "--image", image, "-d"]));
    assert!(
        text.starts_with("arn:aws:ecs:us-east-1:123456789012:task/"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(revisions(&family).len(), 1);
    stop_quietly(&family, text.trim());
}

/// Ctrl-C stops following (exit 130, the task keeps running); with --stop-on-interrupt it stops
/// the task too.
#[test]
fn ctrl_c_stops_following_and_optionally_the_task() {
    let name = unique("int");
    let env = probe_env(&[("PROBE_LINES", "waiting"), ("PROBE_SLEEP", "300")]);
    let dir = project(&name, &networked(&env));
    let image = probe_image();
    let family = format!("{name}-dev");
    for stop in [false, true] {
        let mut args = vec!["run", "--image", image];
        if stop {
            args.push("--stop-on-interrupt");
        }
        let mut child = cf_spawn(dir.path(), &args);
        let err = lines_of(child.stderr.take().unwrap());
        let out = lines_of(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        let started = wait_for_line(&err, &mut seen, |l| l.contains("Started task arn:"));
        let arn = started.split_whitespace().last().unwrap().to_string();
        interrupt(&child);
        let status = wait_child(&mut child);
        seen.extend(err.iter());
        assert_eq!(status.code(), Some(130), "{seen:?}");
        let printed: Vec<String> = out.iter().filter(|l| l != "waiting").collect();
        assert_eq!(
            printed,
            std::slice::from_ref(&arn),
            "the task's ARN is the result"
        );
        let task = &aws(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            &family,
            "--tasks",
            &arn,
        ])["tasks"][0];
        if stop {
            assert!(seen.iter().any(|l| l.contains("Stopped task")), "{seen:?}");
            assert_eq!(task["desiredStatus"], "STOPPED");
            assert_eq!(
                task["stoppedReason"],
                "interrupted: cargo fargate run --stop-on-interrupt"
            );
            let stopped = wait_stopped(&family, &arn, 60);
            assert_eq!(stopped["stopCode"], "UserInitiated");
        } else {
            let id = arn.rsplit('/').next().unwrap();
            let warning = seen.iter().find(|l| l.starts_with("warning: ")).unwrap();
            assert!(
                warning.contains(&format!("cargo fargate stop {id}")),
                "{warning}"
            );
            assert_eq!(task["desiredStatus"], "RUNNING");
            stop_quietly(&family, &arn);
        }
    }
}

#[test]
fn the_essential_containers_exit_code_is_runs_exit_code() {
    let name = unique("ex3");
    let dir = project(&name, &networked(&probe_env(&[("PROBE_LINES", "failing")])));
    let o = cf(
        dir.path(),
        &["run", "--image", probe_image(), "-e", "PROBE_EXIT=3"],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{}", stderr(&o));
    assert!(
        out.starts_with("failing\n"),
        "the container's own line: {out}"
    );
    assert!(out.contains(&format!("  {name} exited 3")), "{out}");
    assert!(out.ends_with("exit code 3\n"), "{out}");
}

#[test]
fn an_image_that_cannot_be_pulled_exits_125_with_ecs_reason() {
    let name = unique("pull");
    let dir = project(&name, &networked(""));
    let image = unpullable_image();
    let o = cf(dir.path(), &["run", "--image", &image]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(125), "{out}{}", stderr(&o));
    assert!(
        out.contains(&format!(
            "TaskFailedToStart: CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref {image}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("  {name} did not run: CannotPullContainerError:")),
        "{out}"
    );
}

/// A user's template with a non-essential sidecar: its failure is reported, the essential
/// container decides.
#[test]
fn a_failing_sidecar_does_not_decide_the_exit_code() {
    let name = unique("side");
    let env = probe_env(&[("PROBE_LINES", "app working|sleep:2|app done")]);
    let dir = project(
        &name,
        &networked(&format!("task-template = \"td.json\"\n{env}")),
    );
    let sidecar = r#"    },
    {
      "name": "sidecar",
      "image": {{ image | tojson }},
      "essential": false,
      "environment": [{"name": "PROBE_LINES", "value": "sidecar failing"}, {"name": "PROBE_EXIT", "value": "2"}],
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": {{ log_group | tojson }},
          "awslogs-region": {{ region | tojson }},
          "awslogs-stream-prefix": {{ log_stream_prefix | tojson }}
        }
      }
    }
  ],
  "tags""#;
    let template = std::fs::read_to_string(repo().join("task-templates/task-definition.json"))
        .unwrap()
        .replacen("    }\n  ],\n  \"tags\"", sidecar, 1);
    assert!(template.contains("sidecar failing"));
    std::fs::write(dir.path().join("td.json"), template).unwrap();

    let r = json_result(&cf(
        dir.path(),
        &["run", "--image", probe_image(), "--message-format", "json"],
    ));
    assert_eq!(r["exit_code"], 0, "{r}");
    let containers = &r["tasks"][0]["containers"];
    let of = |n: &str| {
        containers
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {containers}"))
            .clone()
    };
    assert_eq!(of("sidecar")["exit_code"], 2);
    assert_eq!(of("sidecar")["essential"], false);
    assert_eq!(of(&name)["exit_code"], 0);
    // The sidecar exited first, and the task ran on until the app was done.
    let group = format!("/ecs/{name}-dev");
    let id = r["tasks"][0]["id"].as_str().unwrap();
    assert_eq!(
        log_messages(&group, &format!("dev/sidecar/{id}")),
        ["sidecar failing"]
    );
    assert_eq!(
        log_messages(&group, &format!("dev/{name}/{id}")),
        ["app working", "app done"]
    );
    // The other way round, the app's code wins.
    let o = cf(
        dir.path(),
        &["run", "--image", probe_image(), "-e", "PROBE_EXIT=4"],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("  sidecar (not essential) exited 2"),
        "{}",
        stdout(&o)
    );
}

/// `stop`: SIGTERM first; a container that ignores it is killed once its stop-timeout is over.
#[test]
fn stop_sends_sigterm_and_kills_a_container_that_ignores_it_after_its_stop_timeout() {
    let name = unique("term");
    let env = probe_env(&[("PROBE_LINES", "up"), ("PROBE_SLEEP", "300")]);
    let dir = project(&name, &networked(&format!("stop-timeout = 3\n{env}")));
    let family = format!("{name}-dev");
    let group = format!("/ecs/{family}");
    let mut tasks = Vec::new();
    for extra in [&[][..], &["-e", "PROBE_ON_TERM=ignore"][..]] {
        let args = [&["run", "--image", probe_image(), "-d"][..], extra].concat();
        let arn = ok(&cf(dir.path(), &args)).trim().to_string();
        let id = arn.rsplit('/').next().unwrap().to_string();
        wait_for_log(&group, &format!("dev/{name}/{id}"), "up");
        tasks.push((arn, id));
    }
    let asked = Instant::now();
    ok(&cf(
        dir.path(),
        &["stop", "--all", "--reason", "maintenance"],
    ));
    let polite = wait_stopped(&family, &tasks[0].0, 60);
    // 143 = 128 + SIGTERM: the probe ended on TERM, not on the SIGKILL after stop-timeout (137).
    // (No wall-clock assertion: a loaded machine makes `stop` itself slow.)
    assert_eq!(polite["containers"][0]["exitCode"], 143, "{polite}");
    assert_eq!(polite["stopCode"], "UserInitiated");
    assert_eq!(polite["stoppedReason"], "maintenance");
    assert_eq!(
        log_messages(&group, &format!("dev/{name}/{}", tasks[0].1)),
        ["up", "got SIGTERM"]
    );
    let stubborn = wait_stopped(&family, &tasks[1].0, 60);
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(3),
        "killed before its stop-timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(
        stubborn["containers"][0]["exitCode"], 137,
        "SIGKILL: {stubborn}"
    );
    assert_eq!(
        log_messages(&group, &format!("dev/{name}/{}", tasks[1].1)),
        ["up", "got SIGTERM, ignoring it"]
    );
}

/// A secret (an SSM SecureString read by the managed execution role) reaches the process as an
/// env var, and is found nowhere else: not in the task definition, not in ECS's view of the task,
/// not in cargo-fargate's output, not in the logs, where the probe prints only its hash. The task
/// role's credentials are served to the container, not put in its environment.
#[test]
fn a_secret_reaches_the_process_and_nowhere_else() {
    use sha2::{Digest, Sha256};
    let name = unique("sec");
    let value = format!("s3cr3t-{}", unique(""));
    aws(&[
        "ssm",
        "put-parameter",
        "--name",
        &format!("/{name}/token"),
        "--type",
        "SecureString",
        "--value",
        &value,
    ]);
    let n = net();
    let env = probe_env(&[
        ("PROBE_HASH", "TOKEN"),
        ("PROBE_CREDS", "1"),
        (
            "PROBE_ENV",
            "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_REGION",
        ),
    ]);
    let dir = project(
        &name,
        &format!(
            // The probe image lives in another repository than the stage's: the default (scoped)
            // execution policy lets ECS pull it because it is the image being registered.
            "subnets = [\"{}\"]\nsecurity-groups = [\"{}\"]\n[package.metadata.fargate.secrets]\nTOKEN = \"/{name}/token\"\n{env}",
            n.subnet, n.sg
        ),
    );
    let o = cf(dir.path(), &["run", "--image", probe_image()]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let hash = hex::encode(Sha256::digest(value.as_bytes()));
    let family = format!("{name}-dev");
    assert!(out.contains(&format!("sha256(TOKEN)={hash}\n")), "{out}");
    assert!(
        out.contains(&format!(
            "task role: arn:aws:iam::{ACCOUNT}:role/{family}-task; credentials: yes\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "AWS_ACCESS_KEY_ID=<unset>\nAWS_SECRET_ACCESS_KEY=<unset>\nAWS_REGION=us-east-1\n"
        ),
        "{out}"
    );

    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &family,
    ]);
    let arn = aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        &family,
        "--desired-status",
        "STOPPED",
    ])["taskArns"][0]
        .as_str()
        .unwrap()
        .to_string();
    let task = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &family,
        "--tasks",
        &arn,
    ]);
    let id = arn.rsplit('/').next().unwrap();
    let logs = log_messages(&format!("/ecs/{family}"), &format!("dev/{name}/{id}"));
    assert!(logs.contains(&format!("sha256(TOKEN)={hash}")), "{logs:?}");
    for (what, text) in [
        ("the task definition", td.to_string()),
        ("DescribeTasks", task.to_string()),
        ("cargo-fargate's stdout", out),
        ("cargo-fargate's stderr", err),
        ("the task's log stream", logs.join("\n")),
    ] {
        assert!(!text.contains(&value), "the secret's value is in {what}");
    }
}
