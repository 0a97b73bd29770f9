//! The four component kinds: their specs and how each is read from YAML.

use super::{ComponentKind, ComponentSpec, InfraSpec, Located};
use crate::diag::{Diagnostic, Diagnostics};
use crate::read::{self, MapReader};
use crate::repo_path::{Boundary, Kind, PathProblem};
use crate::source::Span;
use crate::yaml::{Node, Value};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An edge to another component, as written: through `valueFrom` (which also names an
/// output) or `dependsOn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub target: Located<String>,
    pub output: Option<Located<String>>,
}

/// A value from a closed set (`postgres`, `fifo`, …). An alias, because serde would
/// otherwise try to borrow a `&'static str` field from the input.
pub type Choice = &'static str;

/// Every closed-set value the specs hold as `&'static str`, so a spec recorded in state
/// (or a saved plan) reads back into the same type.
const KNOWN_VALUES: &[&str] = &[
    "fargate",
    "x86_64",
    "arm64",
    "http",
    "tcp",
    "postgres",
    "mysql",
    "mariadb",
    "gp2",
    "gp3",
    "io1",
    "io2",
    "replication-group",
    "cache-cluster",
    "aws",
];

pub(crate) fn known_str<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<&'static str, D::Error> {
    let text = String::deserialize(deserializer)?;
    KNOWN_VALUES
        .iter()
        .find(|k| **k == text)
        .copied()
        .ok_or_else(|| serde::de::Error::custom(format!("unknown value `{text}`")))
}

// ---------------------------------------------------------------- MicroService

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MicroServiceSpec {
    pub image: Image,
    #[serde(deserialize_with = "known_str")]
    pub platform: Choice,
    #[serde(deserialize_with = "known_str")]
    pub cpu_architecture: Choice,
    pub command: Option<Vec<String>>,
    pub ports: Vec<Port>,
    pub load_balancer: LoadBalancer,
    pub environment: Vec<EnvVar>,
    pub secrets: Vec<SecretEnv>,
    pub configs: Option<Configs>,
    pub readiness: Option<Readiness>,
    /// Filled from `InfraDefaults`/`ComponentInfra` and overrides.
    pub infra: InfraSpec,
    /// Extra task role statements the user declared (`spec.permissions`). Left out of
    /// the recorded spec when empty, so specs recorded before it read back unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
}

/// One user-declared statement of the task role's policy: `Allow` `actions` on
/// `resources`, checked offline (`E090`, and `P006` for `*` in production).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// Where a `"*"` resource is written, for the production policy.
    #[serde(skip)]
    pub wildcard_resource: Option<Span>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub repository: String,
    pub tag: String,
    #[serde(skip)]
    pub tag_span: Option<Span>,
}

impl Image {
    /// `repository:tag`, what the task definition runs.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// The last path segment with the tag, e.g. `email-api:v1.0.0`.
    pub fn short(&self) -> String {
        let name = self
            .repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository);
        format!("{name}:{}", self.tag)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Port {
    pub name: String,
    pub port: u16,
    #[serde(deserialize_with = "known_str")]
    pub protocol: Choice,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub enabled: bool,
    /// Internal ALBs are reachable only inside the VPC.
    pub internal: bool,
    pub listener_port: u16,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    Literal(String),
    /// Resolved from another component's output during apply.
    From {
        component: String,
        output: String,
    },
}

/// A Secrets Manager secret injected as an environment variable. Only the reference is
/// kept; the value never passes through panka.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretEnv {
    pub name: String,
    pub secret_ref: String,
    pub env_var: String,
    /// JSON key inside the secret, when the secret is a JSON document.
    pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Configs {
    pub mount_path: String,
    pub files: Vec<ConfigFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The name as written, also the file name under `mountPath`.
    pub name: String,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    pub path: String,
    pub port: u16,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

// ---------------------------------------------------------------- RDS

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RdsSpec {
    #[serde(deserialize_with = "known_str")]
    pub engine: Choice,
    pub engine_version: String,
    pub instance_class: String,
    #[serde(deserialize_with = "known_str")]
    pub storage_type: Choice,
    pub allocated_gb: u32,
    pub max_allocated_gb: Option<u32>,
    pub iops: Option<u32>,
    pub multi_az: bool,
    pub publicly_accessible: bool,
    pub database_name: String,
    pub username: String,
    pub port: u16,
    pub password_secret: String,
    pub password_key: Option<String>,
    pub backup_retention_days: u32,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    /// `None` means the environment's default: on in production, off elsewhere.
    pub deletion_protection: Option<bool>,
    pub parameters: BTreeMap<String, String>,
    #[serde(skip)]
    pub spans: RdsSpans,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RdsSpans {
    pub publicly_accessible: Option<Span>,
    pub deletion_protection: Option<Span>,
    pub backup_retention: Option<Span>,
    pub multi_az: Option<Span>,
}

// ---------------------------------------------------------------- SQS

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SqsSpec {
    pub fifo: bool,
    pub message_retention_seconds: u32,
    pub visibility_timeout_seconds: u32,
    pub delay_seconds: u32,
    pub max_message_size_bytes: u32,
    pub receive_wait_time_seconds: u32,
    pub content_based_deduplication: bool,
    pub dead_letter_queue: Option<DeadLetterQueue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterQueue {
    pub max_receive_count: u32,
    pub message_retention_seconds: u32,
}

// ---------------------------------------------------------------- ElastiCacheRedis

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedisSpec {
    pub engine_version: String,
    /// `replication-group` (primary with replicas) or `cache-cluster` (a single node).
    #[serde(deserialize_with = "known_str")]
    pub mode: Choice,
    pub node_type: String,
    pub num_nodes: u32,
    pub automatic_failover: bool,
    pub port: u16,
    pub snapshot_retention_days: u32,
    pub transit_encryption: bool,
    pub at_rest_encryption: bool,
    pub parameters: BTreeMap<String, String>,
    #[serde(skip)]
    pub num_nodes_span: Option<Span>,
}

// ---------------------------------------------------------------- lowering

/// What a component reader needs besides the spec tree.
pub struct LowerContext<'a> {
    /// Folder of the component, for `configs` files.
    pub component_dir: &'a Path,
    /// What may be read: config files are checked against it.
    pub boundary: &'a Boundary,
    /// The component's service, for bare component names in references.
    pub service: &'a str,
    pub references: Vec<Reference>,
}

/// Reads `dependsOn`, which every kind accepts.
fn read_depends_on(spec: &mut MapReader, ctx: &mut LowerContext, diags: &mut Diagnostics) {
    if let Some(items) = spec.string_list("dependsOn", diags) {
        for (target, span) in items {
            ctx.references.push(Reference {
                target: Located {
                    value: target,
                    span,
                },
                output: None,
            });
        }
    }
}

pub fn lower_component(
    kind: ComponentKind,
    spec: &mut MapReader,
    infra: InfraSpec,
    ctx: &mut LowerContext,
    diags: &mut Diagnostics,
) -> ComponentSpec {
    let lowered = ComponentSpec::lower(kind, spec, infra, ctx, diags);
    read_depends_on(spec, ctx, diags);
    lowered
}

fn port_value(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<u16> {
    read::int(node, path, 1..=65535, diags).map(|p| p as u16)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn lower_microservice(
    spec: &mut MapReader,
    infra: InfraSpec,
    ctx: &mut LowerContext,
    diags: &mut Diagnostics,
) -> MicroServiceSpec {
    let mut image = Image {
        repository: String::new(),
        tag: String::new(),
        tag_span: None,
    };
    if let Some(mut m) = spec.required_map("image", diags) {
        image.repository = m.required_string("repository", diags).unwrap_or_default();
        if let Some(node) = m.required("tag", diags) {
            image.tag_span = Some(node.span);
            image.tag = read::string(node, &m.child_path("tag"), diags).unwrap_or_default();
        }
        if (image
            .repository
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
            || image.repository.contains('@'))
            && let Some(node) = m.get("repository")
        {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    "`spec.image.repository` must not carry a tag or digest",
                )
                .with_label("tag belongs in `tag`")
                .with_hint("write the tag in `spec.image.tag`"),
            );
        }
        m.finish(diags);
    }

    let mut platform = "fargate";
    let mut cpu_architecture = "x86_64";
    if let Some(mut m) = spec.map("runtime", diags) {
        platform = m
            .one_of("platform", &["fargate"], diags)
            .unwrap_or(platform);
        cpu_architecture = m
            .one_of("cpuArchitecture", &["x86_64", "arm64"], diags)
            .unwrap_or(cpu_architecture);
        m.finish(diags);
    }

    let command = spec
        .string_list("command", diags)
        .map(|items| items.into_iter().map(|(s, _)| s).collect());

    let mut ports: Vec<Port> = Vec::new();
    // Ports seen, for the duplicate check (a scan of `ports` per item is quadratic).
    let mut seen_ports = std::collections::HashSet::new();
    if let Some(node) = spec.get("ports") {
        for (i, item) in read::seq(node, "spec.ports", diags)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = format!("spec.ports[{i}]");
            let Some(mut m) = MapReader::new(item, path.clone(), item.span, diags) else {
                continue;
            };
            let name = m
                .string("name", diags)
                .unwrap_or_else(|| format!("port{i}"));
            let port = m
                .required("port", diags)
                .and_then(|n| port_value(n, &format!("{path}.port"), diags));
            let protocol = m
                .one_of("protocol", &["http", "tcp"], diags)
                .unwrap_or("http");
            if let Some(port) = port {
                if !seen_ports.insert(port)
                    && let Some(n) = m.get("port")
                {
                    diags.push(
                        Diagnostic::at("E025", n.span, format!("port {port} is listed twice"))
                            .with_label("duplicate port"),
                    );
                }
                ports.push(Port {
                    name,
                    port,
                    protocol,
                });
            }
            m.finish(diags);
        }
    }

    let has_http_port = ports.iter().any(|p| p.protocol == "http");
    let mut load_balancer = LoadBalancer {
        enabled: has_http_port,
        internal: false,
        listener_port: 80,
    };
    if let Some(mut m) = spec.map("loadBalancer", diags) {
        let enabled_node = m.get("enabled");
        load_balancer.enabled = m.bool("enabled", diags).unwrap_or(has_http_port);
        load_balancer.internal = m.bool("internal", diags).unwrap_or(false);
        if let Some(node) = m.get("listenerPort") {
            load_balancer.listener_port =
                port_value(node, "spec.loadBalancer.listenerPort", diags).unwrap_or(80);
        }
        if load_balancer.enabled
            && !has_http_port
            && let Some(node) = enabled_node
        {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    "a load balancer needs an `http` port in `spec.ports`",
                )
                .with_label("no http port to route to"),
            );
        }
        m.finish(diags);
    }

    let mut environment: Vec<EnvVar> = Vec::new();
    let mut env_names: Vec<(String, Span)> = Vec::new();
    if let Some(node) = spec.get("environment") {
        for (i, item) in read::seq(node, "spec.environment", diags)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = format!("spec.environment[{i}]");
            let Some(mut m) = MapReader::new(item, path.clone(), item.span, diags) else {
                continue;
            };
            let name_node = m.required("name", diags);
            let name = name_node.and_then(|n| read::string(n, &format!("{path}.name"), diags));
            let literal = m.get("value");
            let from = m.map("valueFrom", diags);
            let value = match (literal, from) {
                (Some(_), Some(_)) => {
                    diags.push(
                        Diagnostic::at(
                            "E025",
                            item.span,
                            format!("`{path}` has both `value` and `valueFrom`"),
                        )
                        .with_label("choose one"),
                    );
                    None
                }
                (Some(node), None) => {
                    read::string(node, &format!("{path}.value"), diags).map(EnvValue::Literal)
                }
                (None, Some(mut from)) => {
                    let component = from.required("component", diags).and_then(|n| {
                        read::string(n, &from.child_path("component"), diags).map(|v| Located {
                            value: v,
                            span: n.span,
                        })
                    });
                    let output = from.required("output", diags).and_then(|n| {
                        read::string(n, &from.child_path("output"), diags).map(|v| Located {
                            value: v,
                            span: n.span,
                        })
                    });
                    from.finish(diags);
                    match (component, output) {
                        (Some(component), Some(output)) => {
                            let value = EnvValue::From {
                                component: component.value.clone(),
                                output: output.value.clone(),
                            };
                            ctx.references.push(Reference {
                                target: component,
                                output: Some(output),
                            });
                            Some(value)
                        }
                        _ => None,
                    }
                }
                (None, None) => {
                    diags.push(
                        Diagnostic::at(
                            "E022",
                            item.span,
                            format!("`{path}` needs `value` or `valueFrom`"),
                        )
                        .with_label("no value"),
                    );
                    None
                }
            };
            m.finish(diags);
            if let (Some(name), Some(value), Some(name_node)) = (name, value, name_node) {
                env_names.push((name.clone(), name_node.span));
                environment.push(EnvVar { name, value });
            }
        }
    }

    let mut secrets: Vec<SecretEnv> = Vec::new();
    if let Some(node) = spec.get("secrets") {
        for (i, item) in read::seq(node, "spec.secrets", diags)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = format!("spec.secrets[{i}]");
            let Some(mut m) = MapReader::new(item, path.clone(), item.span, diags) else {
                continue;
            };
            let name = m.required_string("name", diags);
            let secret_ref = m.required_string("secretRef", diags);
            let env_node = m.get("envVar");
            let env_var = m.string("envVar", diags);
            let key = m.string("key", diags);
            check_secret_ref(m.get("secretRef"), &format!("{path}.secretRef"), diags);
            check_secret_key(m.get("key"), &format!("{path}.key"), diags);
            m.finish(diags);
            if let (Some(name), Some(secret_ref)) = (name, secret_ref) {
                let env_var = env_var.unwrap_or_else(|| name.clone());
                let span = env_node
                    .or_else(|| item.get("name"))
                    .map(|n| n.span)
                    .unwrap_or(item.span);
                env_names.push((env_var.clone(), span));
                secrets.push(SecretEnv {
                    name,
                    secret_ref,
                    env_var,
                    key,
                });
            }
        }
    }
    // Names seen so far in a set: a scan of the earlier names per entry is quadratic on a
    // long `environment` list.
    let mut seen_names = std::collections::HashSet::new();
    for (name, span) in &env_names {
        if !is_env_name(name) {
            diags.push(
                Diagnostic::at(
                    "E025",
                    *span,
                    format!("`{name}` is not a valid environment variable name"),
                )
                .with_label("invalid name")
                .with_hint("use letters, digits and underscores, not starting with a digit"),
            );
        } else if !seen_names.insert(name.as_str()) {
            diags.push(
                Diagnostic::at(
                    "E025",
                    *span,
                    format!("environment variable `{name}` is set twice"),
                )
                .with_label("set again here")
                .with_hint("each variable comes from exactly one `environment` or `secrets` entry"),
            );
        }
    }

    let mut configs = None;
    if let Some(mut m) = spec.map("configs", diags) {
        let mount_path = m.required_string("mountPath", diags).unwrap_or_default();
        if !mount_path.is_empty()
            && !mount_path.starts_with('/')
            && let Some(node) = m.get("mountPath")
        {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    "`spec.configs.mountPath` must be an absolute path",
                )
                .with_label("relative path"),
            );
        }
        let mut files = Vec::new();
        for (name, span) in m.string_list("files", diags).unwrap_or_default() {
            let at = Span {
                len: name.chars().count().max(1) as u32,
                ..span
            };
            match resolve_config_file(ctx.boundary, ctx.component_dir, &name) {
                // Contents go into the task definition as text; plan and apply read the
                // file again, so a file they could not use is reported here, in place
                // (found by fuzzing, core/tests/it/fuzz_loader.rs).
                Ok(path) => match ctx.boundary.read(&path).map(String::from_utf8) {
                    Ok(Ok(_)) => files.push(ConfigFile { name, path }),
                    Ok(Err(_)) => diags.push(
                        Diagnostic::at(
                            "E080",
                            at,
                            format!("config file `{name}` cannot be read as UTF-8 text"),
                        )
                        .with_label("not text")
                        .with_hint("config files are mounted as text; save it as UTF-8"),
                    ),
                    Err(problem) => diags.push(config_problem(&name, at, &problem, ctx.boundary)),
                },
                Err(PathProblem::Missing) => diags.push(
                    Diagnostic::at(
                        "E080",
                        at,
                        format!("config file `{name}` does not exist"),
                    )
                    .with_label("not found")
                    .with_hint(if Path::new(&name).is_absolute() || name.contains("..") {
                        "config files live in the component's `configs/` folder; name them relative to it".to_string()
                    } else {
                        format!("put it at `configs/{}` in this component's folder", name.trim_start_matches("configs/"))
                    }),
                ),
                Err(problem) => diags.push(config_problem(&name, at, &problem, ctx.boundary)),
            }
        }
        m.finish(diags);
        configs = Some(Configs { mount_path, files });
    }

    let mut readiness = None;
    if let Some(mut hc) = spec.map("healthCheck", diags) {
        if let Some(mut r) = hc.map("readiness", diags) {
            if let Some(mut http) = r.required_map("http", diags) {
                let path = http
                    .required_string("path", diags)
                    .unwrap_or_else(|| "/".into());
                let port_node = http.get("port");
                let port = port_node
                    .and_then(|n| port_value(n, "spec.healthCheck.readiness.http.port", diags))
                    .or_else(|| ports.first().map(|p| p.port))
                    .unwrap_or(80);
                if !path.starts_with('/')
                    && let Some(node) = http.get("path")
                {
                    diags.push(
                        Diagnostic::at("E025", node.span, "the readiness path must start with `/`")
                            .with_label("not an absolute path"),
                    );
                }
                if let Some(node) = port_node
                    && !ports.is_empty()
                    && !ports.iter().any(|p| p.port == port)
                {
                    diags.push(
                        Diagnostic::at(
                            "E025",
                            node.span,
                            format!("readiness port {port} is not one of the component's `ports`"),
                        )
                        .with_label("unknown port")
                        .with_hint(format!(
                            "declared ports: {}",
                            ports
                                .iter()
                                .map(|p| p.port.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
                http.finish(diags);
                let interval = r.int("intervalSeconds", 5..=300, diags).unwrap_or(15) as u32;
                let timeout = r.int("timeoutSeconds", 2..=120, diags).unwrap_or(5) as u32;
                let healthy = r.int("healthyThreshold", 2..=10, diags).unwrap_or(2) as u32;
                let unhealthy = r.int("unhealthyThreshold", 2..=10, diags).unwrap_or(3) as u32;
                if timeout >= interval
                    && let Some(node) = r.get("timeoutSeconds").or_else(|| r.get("intervalSeconds"))
                {
                    diags.push(
                            Diagnostic::at(
                                "E025",
                                node.span,
                                format!("`timeoutSeconds` ({timeout}) must be less than `intervalSeconds` ({interval})"),
                            )
                            .with_label("too long"),
                        );
                }
                readiness = Some(Readiness {
                    path,
                    port,
                    interval_seconds: interval,
                    timeout_seconds: timeout,
                    healthy_threshold: healthy,
                    unhealthy_threshold: unhealthy,
                });
            }
            r.finish(diags);
        }
        hc.finish(diags);
    }

    MicroServiceSpec {
        image,
        platform,
        cpu_architecture,
        command,
        ports,
        load_balancer,
        environment,
        secrets,
        configs,
        readiness,
        infra,
        permissions: lower_permissions(spec, diags),
    }
}

/// A Secrets Manager secret as a reference names it: its name (1–512 of letters, digits
/// and `/_+=.@-`, as Secrets Manager allows) or its ARN. Anything else fails only when ECS
/// or RDS resolves it during apply, after other changes were made.
fn check_secret_ref(node: Option<&Node>, path: &str, diags: &mut Diagnostics) {
    let Some(node) = node else { return };
    let Value::Scalar(scalar) = &node.value else {
        return;
    };
    if scalar.unresolved {
        return;
    }
    let text = scalar.text.as_str();
    let problem = if text.trim().is_empty() {
        Some("is empty")
    } else if text.starts_with("arn:") {
        (text.split(':').nth(2) != Some("secretsmanager"))
            .then_some("is an ARN, but not of a Secrets Manager secret")
    } else if text.chars().count() > 512 {
        Some("is longer than the 512 characters of a secret name")
    } else if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    {
        Some("is not a secret name (letters, digits and `/_+=.@-`) or ARN")
    } else {
        None
    };
    if let Some(problem) = problem {
        diags.push(
            Diagnostic::at(
                "E025",
                Span {
                    len: text.chars().count().max(1) as u32,
                    ..node.span
                },
                format!("`{path}` {problem}"),
            )
            .with_label("not a secret")
            .with_hint("name the Secrets Manager secret by its name or ARN"),
        );
    }
}

/// The JSON key read inside a secret. ECS joins it into `<arn>:<key>::`, so a key with
/// `:` would name a different part; an empty key would inject the whole document.
fn check_secret_key(node: Option<&Node>, path: &str, diags: &mut Diagnostics) {
    let Some(node) = node else { return };
    let Value::Scalar(scalar) = &node.value else {
        return;
    };
    if scalar.unresolved {
        return;
    }
    let text = scalar.text.as_str();
    let problem = if text.trim().is_empty() {
        "is empty"
    } else if text.contains(':') {
        "contains `:`, which ECS reads as the end of the key"
    } else {
        return;
    };
    diags.push(
        Diagnostic::at(
            "E025",
            Span {
                len: text.chars().count().max(1) as u32,
                ..node.span
            },
            format!("`{path}` {problem}"),
        )
        .with_label("not a JSON key")
        .with_hint(
            "name a key of the secret's JSON object, or remove `key` to use the whole secret",
        ),
    );
}

/// `service:Action`: the service in lowercase letters, digits and `-`; the action in
/// letters and digits, with `*` allowed anywhere in it (`s3:Get*`).
pub fn is_iam_action(action: &str) -> bool {
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
}

/// `*`, or an ARN: `arn:partition:service:region:account:resource` (six parts at least;
/// region and account may be empty, as in `arn:aws:s3:::bucket`).
pub fn is_iam_resource(resource: &str) -> bool {
    if resource == "*" {
        return true;
    }
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && !parts[2].is_empty()
        && !parts[5].is_empty()
}

/// `spec.permissions`: a list of `{actions, resources}`, both non-empty lists of text.
fn lower_permissions(spec: &mut MapReader, diags: &mut Diagnostics) -> Vec<Permission> {
    let mut out = Vec::new();
    let Some(node) = spec.get("permissions") else {
        return out;
    };
    for (i, item) in read::seq(node, "spec.permissions", diags)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let path = format!("spec.permissions[{i}]");
        let Some(mut m) = MapReader::new(item, path.clone(), item.span, diags) else {
            continue;
        };
        let actions_node = m.required("actions", diags);
        let actions = m.string_list("actions", diags);
        let resources_node = m.required("resources", diags);
        let resources = m.string_list("resources", diags);
        m.finish(diags);
        for (list, node, what) in [
            (&actions, actions_node, "actions"),
            (&resources, resources_node, "resources"),
        ] {
            if let (Some(list), Some(node)) = (list, node)
                && list.is_empty()
            {
                diags.push(
                    Diagnostic::at("E090", node.span, format!("`{path}.{what}` is empty"))
                        .with_label(format!("no {what}"))
                        .with_hint(format!(
                            "list at least one of the {what} this statement allows"
                        )),
                );
            }
        }
        for (action, span) in actions.iter().flatten() {
            if action == "*" || action == "*:*" {
                diags.push(
                    Diagnostic::at("E090", *span, format!("`{action}` allows every action of every service"))
                        .with_label("every action")
                        .with_hint("name the actions the application calls, e.g. `s3:GetObject`; a service's wildcard such as `s3:Get*` is accepted"),
                );
            } else if !is_iam_action(action) {
                diags.push(
                    Diagnostic::at("E090", *span, format!("`{action}` is not an IAM action"))
                        .with_label("expected service:Action")
                        .with_hint("write the service prefix in lowercase, a colon and the action, e.g. `s3:GetObject` or `sqs:Send*`"),
                );
            }
        }
        let mut wildcard_resource = None;
        for (resource, span) in resources.iter().flatten() {
            if resource == "*" {
                wildcard_resource.get_or_insert(*span);
            } else if !is_iam_resource(resource) {
                diags.push(
                    Diagnostic::at("E090", *span, format!("`{resource}` is not an ARN"))
                        .with_label("expected `*` or arn:…")
                        .with_hint(
                            "write the resource's full ARN, e.g. `arn:aws:s3:::my-bucket/*`",
                        ),
                );
            }
        }
        if let (Some(actions), Some(resources)) = (actions, resources) {
            out.push(Permission {
                actions: actions.into_iter().map(|(a, _)| a).collect(),
                resources: resources.into_iter().map(|(r, _)| r).collect(),
                wildcard_resource,
            });
        }
    }
    out
}

/// `configs.files` entries are relative to the component's `configs/` folder; a path
/// that already starts with `configs/` is relative to the component folder. Absolute
/// paths and `..` are not looked up (`Missing`, reported as not found with a hint); a
/// link is followed only inside the boundary (`crate::repo_path`).
fn resolve_config_file(
    boundary: &Boundary,
    component_dir: &Path,
    name: &str,
) -> Result<PathBuf, PathProblem> {
    if name.is_empty() || Path::new(name).is_absolute() || name.split('/').any(|part| part == "..")
    {
        return Err(PathProblem::Missing);
    }
    let written = if name.starts_with("configs/") {
        name.to_string()
    } else {
        format!("configs/{name}")
    };
    let path = boundary.resolve(component_dir, &written)?;
    match boundary.probe(&path)? {
        Kind::File => Ok(path),
        _ => Err(PathProblem::Missing),
    }
}

/// A config file that is refused (a link outside, dangling or looping) or unreadable,
/// at the entry that names it; the file itself is never quoted.
fn config_problem(name: &str, at: Span, problem: &PathProblem, boundary: &Boundary) -> Diagnostic {
    Diagnostic::at(
        problem.code(),
        at,
        format!("config file: {}", problem.message(name, boundary)),
    )
    .with_label("not read")
    .with_hint(problem.hint(boundary))
}

pub(crate) fn lower_rds(spec: &mut MapReader, diags: &mut Diagnostics) -> RdsSpec {
    let mut rds = RdsSpec {
        engine: "postgres",
        engine_version: String::new(),
        instance_class: String::new(),
        storage_type: "gp3",
        allocated_gb: 20,
        max_allocated_gb: None,
        iops: None,
        multi_az: false,
        publicly_accessible: false,
        database_name: String::new(),
        username: String::new(),
        port: 5432,
        password_secret: String::new(),
        password_key: None,
        backup_retention_days: 7,
        backup_window: None,
        maintenance_window: None,
        deletion_protection: None,
        parameters: BTreeMap::new(),
        spans: RdsSpans::default(),
    };
    if let Some(mut m) = spec.required_map("engine", diags) {
        if let Some(node) = m.required("type", diags) {
            rds.engine = read::one_of(
                node,
                "spec.engine.type",
                &["postgres", "mysql", "mariadb"],
                diags,
            )
            .unwrap_or("postgres");
        }
        let version_node = m.get("version");
        rds.engine_version = m.required_string("version", diags).unwrap_or_default();
        // Minor upgrades are off (the spec pins the version), so `15` would never match
        // what RDS reports (`15.4`) and every plan would show a change.
        if let Some(node) = version_node
            && !is_unresolved(node)
            && !is_full_version(&rds.engine_version)
        {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    format!("`{}` is not a full engine version", rds.engine_version),
                )
                .with_label("expected major.minor")
                .with_hint(
                    "write the exact version, e.g. \"15.4\" (quoted, so YAML keeps it text)",
                ),
            );
        }
        m.finish(diags);
    }
    rds.port = if rds.engine == "postgres" { 5432 } else { 3306 };
    if let Some(mut m) = spec.required_map("instance", diags) {
        if let Some(node) = m.required("class", diags) {
            rds.instance_class =
                read::string(node, "spec.instance.class", diags).unwrap_or_default();
            if !rds.instance_class.starts_with("db.") {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!("`{}` is not an RDS instance class", rds.instance_class),
                    )
                    .with_label("expected db.<family>.<size>")
                    .with_hint("for example `db.t3.small`"),
                );
            }
        }
        if let Some(mut storage) = m.map("storage", diags) {
            rds.storage_type = storage
                .one_of("type", &["gp2", "gp3", "io1", "io2"], diags)
                .unwrap_or("gp3");
            rds.allocated_gb = storage.int("allocatedGB", 20..=65536, diags).unwrap_or(20) as u32;
            let max_node = storage.get("maxAllocatedGB");
            rds.max_allocated_gb = storage
                .int("maxAllocatedGB", 20..=65536, diags)
                .map(|v| v as u32);
            rds.iops = storage.int("iops", 1000..=256000, diags).map(|v| v as u32);
            if let (Some(max), Some(node)) = (rds.max_allocated_gb, max_node)
                && max < rds.allocated_gb
            {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!(
                            "`maxAllocatedGB` ({max}) is below `allocatedGB` ({})",
                            rds.allocated_gb
                        ),
                    )
                    .with_label("below allocatedGB"),
                );
            }
            if rds.storage_type.starts_with("io") && rds.iops.is_none() {
                diags.push(
                    Diagnostic::at(
                        "E022",
                        storage.anchor(),
                        format!("`{}` storage needs `iops`", rds.storage_type),
                    )
                    .with_label("`iops` is missing here"),
                );
            }
            storage.finish(diags);
        }
        rds.spans.multi_az = m.get("multiAZ").map(|n| n.span);
        rds.multi_az = m.bool("multiAZ", diags).unwrap_or(false);
        rds.spans.publicly_accessible = m.get("publiclyAccessible").map(|n| n.span);
        rds.publicly_accessible = m.bool("publiclyAccessible", diags).unwrap_or(false);
        m.finish(diags);
    }
    if let Some(mut m) = spec.required_map("database", diags) {
        if let Some(node) = m.required("name", diags) {
            rds.database_name = read::string(node, "spec.database.name", diags).unwrap_or_default();
            check_sql_identifier("database name", &rds.database_name, 63, node.span, diags);
        }
        if let Some(node) = m.required("username", diags) {
            rds.username = read::string(node, "spec.database.username", diags).unwrap_or_default();
            let max = if rds.engine == "postgres" { 63 } else { 16 };
            check_sql_identifier("master username", &rds.username, max, node.span, diags);
            if rds.username == "rdsadmin" {
                diags.push(
                    Diagnostic::at("E025", node.span, "`rdsadmin` is reserved by RDS")
                        .with_label("reserved"),
                );
            }
        }
        if let Some(node) = m.get("port") {
            rds.port = port_value(node, "spec.database.port", diags).unwrap_or(rds.port);
        }
        if let Some(mut secret) = m.required_map("passwordSecret", diags) {
            rds.password_secret = secret.required_string("ref", diags).unwrap_or_default();
            rds.password_key = secret.string("key", diags);
            check_secret_ref(secret.get("ref"), "spec.database.passwordSecret.ref", diags);
            check_secret_key(secret.get("key"), "spec.database.passwordSecret.key", diags);
            secret.finish(diags);
        }
        m.finish(diags);
    }
    if let Some(mut m) = spec.map("backup", diags) {
        rds.spans.backup_retention = m.get("retentionDays").map(|n| n.span);
        rds.backup_retention_days = m.int("retentionDays", 0..=35, diags).unwrap_or(7) as u32;
        if let Some(node) = m.get("window") {
            check_window(node, "spec.backup.window", false, diags);
        }
        rds.backup_window = m.string("window", diags);
        m.finish(diags);
    }
    if let Some(node) = spec.get("maintenanceWindow") {
        check_window(node, "spec.maintenanceWindow", true, diags);
    }
    rds.maintenance_window = spec.string("maintenanceWindow", diags);
    rds.spans.deletion_protection = spec.get("deletionProtection").map(|n| n.span);
    rds.deletion_protection = spec.bool("deletionProtection", diags);
    rds.parameters = spec.string_map("parameters", diags).unwrap_or_default();
    rds
}

fn is_unresolved(node: &Node) -> bool {
    matches!(&node.value, crate::yaml::Value::Scalar(s) if s.unresolved)
}

/// `15.4`, `8.0.35`: digits, at least one dot.
fn is_full_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// RDS windows: `hh24:mi-hh24:mi` (backup) or `ddd:hh24:mi-ddd:hh24:mi` (maintenance),
/// in UTC, at least 30 minutes long.
fn parse_window(text: &str, with_day: bool) -> Option<(u32, u32)> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let point = |p: &str| -> Option<u32> {
        let (day, time) = if with_day {
            let (d, t) = p.split_once(':')?;
            (DAYS.iter().position(|x| *x == d)? as u32, t)
        } else {
            (0, p)
        };
        let (h, m) = time.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && time.len() == 5).then_some(day * 1440 + h * 60 + m)
    };
    let (start, end) = text.split_once('-')?;
    Some((point(start)?, point(end)?))
}

fn check_window(node: &Node, path: &str, with_day: bool, diags: &mut Diagnostics) {
    let Some(text) = node.as_str() else { return };
    if is_unresolved(node) {
        return;
    }
    let format = if with_day {
        "ddd:hh24:mi-ddd:hh24:mi, e.g. sun:04:00-sun:04:30"
    } else {
        "hh24:mi-hh24:mi, e.g. 03:00-03:30"
    };
    match parse_window(text, with_day) {
        None => diags.push(
            Diagnostic::at(
                "E025",
                node.span,
                format!("`{path}` must look like {format} (UTC)"),
            )
            .with_label("invalid window"),
        ),
        Some((start, end)) => {
            let span_minutes = if end >= start {
                end - start
            } else {
                end + if with_day { 7 * 1440 } else { 1440 } - start
            };
            if span_minutes < 30 {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!("`{path}` must be at least 30 minutes long"),
                    )
                    .with_label("too short"),
                );
            }
        }
    }
}

fn check_sql_identifier(what: &str, value: &str, max: usize, span: Span, diags: &mut Diagnostics) {
    let valid = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        diags.push(
            Diagnostic::at("E025", span, format!("`{value}` is not a valid {what}"))
                .with_label("invalid identifier")
                .with_hint("start with a letter; use letters, digits and underscores"),
        );
    } else if value.len() > max {
        diags.push(
            Diagnostic::at(
                "E025",
                span,
                format!("the {what} may have at most {max} characters"),
            )
            .with_label("too long"),
        );
    }
}

pub(crate) fn lower_sqs(spec: &mut MapReader, diags: &mut Diagnostics) -> SqsSpec {
    let type_node = spec.get("type");
    let fifo = spec.one_of("type", &["standard", "fifo"], diags) == Some("fifo");
    let mut sqs = SqsSpec {
        fifo,
        message_retention_seconds: spec
            .int("messageRetentionPeriod", 60..=1_209_600, diags)
            .unwrap_or(345_600) as u32,
        visibility_timeout_seconds: spec
            .int("visibilityTimeout", 0..=43_200, diags)
            .unwrap_or(30) as u32,
        delay_seconds: spec.int("delaySeconds", 0..=900, diags).unwrap_or(0) as u32,
        max_message_size_bytes: spec
            .int("maxMessageSize", 1024..=1_048_576, diags)
            .unwrap_or(262_144) as u32,
        receive_wait_time_seconds: spec
            .int("receiveWaitTimeSeconds", 0..=20, diags)
            .unwrap_or(0) as u32,
        content_based_deduplication: false,
        dead_letter_queue: None,
    };
    if let Some(node) = spec.get("contentBasedDeduplication") {
        sqs.content_based_deduplication =
            read::boolean(node, "spec.contentBasedDeduplication", diags).unwrap_or(false);
        if sqs.content_based_deduplication && !fifo {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    "`contentBasedDeduplication` applies only to `type: fifo` queues",
                )
                .with_label("standard queue")
                .with_hint(if type_node.is_some() {
                    "set `type: fifo` or remove this line"
                } else {
                    "add `type: fifo`"
                }),
            );
        }
    }
    if let Some(mut m) = spec.map("deadLetterQueue", diags) {
        let enabled = m.bool("enabled", diags).unwrap_or(true);
        let max_receive_count = m.int("maxReceiveCount", 1..=1000, diags).unwrap_or(3) as u32;
        let retention = m
            .int("messageRetentionPeriod", 60..=1_209_600, diags)
            .unwrap_or(1_209_600) as u32;
        m.finish(diags);
        if enabled {
            sqs.dead_letter_queue = Some(DeadLetterQueue {
                max_receive_count,
                message_retention_seconds: retention,
            });
        }
    }
    sqs
}

pub(crate) fn lower_redis(spec: &mut MapReader, diags: &mut Diagnostics) -> RedisSpec {
    let mut redis = RedisSpec {
        engine_version: String::new(),
        mode: "replication-group",
        node_type: String::new(),
        num_nodes: 1,
        automatic_failover: false,
        port: 6379,
        snapshot_retention_days: 0,
        transit_encryption: true,
        at_rest_encryption: true,
        parameters: BTreeMap::new(),
        num_nodes_span: None,
    };
    if let Some(mut m) = spec.required_map("engine", diags) {
        redis.engine_version = m.required_string("version", diags).unwrap_or_default();
        m.finish(diags);
    }
    if let Some(mut m) = spec.required_map("cluster", diags) {
        redis.mode = m
            .one_of("mode", &["replication-group", "cache-cluster"], diags)
            .unwrap_or("replication-group");
        if let Some(node) = m.required("nodeType", diags) {
            redis.node_type =
                read::string(node, "spec.cluster.nodeType", diags).unwrap_or_default();
            if !redis.node_type.starts_with("cache.") {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!("`{}` is not an ElastiCache node type", redis.node_type),
                    )
                    .with_label("expected cache.<family>.<size>")
                    .with_hint("for example `cache.t3.micro`"),
                );
            }
        }
        redis.num_nodes_span = m.get("numNodes").map(|n| n.span);
        redis.num_nodes = m.int("numNodes", 1..=6, diags).unwrap_or(1) as u32;
        let failover_node = m.get("automaticFailover");
        let failover = m.bool("automaticFailover", diags);
        redis.automatic_failover = failover.unwrap_or(redis.num_nodes > 1);
        if redis.automatic_failover
            && redis.num_nodes < 2
            && let Some(node) = failover_node
        {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    "automatic failover needs at least 2 nodes",
                )
                .with_label("only one node")
                .with_hint("set `numNodes: 2` or more"),
            );
        }
        if redis.mode == "cache-cluster"
            && redis.num_nodes > 1
            && let Some(span) = redis.num_nodes_span
        {
            diags.push(
                Diagnostic::at("E025", span, "a `cache-cluster` has exactly one node")
                    .with_label("more than one node")
                    .with_hint("use `mode: replication-group` for replicas"),
            );
        }
        m.finish(diags);
    }
    if let Some(node) = spec.get("port") {
        redis.port = port_value(node, "spec.port", diags).unwrap_or(6379);
    }
    redis.snapshot_retention_days = spec
        .int("snapshotRetentionDays", 0..=35, diags)
        .unwrap_or(0) as u32;
    redis.transit_encryption = spec.bool("transitEncryption", diags).unwrap_or(true);
    // ElastiCache encrypts at rest only replication groups; a single cache cluster cannot.
    let single_cluster = redis.mode == "cache-cluster";
    let at_rest_node = spec.get("atRestEncryption");
    redis.at_rest_encryption = spec
        .bool("atRestEncryption", diags)
        .unwrap_or(!single_cluster);
    if single_cluster
        && redis.at_rest_encryption
        && let Some(node) = at_rest_node
    {
        diags.push(
            Diagnostic::at(
                "E025",
                node.span,
                "a `cache-cluster` cannot be encrypted at rest",
            )
            .with_label("not supported for a single cache cluster")
            .with_hint("use `mode: replication-group`, or remove `atRestEncryption`"),
        );
    }
    redis.parameters = spec.string_map("parameters", diags).unwrap_or_default();
    redis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_versions_must_be_full() {
        assert!(is_full_version("15.4"));
        assert!(is_full_version("8.0.35"));
        assert!(!is_full_version("15"));
        assert!(!is_full_version("15.x"));
        assert!(!is_full_version("15."));
    }

    #[test]
    fn iam_actions_are_service_colon_action() {
        for good in [
            "s3:GetObject",
            "s3:Get*",
            "sqs:*",
            "execute-api:Invoke",
            "kms:Decrypt",
        ] {
            assert!(is_iam_action(good), "{good}");
        }
        for bad in [
            "*",
            "s3",
            "S3:GetObject",
            ":GetObject",
            "s3:",
            "s3:Get Object",
            "s3:Get-Object",
            "*:GetObject",
            "s3:a:b",
        ] {
            assert!(!is_iam_action(bad), "{bad}");
        }
    }

    #[test]
    fn iam_resources_are_arns_or_the_wildcard() {
        for good in [
            "*",
            "arn:aws:s3:::bucket/*",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws-cn:dynamodb:cn-north-1:1:table/t",
        ] {
            assert!(is_iam_resource(good), "{good}");
        }
        for bad in [
            "bucket",
            "arn:aws:s3",
            "arn::s3:::b",
            "arn:aws:s3:::",
            "s3://bucket",
            "",
        ] {
            assert!(!is_iam_resource(bad), "{bad}");
        }
    }

    #[test]
    fn rds_windows_are_parsed_in_minutes() {
        assert_eq!(parse_window("03:00-03:30", false), Some((180, 210)));
        assert_eq!(
            parse_window("sun:04:00-sun:04:30", true),
            Some((6 * 1440 + 240, 6 * 1440 + 270))
        );
        assert_eq!(parse_window("3:00-3:30", false), None);
        assert_eq!(parse_window("25:00-26:00", false), None);
        assert_eq!(parse_window("sunday:04:00-sun:05:00", true), None);
        assert_eq!(parse_window("03:00", false), None);
    }
}
