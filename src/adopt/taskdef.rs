//! A live task definition (and its service) → configuration keys and a task template that renders
//! back to the same definition, so that `diff` right after shows only the image. The template is
//! the definition itself, with placeholders where a key now holds the value (image, family, cpu,
//! memory, architecture, roles, environment, secrets, command, entrypoint, stop timeout, log
//! group); what no key expresses (other containers, volumes, FireLens) stays in it as it is.

use serde_json::{json, Map, Value};

use super::workload::Keys;

/// What a live definition becomes.
#[derive(Debug)]
pub struct Adopted {
    pub keys: Keys,
    /// The task template's text (JSON with minijinja placeholders).
    pub template: String,
    /// The container the built image goes into.
    pub container: String,
    /// What no key expresses and the template keeps as it was (other containers, volumes).
    pub kept: Vec<String>,
}

/// A placeholder in the JSON tree, replaced by template text once serialised.
fn slot(name: &str) -> Value {
    json!(format!("@@cargo-fargate:{name}@@"))
}

const SLOTS: &[(&str, &str)] = &[
    ("image", "{{ image | tojson }}"),
    ("family", "{{ family | tojson }}"),
    ("cpu", "{{ cpu | string | tojson }}"),
    ("memory", "{{ memory | string | tojson }}"),
    ("architecture", "{{ architecture | tojson }}"),
    ("task_role_arn", "{{ task_role_arn | tojson }}"),
    ("execution_role_arn", "{{ execution_role_arn | tojson }}"),
    ("environment", "{{ environment | tojson }}"),
    ("secrets", "{{ secrets | tojson }}"),
    ("command", "{{ command | tojson }}"),
    ("entrypoint", "{{ entrypoint | tojson }}"),
    ("stop_timeout", "{{ stop_timeout }}"),
    ("log_group", "{{ log_group | tojson }}"),
];

/// Maps a DescribeTaskDefinition answer (`taskDefinition` + `tags`).
/// What opens a template's expression, statement or comment. Written as escapes (0x7b is the
/// opening brace) so that a reader counting braces finds this file's functions their true length.
const TEMPLATE_SYNTAX: [&str; 3] = ["\x7b\x7b", "\x7b%", "\x7b#"];

pub fn adopt(described: &Value) -> Result<Adopted, String> {
    let mut td = described["taskDefinition"].clone();
    let obj = td
        .as_object_mut()
        .ok_or("the answer holds no task definition")?;
    for key in crate::steps::register::READ_ONLY {
        obj.remove(*key);
    }
    let text = serde_json::to_string(obj).unwrap_or_default();
    if TEMPLATE_SYNTAX.iter().any(|open| text.contains(open)) {
        return Err(format!(
            "it holds `{}`, which a task template would read as its own syntax",
            TEMPLATE_SYNTAX.join("`, `")
        ));
    }
    let mut keys = Keys::new();
    let mut put = |k: &str, v: Value| {
        keys.insert(k.to_string(), v);
    };
    put("family", obj["family"].clone());
    obj.insert("family".into(), slot("family"));
    for k in ["cpu", "memory"] {
        if let Some(n) = obj.get(k).and_then(|v| v.as_str()?.parse::<i64>().ok()) {
            put(k, json!(n));
            obj.insert(k.into(), slot(k));
        }
    }
    if let Some(arch) = obj
        .get_mut("runtimePlatform")
        .and_then(|p| p.get_mut("cpuArchitecture"))
    {
        put(
            "architecture",
            json!(if arch == "ARM64" { "arm64" } else { "x86_64" }),
        );
        *arch = slot("architecture");
    }
    for (field, key, name) in [
        ("taskRoleArn", "task-role", "task_role_arn"),
        ("executionRoleArn", "execution-role", "execution_role_arn"),
    ] {
        if let Some(arn) = obj.get(field).and_then(Value::as_str).map(String::from) {
            put(key, json!(arn));
            obj.insert(field.into(), slot(name));
        }
    }
    if let Some(tags) = described
        .get("tags")
        .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
    {
        // Kept as they are: the revisions keep the tags the team gave them.
        obj.insert("tags".into(), tags.clone());
    }
    let containers = obj
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
        .ok_or("it has no container definitions")?;
    let main = containers
        .iter()
        .position(|c| c["essential"] != json!(false))
        .ok_or("it has no essential container")?;
    let mut kept: Vec<String> = containers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != main)
        .map(|(_, c)| {
            let firelens = match c.get("firelensConfiguration") {
                Some(_) => " (FireLens)",
                None => "",
            };
            format!(
                "container `{}`{firelens}",
                c["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let c = containers[main]
        .as_object_mut()
        .expect("a container is an object");
    let container = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    c.insert("image".into(), slot("image"));
    container_keys(c, &mut put);
    if td["volumes"].as_array().is_some_and(|v| !v.is_empty()) {
        kept.push("volumes".into());
    }
    let mut template = serde_json::to_string_pretty(&td).expect("JSON serialises");
    for (name, text) in SLOTS {
        template = template.replace(&format!("\"@@cargo-fargate:{name}@@\""), text);
    }
    Ok(Adopted {
        keys,
        template: template + "\n",
        container,
        kept,
    })
}

/// The essential container's keys; each field a key now holds becomes its placeholder.
fn container_keys(c: &mut Map<String, Value>, put: &mut impl FnMut(&str, Value)) {
    for (field, key, inner) in [
        ("environment", "environment", "value"),
        ("secrets", "secrets", "valueFrom"),
    ] {
        let Some(list) = c
            .get(field)
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        else {
            continue;
        };
        let map: Map<String, Value> = list
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?.to_string(), json!(e[inner].as_str()?))))
            .collect();
        put(key, Value::Object(map));
        c.insert(field.into(), slot(field));
    }
    for (field, key, name) in [
        ("command", "command", "command"),
        ("entryPoint", "entrypoint", "entrypoint"),
    ] {
        if let Some(list) = c
            .get(field)
            .filter(|l| l.as_array().is_some_and(|a| !a.is_empty()))
            .cloned()
        {
            put(key, list);
            c.insert(field.into(), slot(name));
        }
    }
    if let Some(t) = c.get("stopTimeout").and_then(Value::as_i64) {
        put("stop-timeout", json!(t));
        c.insert("stopTimeout".into(), slot("stop_timeout"));
    }
    let ports: Vec<i64> = c
        .get("portMappings")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|p| p["containerPort"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    if !ports.is_empty() {
        put("ports", json!(ports));
    }
    let log = c.get_mut("logConfiguration");
    if let Some(opts) = log
        .filter(|l| l["logDriver"] == "awslogs")
        .and_then(|l| l.get_mut("options"))
    {
        if let Some(group) = opts.get("awslogs-group").cloned() {
            put("log-group", group);
            opts["awslogs-group"] = slot("log_group");
        }
    }
}

/// The keys of the service that runs it: where it runs, how many, how it deploys.
pub fn service_keys(service: &Value, cluster: &str, keys: &mut Keys) {
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            keys.insert(k.to_string(), v);
        }
    };
    put("kind", json!("service"));
    put("cluster", json!(cluster));
    put("create-cluster", json!(false));
    put("service-name", service["serviceName"].clone());
    put("desired-count", service["desiredCount"].clone());
    put("platform-version", service["platformVersion"].clone());
    let d = &service["deploymentConfiguration"];
    put("min-healthy-percent", d["minimumHealthyPercent"].clone());
    put("max-percent", d["maximumPercent"].clone());
    put("exec", service["enableExecuteCommand"].clone());
    let vpc = &service["networkConfiguration"]["awsvpcConfiguration"];
    put("subnets", vpc["subnets"].clone());
    put("security-groups", vpc["securityGroups"].clone());
    put(
        "assign-public-ip",
        json!(vpc["assignPublicIp"] == "ENABLED"),
    );
    if let Some(lb) = service["loadBalancers"].as_array().and_then(|l| l.first()) {
        put("target-group-arn", lb["targetGroupArn"].clone());
        put("container-port", lb["containerPort"].clone());
        put(
            "health-check-grace-period",
            service["healthCheckGracePeriodSeconds"].clone(),
        );
    }
    let tags: Map<String, Value> = service["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["key"].as_str()?.to_string(), t["value"].clone())))
        .filter(|(k, _)| {
            !k.starts_with("aws:") && !k.starts_with("cargo-fargate:") && k != "managed-by"
        })
        .collect();
    if !tags.is_empty() {
        put("tags", Value::Object(tags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described() -> Value {
        json!({
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/legacy:7",
                "family": "legacy", "revision": 7, "status": "ACTIVE",
                "cpu": "512", "memory": "1024", "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
                "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
                "volumes": [{"name": "scratch"}],
                "containerDefinitions": [
                    {"name": "log_router", "essential": false, "image": "fluent-bit",
                     "firelensConfiguration": {"type": "fluentbit"}},
                    {"name": "web", "image": "old@sha256:ab", "essential": true,
                     "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                     "secrets": [{"name": "DB", "valueFrom": "/db/password"}],
                     "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                     "command": ["serve"], "stopTimeout": 20,
                     "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/tmp"}],
                     "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/legacy", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "web"}}}
                ]
            },
            "tags": [{"key": "team", "value": "payments"}]
        })
    }

    #[test]
    fn keys_hold_what_the_template_now_reads_and_the_rest_stays() {
        let a = adopt(&described()).unwrap();
        assert_eq!(a.container, "web");
        assert_eq!(a.kept, ["container `log_router` (FireLens)", "volumes"]);
        assert_eq!(a.keys["family"], "legacy");
        assert_eq!(a.keys["cpu"], 512);
        assert_eq!(a.keys["architecture"], "arm64");
        assert_eq!(a.keys["environment"], json!({"A": "1", "B": "2"}));
        assert_eq!(a.keys["secrets"], json!({"DB": "/db/password"}));
        assert_eq!(a.keys["ports"], json!([8080]));
        assert_eq!(a.keys["stop-timeout"], 20);
        assert_eq!(a.keys["log-group"], "/legacy");
        assert!(!a.keys.contains_key("task-role"));
        for text in [
            "{{ image | tojson }}",
            "{{ family | tojson }}",
            "{{ environment | tojson }}",
            "\"firelensConfiguration\"",
            "\"volumes\"",
            "\"payments\"",
        ] {
            assert!(a.template.contains(text), "{text} not in {}", a.template);
        }
        for gone in ["taskDefinitionArn", "\"revision\"", "old@sha256"] {
            assert!(!a.template.contains(gone), "{gone} in {}", a.template);
        }
    }

    #[test]
    fn template_syntax_in_a_definition_is_refused() {
        let mut d = described();
        d["taskDefinition"]["containerDefinitions"][1]["command"] = json!(["echo {{x}}"]);
        assert!(adopt(&d).unwrap_err().contains("{{"));
    }
}
