//! The task definition a MicroService runs, rendered from its spec without touching AWS.
//!
//! The shapes mirror ECS's `RegisterTaskDefinition` JSON (camelCase) so that a rendered
//! definition reads like the one in the console, snapshot tests compare literal JSON, and
//! the definition read back from ECS (`task_definition::from_sdk`) can be compared with a
//! fresh rendering field by field: a new revision is registered only when they differ.

use super::names::Names;
use panka_core::model::{CpuArchitecture, EnvValue, MicroServiceSpec, Protocol};
use panka_core::reconcile::{Inputs, ResourceContext};
use serde::Serialize;
use std::collections::BTreeMap;

/// The image of the container that writes `configs` files into the shared volume.
pub const CONFIG_INIT_IMAGE: &str = "public.ecr.aws/docker/library/busybox:1.36";
/// The docker label holding the hash of every config file, so that a change of content
/// alone makes a new revision and rolls the service.
pub const CONFIG_HASH_LABEL: &str = "io.panka.config-hash";
/// The task volume the init container fills and the main container reads.
pub const CONFIG_VOLUME: &str = "configs";
/// Where the init container sees the volume (writable); the main container mounts it
/// read-only at the spec's `mountPath`.
const CONFIG_INIT_MOUNT: &str = "/panka-configs";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub family: String,
    pub requires_compatibilities: Vec<String>,
    pub network_mode: String,
    pub cpu: String,
    pub memory: String,
    pub runtime_platform: RuntimePlatform,
    pub execution_role_arn: String,
    /// The credentials the application gets (the component's task role).
    pub task_role_arn: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    pub container_definitions: Vec<Container>,
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// `X86_64` or `ARM64`.
    pub cpu_architecture: String,
    pub operating_system_family: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    pub essential: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<NameValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub docker_labels: BTreeMap<String, String>,
    pub log_configuration: LogConfiguration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub name: String,
    pub container_port: u16,
    pub protocol: String,
    /// `http` for ports the load balancer may route to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    pub name: String,
    pub value_from: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub source_volume: String,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub container_name: String,
    pub condition: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// AWS identifiers the rendering needs, found or created before it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskIds {
    pub execution_role_arn: String,
    pub task_role_arn: String,
    /// Secret ARN by `secretRef` as written in the spec.
    pub secret_arns: BTreeMap<String, String>,
}

/// `X86_64` / `ARM64` from the spec's `x86_64` / `arm64`.
pub fn ecs_cpu_architecture(architecture: CpuArchitecture) -> String {
    match architecture {
        CpuArchitecture::Arm64 => "ARM64".to_string(),
        CpuArchitecture::X86_64 => "X86_64".to_string(),
    }
}

/// The container's environment: literal values and the resolved `valueFrom` ones, by name.
/// A `valueFrom` variable missing from `inputs` is left out (see `unresolved_env`).
pub fn environment(spec: &MicroServiceSpec, inputs: &Inputs) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = spec
        .environment
        .iter()
        .filter_map(|var| match &var.value {
            EnvValue::Literal(value) => Some((var.name.clone(), value.clone())),
            EnvValue::From { .. } => None,
        })
        .collect();
    env.extend(inputs.resolved_env.clone());
    env
}

/// `valueFrom` variables the engine did not resolve.
pub fn unresolved_env(spec: &MicroServiceSpec, inputs: &Inputs) -> Vec<String> {
    spec.environment
        .iter()
        .filter(|var| matches!(var.value, EnvValue::From { .. }))
        .filter(|var| !inputs.resolved_env.contains_key(&var.name))
        .map(|var| var.name.clone())
        .collect()
}

/// Config files named by the spec whose content is not in `inputs`.
pub fn missing_config_files(spec: &MicroServiceSpec, inputs: &Inputs) -> Vec<String> {
    spec.configs
        .iter()
        .flat_map(|c| c.files.iter())
        .filter(|f| !inputs.config_files.contains_key(&f.name))
        .map(|f| f.name.clone())
        .collect()
}

/// A hash of every config file's name and content, or `None` without `configs`.
pub fn config_hash(spec: &MicroServiceSpec, inputs: &Inputs) -> Option<String> {
    let configs = spec.configs.as_ref()?;
    let mut files: Vec<(&str, &str)> = configs
        .files
        .iter()
        .map(|f| {
            let content = inputs
                .config_files
                .get(&f.name)
                .map(String::as_str)
                .unwrap_or("");
            (f.name.as_str(), content)
        })
        .collect();
    files.sort();
    let mut hasher = Fnv64::new();
    for (name, content) in files {
        hasher.write(name.as_bytes());
        hasher.write(&[0]);
        hasher.write(content.as_bytes());
        hasher.write(&[0]);
    }
    Some(format!("{:016x}", hasher.0))
}

/// FNV-1a, 64 bits: stable across releases and platforms, enough to notice a change.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Standard base64 with padding (what busybox's `base64 -d` reads).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `text` as one single-quoted shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The init container's script: each file comes from `CONFIG_<n>` (base64), so file
/// contents never pass through the shell's parser.
fn config_init_script(files: &[String]) -> String {
    let mut lines = vec!["set -e".to_string()];
    for (n, name) in files.iter().enumerate() {
        let target = format!("{CONFIG_INIT_MOUNT}/{name}");
        if let Some((dir, _)) = target.rsplit_once('/')
            && dir != CONFIG_INIT_MOUNT
        {
            lines.push(format!("mkdir -p {}", shell_quote(dir)));
        }
        lines.push(format!(
            "printf '%s' \"$CONFIG_{n}\" | base64 -d > {}",
            shell_quote(&target)
        ));
    }
    lines.join("\n")
}

fn log_configuration(ctx: &ResourceContext, names: &Names) -> LogConfiguration {
    LogConfiguration {
        log_driver: "awslogs".to_string(),
        options: BTreeMap::from([
            ("awslogs-group".to_string(), names.log_group.clone()),
            ("awslogs-region".to_string(), ctx.region.clone()),
            (
                "awslogs-stream-prefix".to_string(),
                ctx.id.component.clone(),
            ),
        ]),
    }
}

/// The container writing `configs` files, and the label that rolls the service when they
/// change; `None` without `configs`.
fn config_init(
    ctx: &ResourceContext,
    spec: &MicroServiceSpec,
    inputs: &Inputs,
    names: &Names,
) -> Option<Container> {
    let configs = spec.configs.as_ref()?;
    let files: Vec<String> = configs.files.iter().map(|f| f.name.clone()).collect();
    let mut environment: Vec<NameValue> = files
        .iter()
        .enumerate()
        .map(|(n, name)| NameValue {
            name: format!("CONFIG_{n}"),
            value: base64(
                inputs
                    .config_files
                    .get(name)
                    .map(String::as_bytes)
                    .unwrap_or_default(),
            ),
        })
        .collect();
    // ECS does not promise to keep the order; the definition read back is sorted alike.
    environment.sort();
    Some(Container {
        name: names.config_init_container.clone(),
        image: CONFIG_INIT_IMAGE.to_string(),
        essential: false,
        command: Some(vec![
            "sh".to_string(),
            "-c".to_string(),
            config_init_script(&files),
        ]),
        port_mappings: Vec::new(),
        environment,
        secrets: Vec::new(),
        mount_points: vec![MountPoint {
            source_volume: CONFIG_VOLUME.to_string(),
            container_path: CONFIG_INIT_MOUNT.to_string(),
            read_only: false,
        }],
        depends_on: Vec::new(),
        docker_labels: BTreeMap::new(),
        log_configuration: log_configuration(ctx, names),
    })
}

/// The `valueFrom` of a secret: its ARN, plus `:<key>::` for a JSON key (a key ECS cannot
/// address was rejected before rendering).
fn secret_value_from(arn: &str, key: Option<&str>) -> String {
    crate::secrets::value_from(arn, key).unwrap_or_else(|_| arn.to_string())
}

/// The task definition of `spec`: Fargate, awsvpc, the main container named after the
/// component and, with `configs`, an init container filling a shared volume.
///
/// Caveat: a `valueFrom` variable missing from `inputs` is left out and a secret without
/// an ARN in `ids` points at its `secretRef`; callers check `unresolved_env` first.
pub fn render_task_definition(
    ctx: &ResourceContext,
    spec: &MicroServiceSpec,
    inputs: &Inputs,
    ids: &TaskIds,
) -> TaskDefinition {
    let names = Names::new(ctx);
    let environment = environment(spec, inputs)
        .into_iter()
        .map(|(name, value)| NameValue { name, value })
        .collect();
    let mut secrets: Vec<SecretRef> = spec
        .secrets
        .iter()
        .map(|s| SecretRef {
            name: s.env_var.clone(),
            value_from: secret_value_from(
                ids.secret_arns
                    .get(&s.secret_ref)
                    .map(String::as_str)
                    .unwrap_or(&s.secret_ref),
                s.key.as_deref(),
            ),
        })
        .collect();
    secrets.sort();
    let port_mappings = spec
        .ports
        .iter()
        .map(|p| PortMapping {
            name: p.name.clone(),
            container_port: p.port,
            protocol: "tcp".to_string(),
            app_protocol: (p.protocol == Protocol::Http).then(|| "http".to_string()),
        })
        .collect();
    let init = config_init(ctx, spec, inputs, &names);
    let mut main = Container {
        name: names.container.clone(),
        image: spec.image.reference(),
        essential: true,
        command: spec.command.clone(),
        port_mappings,
        environment,
        secrets,
        mount_points: Vec::new(),
        depends_on: Vec::new(),
        docker_labels: BTreeMap::new(),
        log_configuration: log_configuration(ctx, &names),
    };
    let mut volumes = Vec::new();
    if let (Some(configs), Some(init)) = (&spec.configs, &init) {
        volumes.push(Volume {
            name: CONFIG_VOLUME.to_string(),
        });
        main.mount_points.push(MountPoint {
            source_volume: CONFIG_VOLUME.to_string(),
            container_path: configs.mount_path.clone(),
            read_only: true,
        });
        main.depends_on.push(Dependency {
            container_name: init.name.clone(),
            condition: "SUCCESS".to_string(),
        });
        if let Some(hash) = config_hash(spec, inputs) {
            main.docker_labels
                .insert(CONFIG_HASH_LABEL.to_string(), hash);
        }
    }
    let mut container_definitions = vec![main];
    container_definitions.extend(init);
    TaskDefinition {
        family: names.family.clone(),
        requires_compatibilities: vec!["FARGATE".to_string()],
        network_mode: "awsvpc".to_string(),
        cpu: spec.infra.cpu.to_string(),
        memory: spec.infra.memory.to_string(),
        runtime_platform: RuntimePlatform {
            cpu_architecture: ecs_cpu_architecture(spec.cpu_architecture),
            operating_system_family: "LINUX".to_string(),
        },
        execution_role_arn: ids.execution_role_arn.clone(),
        task_role_arn: ids.task_role_arn.clone(),
        volumes,
        container_definitions,
        tags: ctx
            .tags()
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect(),
    }
}

/// `http://<dns>[:port]`, leaving out the default port 80.
pub fn url(dns_name: &str, listener_port: u16) -> String {
    if listener_port == 80 {
        format!("http://{dns_name}")
    } else {
        format!("http://{dns_name}:{listener_port}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use panka_core::model::Autoscaling;
    use panka_core::model::{
        ComponentId, ConfigFile, Configs, EnvVar, Image, InfraSpec, LoadBalancer, Platform, Port,
        Readiness, SecretEnv,
    };
    use serde_json::json;

    pub(crate) fn ctx() -> ResourceContext {
        ResourceContext {
            stack: "notification-platform".into(),
            environment: "development".into(),
            id: ComponentId::new("email-service", "api"),
            region: "us-east-1".into(),
            production: false,
            network: None,
            domain: None,
        }
    }

    /// The walkthrough's api.
    pub(crate) fn spec() -> MicroServiceSpec {
        MicroServiceSpec {
            image: Image {
                repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api".into(),
                tag: "v1.0.0".into(),
                tag_span: None,
            },
            platform: Platform::Fargate,
            cpu_architecture: CpuArchitecture::X86_64,
            command: None,
            ports: vec![Port {
                name: "http".into(),
                port: 8080,
                protocol: Protocol::Http,
            }],
            load_balancer: LoadBalancer {
                enabled: true,
                internal: false,
                listener_port: 80,
                aliases: Vec::new(),
                alias_spans: Vec::new(),
            },
            environment: vec![
                EnvVar {
                    name: "DATABASE_HOST".into(),
                    value: EnvValue::From {
                        component: "email-service/database".into(),
                        output: "endpoint".into(),
                    },
                },
                EnvVar {
                    name: "QUEUE_URL".into(),
                    value: EnvValue::From {
                        component: "email-service/queue".into(),
                        output: "url".into(),
                    },
                },
                EnvVar {
                    name: "LOG_LEVEL".into(),
                    value: EnvValue::Literal("info".into()),
                },
            ],
            secrets: vec![SecretEnv {
                name: "DB_PASSWORD".into(),
                secret_ref: "/stacks/notification-platform/email-service/db-password".into(),
                env_var: "DATABASE_PASSWORD".into(),
                key: None,
            }],
            configs: Some(Configs {
                mount_path: "/config".into(),
                files: vec![ConfigFile {
                    name: "app.yaml".into(),
                    path: "configs/app.yaml".into(),
                }],
            }),
            readiness: Some(Readiness {
                path: "/health/ready".into(),
                port: 8080,
                interval_seconds: 15,
                timeout_seconds: 5,
                healthy_threshold: 2,
                unhealthy_threshold: 3,
            }),
            infra: InfraSpec {
                cpu: 256,
                memory: 512,
                replicas: 2,
                autoscaling: Some(Autoscaling {
                    min_replicas: 2,
                    max_replicas: 10,
                    target_cpu_percent: 70,
                    min_span: None,
                }),
                log_retention_days: 30,
                replicas_span: None,
            },
            permissions: Vec::new(),
            rollback: Default::default(),
        }
    }

    pub(crate) fn inputs() -> Inputs {
        Inputs {
            resolved_env: BTreeMap::from([
                (
                    "DATABASE_HOST".to_string(),
                    "db.example.internal".to_string(),
                ),
                (
                    "QUEUE_URL".to_string(),
                    "https://sqs.us-east-1.amazonaws.com/1/q".to_string(),
                ),
            ]),
            dependencies: BTreeMap::new(),
            dependency_kinds: BTreeMap::new(),
            config_files: BTreeMap::from([(
                "app.yaml".to_string(),
                "app:\n  name: email-api\n".to_string(),
            )]),
        }
    }

    const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:/stacks/notification-platform/email-service/db-password-AbCdEf";

    fn ids() -> TaskIds {
        TaskIds {
            execution_role_arn: "arn:aws:iam::123456789012:role/exec".into(),
            task_role_arn: "arn:aws:iam::123456789012:role/task".into(),
            secret_arns: BTreeMap::from([(
                "/stacks/notification-platform/email-service/db-password".to_string(),
                SECRET_ARN.to_string(),
            )]),
        }
    }

    #[test]
    fn renders_the_walkthrough_api() {
        let rendered = render_task_definition(&ctx(), &spec(), &inputs(), &ids());
        let hash = config_hash(&spec(), &inputs()).expect("configs give a hash");
        let logs = json!({
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/panka/notification-platform/development/email-service/api",
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "api"
            }
        });
        let expected = json!({
            "family": "notification-platform-development-email-service-api",
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
            "taskRoleArn": "arn:aws:iam::123456789012:role/task",
            "volumes": [{"name": "configs"}],
            "containerDefinitions": [
                {
                    "name": "api",
                    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api:v1.0.0",
                    "essential": true,
                    "portMappings": [
                        {"name": "http", "containerPort": 8080, "protocol": "tcp", "appProtocol": "http"}
                    ],
                    "environment": [
                        {"name": "DATABASE_HOST", "value": "db.example.internal"},
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "QUEUE_URL", "value": "https://sqs.us-east-1.amazonaws.com/1/q"}
                    ],
                    "secrets": [{"name": "DATABASE_PASSWORD", "valueFrom": SECRET_ARN}],
                    "mountPoints": [{"sourceVolume": "configs", "containerPath": "/config", "readOnly": true}],
                    "dependsOn": [{"containerName": "api-configs", "condition": "SUCCESS"}],
                    "dockerLabels": {"io.panka.config-hash": hash},
                    "logConfiguration": logs
                },
                {
                    "name": "api-configs",
                    "image": "public.ecr.aws/docker/library/busybox:1.36",
                    "essential": false,
                    "command": [
                        "sh", "-c",
                        "set -e\nprintf '%s' \"$CONFIG_0\" | base64 -d > '/panka-configs/app.yaml'"
                    ],
                    "environment": [{"name": "CONFIG_0", "value": "YXBwOgogIG5hbWU6IGVtYWlsLWFwaQo="}],
                    "mountPoints": [{"sourceVolume": "configs", "containerPath": "/panka-configs", "readOnly": false}],
                    "logConfiguration": logs
                }
            ],
            "tags": [
                {"key": "panka:component", "value": "email-service/api"},
                {"key": "panka:environment", "value": "development"},
                {"key": "panka:managed-by", "value": "panka"},
                {"key": "panka:stack", "value": "notification-platform"}
            ]
        });
        assert_eq!(
            serde_json::to_value(&rendered).expect("serialises"),
            expected
        );
    }

    #[test]
    fn minimal_service_has_one_container_and_no_volume() {
        let mut s = spec();
        s.configs = None;
        s.secrets.clear();
        s.environment.clear();
        s.ports.clear();
        s.cpu_architecture = CpuArchitecture::Arm64;
        s.command = Some(vec!["serve".into(), "--port=9".into()]);
        s.secrets.push(SecretEnv {
            name: "API".into(),
            secret_ref: "api-keys".into(),
            env_var: "API_KEY".into(),
            key: Some("primary".into()),
        });
        let mut ids = ids();
        ids.secret_arns.insert(
            "api-keys".into(),
            "arn:aws:secretsmanager:us-east-1:1:secret:api-keys-x1y2z3".into(),
        );
        let rendered = render_task_definition(&ctx(), &s, &Inputs::default(), &ids);
        let value = serde_json::to_value(&rendered).expect("serialises");
        assert_eq!(value["runtimePlatform"]["cpuArchitecture"], "ARM64");
        assert!(value.get("volumes").is_none());
        let containers = value["containerDefinitions"]
            .as_array()
            .expect("containers");
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["command"], json!(["serve", "--port=9"]));
        assert_eq!(
            containers[0]["secrets"],
            json!([{"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:api-keys-x1y2z3:primary::"}])
        );
        assert!(containers[0].get("dockerLabels").is_none());
    }

    #[test]
    fn a_config_change_changes_the_rendering() {
        let before = render_task_definition(&ctx(), &spec(), &inputs(), &ids());
        let mut changed = inputs();
        changed
            .config_files
            .insert("app.yaml".into(), "app:\n  name: other\n".into());
        let after = render_task_definition(&ctx(), &spec(), &changed, &ids());
        assert_ne!(before, after);
        assert_ne!(
            config_hash(&spec(), &inputs()),
            config_hash(&spec(), &changed)
        );
        assert_eq!(
            render_task_definition(&ctx(), &spec(), &inputs(), &ids()),
            before,
            "deterministic"
        );
    }

    #[test]
    fn init_script_quotes_names_and_makes_folders() {
        let script = config_init_script(&["a.yaml".into(), "sub/it's.json".into()]);
        assert_eq!(
            script,
            "set -e\n\
             printf '%s' \"$CONFIG_0\" | base64 -d > '/panka-configs/a.yaml'\n\
             mkdir -p '/panka-configs/sub'\n\
             printf '%s' \"$CONFIG_1\" | base64 -d > '/panka-configs/sub/it'\\''s.json'"
        );
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn environment_merges_literals_and_resolved_values() {
        let env = environment(&spec(), &inputs());
        assert_eq!(
            env.keys().collect::<Vec<_>>(),
            ["DATABASE_HOST", "LOG_LEVEL", "QUEUE_URL"]
        );
        assert!(unresolved_env(&spec(), &inputs()).is_empty());
        assert_eq!(
            unresolved_env(&spec(), &Inputs::default()),
            ["DATABASE_HOST", "QUEUE_URL"]
        );
        assert_eq!(
            missing_config_files(&spec(), &Inputs::default()),
            ["app.yaml"]
        );
    }

    #[test]
    fn url_leaves_out_port_80() {
        assert_eq!(url("a.elb.amazonaws.com", 80), "http://a.elb.amazonaws.com");
        assert_eq!(
            url("a.elb.amazonaws.com", 8080),
            "http://a.elb.amazonaws.com:8080"
        );
    }
}
