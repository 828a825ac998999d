//! The Docker container of a rendered task definition's main container: what Fargate would start,
//! as the local Docker Engine runs it. Pure: the definition in, bollard's create request out.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use serde::Serialize;
use serde_json::Value;

/// The task's size as Docker limits: Fargate's cpu units (1024 = one vCPU) and MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub cpu: u32,
    pub memory: u32,
}

impl Limits {
    /// The container's hard memory limit when it has one, else the task's; the task's cpu.
    pub fn of(definition: &Value, container: &Value) -> Limits {
        let number = |v: &Value| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .map(|n| n as u32)
        };
        let task_memory = number(&definition["memory"]).unwrap_or(512);
        Limits {
            cpu: number(&definition["cpu"]).unwrap_or(256),
            memory: number(&container["memory"])
                .map(|m| m.min(task_memory))
                .unwrap_or(task_memory),
        }
    }

    pub fn nano_cpus(self) -> i64 {
        i64::from(self.cpu) * 1_000_000_000 / 1024
    }

    pub fn memory_bytes(self) -> i64 {
        i64::from(self.memory) * 1024 * 1024
    }
}

/// The TCP/UDP ports of the container's `portMappings`: `(port, protocol)`.
pub fn ports(container: &Value) -> Vec<(u16, String)> {
    container["portMappings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let port = u16::try_from(p["containerPort"].as_u64()?).ok()?;
            let protocol = p["protocol"].as_str().unwrap_or("tcp").to_string();
            Some((port, protocol))
        })
        .collect()
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| s.to_string())
            })
            .collect()
    })
}

/// What the container is made of besides the definition.
pub struct Spec<'a> {
    pub image: &'a str,
    /// `-e KEY=VALUE`: replaces the definition's variable of that name, as RunTask's overrides do.
    pub overrides: &'a BTreeMap<String, String>,
    /// `-- CMD`: replaces the definition's command.
    pub command: Option<&'a [String]>,
    /// Resolved secrets and the task role's credentials: never printed.
    pub injected: &'a BTreeMap<String, String>,
    /// Set unless the definition or `-e` sets them (Fargate sets the region for every task).
    pub region: Option<&'a str>,
    pub labels: HashMap<String, String>,
}

/// The environment in the order Fargate layers it: the definition's, the region, the injected
/// credentials and secrets, then the `-e` overrides.
pub fn environment(container: &Value, spec: &Spec) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = container["environment"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    if let Some(region) = spec.region.filter(|r| !r.is_empty()) {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            env.entry(name.to_string())
                .or_insert_with(|| region.to_string());
        }
    }
    env.extend(spec.injected.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(spec.overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The create request: image, environment, entrypoint, command, user, working directory, limits,
/// ports published on 127.0.0.1 (the same port), stop timeout, labels.
pub fn create_body(definition: &Value, container: &Value, spec: &Spec) -> ContainerCreateBody {
    let limits = Limits::of(definition, container);
    let ports = ports(container);
    let env = environment(container, spec)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut labels = spec.labels.clone();
    if let Some(docker_labels) = container["dockerLabels"].as_object() {
        for (k, v) in docker_labels {
            if let Some(v) = v.as_str() {
                labels.entry(k.clone()).or_insert_with(|| v.to_string());
            }
        }
    }
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = ports
        .iter()
        .map(|(port, protocol)| {
            (
                format!("{port}/{protocol}"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(port.to_string()),
                }]),
            )
        })
        .collect();
    ContainerCreateBody {
        image: Some(spec.image.to_string()),
        env: Some(env),
        entrypoint: strings(&container["entryPoint"]),
        cmd: spec
            .command
            .map(<[String]>::to_vec)
            .or_else(|| strings(&container["command"])),
        user: container["user"].as_str().map(str::to_string),
        working_dir: container["workingDirectory"].as_str().map(str::to_string),
        stop_timeout: container["stopTimeout"].as_i64(),
        exposed_ports: Some(bindings.keys().cloned().collect()),
        labels: Some(labels),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig {
            nano_cpus: Some(limits.nano_cpus()),
            memory: Some(limits.memory_bytes()),
            port_bindings: Some(bindings),
            readonly_rootfs: container["readonlyRootFilesystem"].as_bool(),
            init: container["linuxParameters"]["initProcessEnabled"].as_bool(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition() -> Value {
        json!({
            "cpu": "512", "memory": "1024",
            "containerDefinitions": [{
                "name": "app", "image": "x", "memory": 1024,
                "environment": [{"name": "GREETING", "value": "hi"}, {"name": "RUST_LOG", "value": "info"}],
                "secrets": [{"name": "DB", "valueFrom": "/app/db"}],
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "entryPoint": ["/usr/local/bin/app"], "command": ["serve"],
                "user": "10001:10001", "stopTimeout": 30
            }]
        })
    }

    #[test]
    fn the_definitions_container_becomes_the_docker_container() {
        let d = definition();
        let c = &d["containerDefinitions"][0];
        let overrides = BTreeMap::from([("RUST_LOG".to_string(), "debug".to_string())]);
        let injected = BTreeMap::from([
            ("DB".to_string(), "postgres://secret".to_string()),
            ("AWS_SESSION_TOKEN".to_string(), "token".to_string()),
        ]);
        let spec = Spec {
            image: "app:dev-0123",
            overrides: &overrides,
            command: None,
            injected: &injected,
            region: Some("eu-west-1"),
            labels: HashMap::new(),
        };
        let body = create_body(&d, c, &spec);
        assert_eq!(body.image.as_deref(), Some("app:dev-0123"));
        let env = body.env.unwrap();
        for want in [
            "GREETING=hi",
            "RUST_LOG=debug",
            "DB=postgres://secret",
            "AWS_SESSION_TOKEN=token",
            "AWS_REGION=eu-west-1",
            "AWS_DEFAULT_REGION=eu-west-1",
        ] {
            assert!(env.contains(&want.to_string()), "{want} not in {env:?}");
        }
        assert_eq!(body.entrypoint.unwrap(), ["/usr/local/bin/app"]);
        assert_eq!(body.cmd.unwrap(), ["serve"]);
        assert_eq!(body.user.as_deref(), Some("10001:10001"));
        assert_eq!(body.stop_timeout, Some(30));
        let host = body.host_config.unwrap();
        // 512 units = half a CPU; 1024 MiB.
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(1024 * 1024 * 1024));
        let binding = &host.port_bindings.unwrap()["8080/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("8080"));
        assert_eq!(body.exposed_ports.unwrap(), ["8080/tcp"]);
    }

    #[test]
    fn a_command_override_replaces_the_command_and_the_definitions_region_stays() {
        let mut d = definition();
        d["containerDefinitions"][0]["environment"] =
            json!([{"name": "AWS_REGION", "value": "us-west-2"}]);
        let c = &d["containerDefinitions"][0];
        let none = BTreeMap::new();
        let cmd = vec!["migrate".to_string(), "--dry-run".to_string()];
        let spec = Spec {
            image: "app",
            overrides: &none,
            command: Some(&cmd),
            injected: &none,
            region: Some("eu-west-1"),
            labels: HashMap::new(),
        };
        let body = create_body(&d, c, &spec);
        assert_eq!(body.cmd.unwrap(), cmd);
        let env = body.env.unwrap();
        assert!(env.contains(&"AWS_REGION=us-west-2".to_string()), "{env:?}");
        assert!(env.contains(&"AWS_DEFAULT_REGION=eu-west-1".to_string()));
    }

    #[test]
    fn limits_follow_the_task_size() {
        let d = json!({"cpu": "256", "memory": "512"});
        let l = Limits::of(&d, &json!({"memory": 512}));
        assert_eq!((l.nano_cpus(), l.memory_bytes()), (250_000_000, 512 << 20));
        let l = Limits::of(&json!({"cpu": "4096", "memory": "8192"}), &json!({}));
        assert_eq!((l.cpu, l.memory), (4096, 8192));
        assert_eq!(l.nano_cpus(), 4_000_000_000);
    }
}
