//! MicroService: an ECS Fargate service, with its load balancer, roles and logs.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations, enabled};
use crate::cost::{
    ALB_LCU_ALLOWANCE, Cost, HOURS_PER_MONTH, PriceTable, UnknownPrice, cents, line, sum,
};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::components::{
    ClosedSet, LowerContext, Reference, check_secret_key, check_secret_ref, closed_set, port_value,
};
use crate::model::{ComponentKind, ComponentSpec, InfraSpec, Located};
use crate::naming::{Namespace, limits, physical};
use crate::read::{self, MapReader};
use crate::reconcile::ResourceContext;
use crate::repo_path::{Boundary, Kind as PathKind, PathProblem};
use crate::source::Span;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

impl Kind for MicroServiceSpec {
    const KIND: ComponentKind = ComponentKind::MicroService;
    const INFO: KindInfo = KindInfo {
        name: "MicroService",
        noun: "Service",
        outputs: &["url", "service_arn", "task_definition_arn", "log_group"],
        stateful: false,
        typical: TypicalDurations::uniform(3 * 60),
        client_access: ClientAccess::NetworkOnly {
            why: "services call each other over HTTP through the load balancer, not through AWS",
        },
    };

    fn lower(
        spec: &mut MapReader,
        infra: InfraSpec,
        ctx: &mut LowerContext,
        diags: &mut Diagnostics,
    ) -> Self {
        lower_microservice(spec, infra, ctx, diags)
    }

    fn narrow(spec: &ComponentSpec) -> Option<&Self> {
        match spec {
            ComponentSpec::MicroService(ms) => Some(ms),
            _ => None,
        }
    }

    fn physical_names(&self, ctx: &ResourceContext) -> Vec<(Namespace, String)> {
        vec![
            (Namespace::EcsService, physical(ctx, "", limits::ECS)),
            (
                Namespace::TaskDefinitionFamily,
                physical(ctx, "", limits::ECS),
            ),
            (Namespace::IamRole, physical(ctx, "-exec", limits::IAM_ROLE)),
            (Namespace::IamRole, physical(ctx, "-task", limits::IAM_ROLE)),
            (Namespace::LoadBalancer, physical(ctx, "", limits::ALB)),
            (
                Namespace::TargetGroup,
                physical(ctx, "", limits::TARGET_GROUP),
            ),
            (
                Namespace::TargetGroup,
                physical(ctx, "-https", limits::TARGET_GROUP),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-alb", limits::SECURITY_GROUP),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-svc", limits::SECURITY_GROUP),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-clients", limits::SECURITY_GROUP),
            ),
        ]
    }

    fn monthly_cost(&self, prices: &PriceTable) -> Result<Cost, UnknownPrice> {
        Ok(monthly_cost(self, prices))
    }

    fn key_attributes(&self) -> Vec<String> {
        let mut attributes = vec![
            format!("Image: {}", self.image.short()),
            format!("CPU: {}, Memory: {}", self.infra.cpu, self.infra.memory),
            format!("Replicas: {}", self.infra.replicas),
            format!("Load Balancer: {}", enabled(self.load_balancer.enabled)),
        ];
        if self.load_balancer.enabled && !self.load_balancer.aliases.is_empty() {
            attributes.push(format!("HTTPS: {}", self.load_balancer.aliases.join(", ")));
        }
        attributes
    }
}

/// The component's monthly cost at the table's on-demand prices.
fn monthly_cost(ms: &MicroServiceSpec, t: &PriceTable) -> Cost {
    let infra = &ms.infra;
    let rates = match ms.cpu_architecture {
        CpuArchitecture::Arm64 => t.fargate_arm64,
        CpuArchitecture::X86_64 => t.fargate_x86_64,
    };
    let arch = ms.cpu_architecture.as_str();
    let vcpu = f64::from(infra.cpu) / 1024.0;
    let gb = f64::from(infra.memory) / 1024.0;
    let task_month = |tasks: u32| {
        let hours = f64::from(tasks) * HOURS_PER_MONTH;
        vec![
            line(
                format!("Fargate vCPU ({arch}), {vcpu} vCPU × {tasks} task(s)"),
                vcpu * hours,
                "vCPU-hour",
                rates.vcpu_hour,
            ),
            line(
                format!("Fargate memory ({arch}), {gb} GB × {tasks} task(s)"),
                gb * hours,
                "GB-hour",
                rates.gb_hour,
            ),
        ]
    };
    let mut notes = Vec::new();
    // The service starts at `replicas`; the autoscaler keeps it within [min, max].
    let (tasks, max_tasks) = match &infra.autoscaling {
        Some(a) => {
            let tasks = infra
                .replicas
                .clamp(a.min_replicas, a.max_replicas.max(a.min_replicas));
            notes.push(format!(
                "autoscaling between {} and {} tasks: priced at {tasks} (the desired count); \
                 the maximum is the upper bound",
                a.min_replicas, a.max_replicas
            ));
            (tasks, a.max_replicas.max(tasks))
        }
        None => (infra.replicas, infra.replicas),
    };
    let mut lines = task_month(tasks);
    let max_fargate = sum(&task_month(max_tasks));
    if ms.load_balancer.enabled {
        lines.push(line(
            crate::cost::ALB_LINE,
            HOURS_PER_MONTH,
            "ALB-hour",
            t.alb_hour,
        ));
        lines.push(line(
            format!(
                "{} {ALB_LCU_ALLOWANCE} LCU assumed",
                crate::cost::ALB_CAPACITY_LINE
            ),
            ALB_LCU_ALLOWANCE * HOURS_PER_MONTH,
            "LCU-hour",
            t.alb_lcu_hour,
        ));
        notes.push(crate::cost::ALB_CAPACITY_NOTE.to_string());
        if ms.rollback.error_rate(false).is_some() {
            lines.push(line(
                crate::cost::ERROR_RATE_ALARM_LINE,
                3.0,
                "metric-month",
                t.alarm_metric_month,
            ));
        }
    }
    notes.push(format!(
        "CloudWatch Logs ingestion (${:.2}/GB) and storage ({} days' retention) are usage-based: \
         not estimated",
        t.logs_ingest_gb, infra.log_retention_days
    ));
    let monthly = sum(&lines);
    // The load balancer and alarm lines (after the two Fargate lines) do not grow with the
    // task count.
    let fixed: f64 = lines.iter().skip(2).map(|l| l.monthly_usd).sum();
    Cost {
        monthly_usd: monthly,
        max_monthly_usd: cents(max_fargate + fixed).max(monthly),
        price_region: t.region,
        lines,
        notes,
        approximated: None,
    }
}

/// `loadBalancer.alias`: one host name or a list of them, each a DNS name (`E025`) and
/// each once. Whether they lie under the environment's domain is `domain::check_hosts`'s.
fn lower_aliases(node: &crate::yaml::Node, diags: &mut Diagnostics) -> (Vec<String>, Vec<Span>) {
    let path = "spec.loadBalancer.alias";
    let items: Vec<&crate::yaml::Node> = match &node.value {
        crate::yaml::Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut aliases = Vec::new();
    let mut spans = Vec::new();
    for item in items {
        let Some(name) = read::string(item, path, diags) else {
            continue;
        };
        let unresolved = matches!(&item.value, crate::yaml::Value::Scalar(s) if s.unresolved);
        if !unresolved && let Some(problem) = crate::model::host_name_problem(&name) {
            diags.push(
                Diagnostic::at("E025", item.span, format!("alias `{name}` {problem}"))
                    .with_label("not a host name")
                    .with_hint("a DNS name under the environment's domain, e.g. `api.company.com`"),
            );
            continue;
        }
        if aliases.contains(&name) {
            diags.push(
                Diagnostic::at("E025", item.span, format!("alias `{name}` is listed twice"))
                    .with_label("already in this list")
                    .with_hint("list each host name once"),
            );
            continue;
        }
        aliases.push(name);
        spans.push(item.span);
    }
    (aliases, spans)
}

// ---------------------------------------------------------------- MicroService

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MicroServiceSpec {
    pub image: Image,
    pub platform: Platform,
    pub cpu_architecture: CpuArchitecture,
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
    /// `spec.rollback`: what rolls a deployment back besides the circuit breaker. Left
    /// out of the recorded spec when it is the default, so specs recorded before it read
    /// back unchanged.
    #[serde(default, skip_serializing_if = "Rollback::is_default")]
    pub rollback: Rollback,
}

/// The error rate (5xx answers of the target group and the load balancer, per minute)
/// that rolls a rollout back in a production environment, and elsewhere, where traffic
/// is thin and noisy, unless `rollback.errorRate` says otherwise.
pub const PRODUCTION_ERROR_RATE_PERCENT: u32 = 5;
pub const DEFAULT_ERROR_RATE_PERCENT: u32 = 10;

/// `spec.rollback`: ECS deployment alarms. While a rollout runs (and its bake time after),
/// ECS watches them and rolls back to the last completed deployment when one goes off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// `errorRate: <percent>`; `None`: the environment's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_percent: Option<u32>,
    /// `errorRate: off`: no error-rate alarm.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error_rate_off: bool,
    /// `alarms`: CloudWatch alarms of the team's, by name, watched as well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

impl Rollback {
    pub fn is_default(&self) -> bool {
        self == &Rollback::default()
    }

    /// The error rate that rolls back, in an environment that is `production` or not;
    /// `None` when it is turned off.
    pub fn error_rate(&self, production: bool) -> Option<u32> {
        if self.error_rate_off {
            return None;
        }
        Some(self.error_rate_percent.unwrap_or(if production {
            PRODUCTION_ERROR_RATE_PERCENT
        } else {
            DEFAULT_ERROR_RATE_PERCENT
        }))
    }
}

/// `spec.rollback`: `errorRate` (a whole percent 1..100, or `off`) and `alarms` (names).
fn lower_rollback(spec: &mut MapReader, diags: &mut Diagnostics) -> Rollback {
    let mut rollback = Rollback::default();
    let Some(mut m) = spec.map("rollback", diags) else {
        return rollback;
    };
    if let Some(node) = m.get("errorRate") {
        match node.as_str() {
            Some("off") => rollback.error_rate_off = true,
            _ => {
                rollback.error_rate_percent =
                    read::int(node, "spec.rollback.errorRate", 1..=100, diags)
                        .and_then(|v| u32::try_from(v).ok());
            }
        }
    }
    if let Some(names) = m.string_list("alarms", diags) {
        for (name, span) in names {
            let bad =
                name.trim().is_empty() || name.len() > 255 || name.chars().any(char::is_control);
            if bad {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        span,
                        format!("`{name}` is not a CloudWatch alarm name"),
                    )
                    .with_label("1 to 255 printable characters")
                    .with_hint("name alarms as `aws cloudwatch describe-alarms` lists them"),
                );
                continue;
            }
            if !rollback.alarms.contains(&name) {
                rollback.alarms.push(name);
            }
        }
    }
    m.finish(diags);
    rollback
}

closed_set! {
    /// `spec.runtime.platform`: where the tasks run.
    pub enum Platform {
        Fargate => "fargate",
    }
}

closed_set! {
    /// `spec.runtime.cpuArchitecture`: what the image is built for.
    pub enum CpuArchitecture {
        X86_64 => "x86_64",
        Arm64 => "arm64",
    }
}

closed_set! {
    /// `spec.ports[].protocol`: `http` ports can be routed to by the load balancer.
    pub enum Protocol {
        Http => "http",
        Tcp => "tcp",
    }
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
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub enabled: bool,
    /// Internal ALBs are reachable only inside the VPC.
    pub internal: bool,
    pub listener_port: u16,
    /// `alias`: host names under the environment's domain; none means one default name
    /// (`domain::service_hosts`). Left out of the recorded spec when empty, so specs
    /// recorded before it read back unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Where each alias is written, for `E027`.
    #[serde(skip)]
    pub alias_spans: Vec<Span>,
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

    let mut platform = Platform::Fargate;
    let mut cpu_architecture = CpuArchitecture::X86_64;
    if let Some(mut m) = spec.map("runtime", diags) {
        platform = m.choice("platform", diags).unwrap_or(platform);
        cpu_architecture = m
            .choice("cpuArchitecture", diags)
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
            let protocol = m.choice("protocol", diags).unwrap_or(Protocol::Http);
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

    let has_http_port = ports.iter().any(|p| p.protocol == Protocol::Http);
    let mut load_balancer = LoadBalancer {
        enabled: has_http_port,
        internal: false,
        listener_port: 80,
        aliases: Vec::new(),
        alias_spans: Vec::new(),
    };
    if let Some(mut m) = spec.map("loadBalancer", diags) {
        let enabled_node = m.get("enabled");
        load_balancer.enabled = m.bool("enabled", diags).unwrap_or(has_http_port);
        load_balancer.internal = m.bool("internal", diags).unwrap_or(false);
        if let Some(node) = m.get("listenerPort") {
            load_balancer.listener_port =
                port_value(node, "spec.loadBalancer.listenerPort", diags).unwrap_or(80);
        }
        if let Some(node) = m.get("alias") {
            (load_balancer.aliases, load_balancer.alias_spans) = lower_aliases(node, diags);
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
        rollback: lower_rollback(spec, diags),
    }
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
        PathKind::File => Ok(path),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn rollback_of(text: &str) -> (Rollback, Vec<String>) {
        let doc =
            crate::yaml::parse_document(crate::source::SourceId(0), text).expect("valid yaml");
        let mut diags = Diagnostics::default();
        let mut m = MapReader::new(&doc, "spec", doc.span, &mut diags).expect("a mapping");
        let rollback = lower_rollback(&mut m, &mut diags);
        let found = diags
            .iter()
            .map(|d| {
                let at = d.span().expect("a place");
                format!("{} {}:{}", d.code, at.line, at.column)
            })
            .collect();
        (rollback, found)
    }

    #[test]
    fn rollback_takes_a_rate_or_off_and_the_teams_alarms() {
        let (default, found) = rollback_of("image: x\n");
        assert!(default.is_default() && found.is_empty());
        assert_eq!(default.error_rate(false), Some(DEFAULT_ERROR_RATE_PERCENT));
        assert_eq!(
            default.error_rate(true),
            Some(PRODUCTION_ERROR_RATE_PERCENT)
        );

        let (written, found) = rollback_of(
            "rollback:\n  errorRate: 3\n  alarms: [latency-high, latency-high, errors]\n",
        );
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(written.error_rate(true), Some(3));
        assert_eq!(
            written.alarms,
            ["latency-high", "errors"],
            "each once, as written"
        );

        let (off, _) = rollback_of("rollback: {errorRate: off}\n");
        assert_eq!(off.error_rate(true), None);

        let (_, found) = rollback_of("rollback: {errorRate: 0, alarms: [\"\"]}\n");
        assert_eq!(found, ["E024 1:23", "E025 1:35"]);
    }

    fn aliases_of(text: &str, unresolved: bool) -> (Vec<String>, Vec<(u32, u32)>, Vec<String>) {
        let mut doc =
            crate::yaml::parse_document(crate::source::SourceId(0), text).expect("valid yaml");
        if unresolved {
            doc.for_each_scalar_mut(&mut |_, s| s.unresolved = s.text.contains("${"));
        }
        let node = doc.get("alias").expect("alias");
        let mut diags = Diagnostics::default();
        let (aliases, spans) = lower_aliases(node, &mut diags);
        let places = spans.iter().map(|s| (s.line, s.column)).collect();
        let found = diags
            .iter()
            .map(|d| {
                let at = d.span().expect("a place");
                format!("{} {}:{} {}", d.code, at.line, at.column, d.message)
            })
            .collect();
        (aliases, places, found)
    }

    #[test]
    fn an_alias_is_one_host_name_or_a_list_of_them() {
        let (aliases, places, found) = aliases_of("alias: api.company.com\n", false);
        assert_eq!(aliases, ["api.company.com"]);
        assert_eq!(places, [(1, 8)]);
        assert!(found.is_empty(), "{found:?}");

        let (aliases, places, found) =
            aliases_of("alias:\n  - api.company.com\n  - www.company.com\n", false);
        assert_eq!(aliases, ["api.company.com", "www.company.com"]);
        assert_eq!(places, [(2, 5), (3, 5)]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn bad_and_repeated_aliases_are_e025_at_the_entry_and_left_out() {
        let (aliases, places, found) = aliases_of(
            "alias:\n  - api.company.com\n  - api_v1.company.com\n  - api.company.com\n  - www.company.com\n",
            false,
        );
        // The spans stay paired with the aliases kept, for E027's places.
        assert_eq!(aliases, ["api.company.com", "www.company.com"]);
        assert_eq!(places, [(2, 5), (5, 5)]);
        assert_eq!(
            found,
            [
                "E025 3:5 alias `api_v1.company.com` contains `_`; only a-z, 0-9, `-` and `.` are allowed",
                "E025 4:5 alias `api.company.com` is listed twice",
            ]
        );
    }

    #[test]
    fn an_alias_waiting_for_a_variable_is_not_judged_yet() {
        let (aliases, _, found) = aliases_of("alias: api-${ENV}.company.com\n", true);
        assert_eq!(aliases, ["api-${ENV}.company.com"]);
        assert!(found.is_empty(), "{found:?}");
    }
}
