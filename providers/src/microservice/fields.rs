//! The normalised fields of a MicroService: built from the spec by `normalise` and from
//! the live resources by `read`, through the same struct, so both sides always have the
//! same shape and reading back what was created shows no change.

use super::render;
use crate::grants::{self, Statement};
use panka_core::model::{ComponentId, MicroServiceSpec, Protocol};
use panka_core::reconcile::{Inputs, ResourceContext};
use serde::Serialize;
use std::collections::BTreeMap;

/// The output of a dependency that names a security group this service must join to
/// reach it (an RDS or Redis client group).
pub const CLIENT_SECURITY_GROUP_OUTPUT: &str = "client_security_group_id";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fields {
    pub image: String,
    pub cpu: u32,
    pub memory: u32,
    /// `x86_64` or `arm64`, as the spec writes it.
    pub cpu_architecture: String,
    pub command: Option<Vec<String>>,
    pub replicas: Replicas,
    pub ports: Vec<PortField>,
    /// `None` for a `valueFrom` variable not resolved yet.
    pub environment: BTreeMap<String, Option<String>>,
    /// By environment variable.
    pub secrets: BTreeMap<String, SecretField>,
    pub config_mount_path: Option<String>,
    pub config_hash: Option<String>,
    pub load_balancer: LoadBalancerField,
    pub health_check: Option<HealthCheckField>,
    pub autoscaling: Option<AutoscalingField>,
    /// `None`: kept forever.
    pub log_retention_days: Option<u32>,
    /// Tasks in public subnets (the default VPC, or no private subnets) need a public IP
    /// to pull images (no NAT).
    pub assign_public_ip: bool,
    /// Security groups of the databases this service reaches, sorted.
    pub client_security_groups: Vec<String>,
    /// `None` when the role is missing, or the running task definition does not use it.
    pub task_role: Option<TaskRoleField>,
    /// The service on the environment's domain; left out without one, so services
    /// without a domain compare exactly as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https: Option<HttpsField>,
    /// The deployment alarms; left out when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackField>,
}

/// What rolls a deployment back besides the circuit breaker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackField {
    /// The 5xx share of requests (whole percent) that rolls back; `None`: not watched.
    pub error_rate_percent: Option<u32>,
    /// The team's alarms ECS watches as well, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

impl RollbackField {
    /// `None` when nothing is watched, so a service without alarms has no field.
    pub fn of(error_rate_percent: Option<u32>, mut alarms: Vec<String>) -> Option<Self> {
        alarms.sort();
        alarms.dedup();
        (error_rate_percent.is_some() || !alarms.is_empty()).then_some(RollbackField {
            error_rate_percent,
            alarms,
        })
    }
}

/// The error rate that rolls the service back in its environment: only behind a load
/// balancer (the rate is the load balancer's counts).
pub fn error_rate(ctx: &ResourceContext, spec: &MicroServiceSpec) -> Option<u32> {
    target_port(spec)?;
    spec.rollback.error_rate(ctx.production)
}

/// What plain HTTP does once a service is on HTTPS.
pub const HTTP_REDIRECTS: &str = "redirect to HTTPS";
pub const HTTP_FORWARDS: &str = "forward";
/// Which load balancer serves the hosts (`HttpsField::load_balancer`).
pub const SHARED_LOAD_BALANCER: &str = "shared by the environment";
pub const OWN_LOAD_BALANCER: &str = "the service's own";

/// A service on its hosts under the environment's domain, as the plan and `drift` see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpsField {
    /// The host names the HTTPS listener's rule routes to the service, sorted.
    pub hosts: Vec<String>,
    /// The certificate: [`requested_certificate`] for the one panka requests, else the
    /// ARN the environment names.
    pub certificate: String,
    /// The hosts whose alias record points at the service's load balancer, sorted.
    pub records: Vec<String>,
    /// What the plain HTTP listener does.
    pub http: String,
    /// [`SHARED_LOAD_BALANCER`] or [`OWN_LOAD_BALANCER`]: a service moving onto the
    /// shared one shows here.
    pub load_balancer: String,
}

/// How the certificate panka requests for `hosts` (sorted) shows.
pub fn requested_certificate(hosts: &[String]) -> String {
    format!("ACM, DNS-validated: {}", hosts.join(", "))
}

/// The HTTPS field the spec asks for in its environment, if the service has hosts.
pub fn https(ctx: &ResourceContext, spec: &MicroServiceSpec) -> Option<HttpsField> {
    let mut hosts = panka_core::model::service_hosts(ctx, spec);
    if hosts.is_empty() || target_port(spec).is_none() {
        return None;
    }
    hosts.sort();
    let certificate = match ctx.domain.as_ref().and_then(|d| d.certificate_arn.clone()) {
        Some(arn) => arn,
        None => requested_certificate(&hosts),
    };
    Some(HttpsField {
        records: hosts.clone(),
        hosts,
        certificate,
        http: HTTP_REDIRECTS.to_string(),
        load_balancer: SHARED_LOAD_BALANCER.to_string(),
    })
}

/// The task role as the plan and `drift` compare it: its inline policy's statements by
/// `Sid`, so a changed grant shows as `task_role.policy.<Sid>.resources`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskRoleField {
    pub policy: BTreeMap<String, Statement>,
}

/// The service's desired count as far as panka manages it.
///
/// Under autoscaling the count is the autoscaler's to change within the range, so the
/// spec's `replicas` (the count at creation) and any live count inside the range are
/// the same thing: both normalise to the range. A live count outside it stays a number,
/// which shows in the plan as `replicas: 12 → 2-10 (autoscaled)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replicas {
    Fixed(u32),
    Autoscaled { min: u32, max: u32 },
}

impl Replicas {
    /// What the spec asks for.
    pub fn wanted(replicas: u32, autoscaling: Option<&AutoscalingField>) -> Self {
        match autoscaling {
            Some(range) => Replicas::Autoscaled {
                min: range.min_replicas,
                max: range.max_replicas,
            },
            None => Replicas::Fixed(replicas),
        }
    }

    /// What runs: the live count, read as the live scaling range when it lies inside it.
    pub fn live(desired_count: i32, autoscaling: Option<&AutoscalingField>) -> Self {
        match autoscaling {
            Some(range) if within(range, desired_count) => Replicas::wanted(0, Some(range)),
            _ => Replicas::Fixed(u32::try_from(desired_count).unwrap_or(0)),
        }
    }
}

/// A number when fixed, `"2-10 (autoscaled)"` under autoscaling: one leaf either way, so
/// the plan's diff shows one readable line rather than one per bound.
impl Serialize for Replicas {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Replicas::Fixed(count) => serializer.serialize_u32(*count),
            Replicas::Autoscaled { min, max } => {
                serializer.serialize_str(&format!("{min}-{max} (autoscaled)"))
            }
        }
    }
}

/// Whether `count` lies in the autoscaling range.
pub fn within(range: &AutoscalingField, count: i32) -> bool {
    i64::from(range.min_replicas) <= i64::from(count)
        && i64::from(count) <= i64::from(range.max_replicas)
}

/// The desired count to create the service with (and to set when the live one is out of
/// range): the spec's `replicas`, brought into the autoscaling range when there is one.
pub fn initial_count(replicas: u32, autoscaling: Option<&AutoscalingField>) -> u32 {
    match autoscaling {
        Some(range) => replicas.clamp(
            range.min_replicas,
            range.max_replicas.max(range.min_replicas),
        ),
        None => replicas,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortField {
    pub name: String,
    pub port: u16,
    pub protocol: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretField {
    /// The secret's name (an ARN in the spec is reduced to its name).
    pub secret: String,
    pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadBalancerField {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_port: Option<u16>,
    /// The container port the target group routes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u16>,
    /// Who an internal load balancer admits ([`ADMITS_CLIENTS`], …); `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admits: Option<String>,
}

/// An internal load balancer admits only the group its clients attach.
pub const ADMITS_CLIENTS: &str = "its clients";
/// ... and still the whole VPC, until a client runs with the group.
pub const ADMITS_CLIENTS_AND_VPC: &str = "its clients and the VPC";
pub const ADMITS_VPC: &str = "the VPC";

impl LoadBalancerField {
    pub fn disabled() -> Self {
        LoadBalancerField {
            enabled: false,
            internal: None,
            listener_port: None,
            container_port: None,
            admits: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthCheckField {
    pub path: String,
    pub port: u16,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AutoscalingField {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_percent: u32,
}

/// The container port the load balancer routes to: the first `http` port, when the load
/// balancer is on.
pub fn target_port(spec: &MicroServiceSpec) -> Option<u16> {
    if !spec.load_balancer.enabled {
        return None;
    }
    spec.ports
        .iter()
        .find(|p| p.protocol == Protocol::Http)
        .map(|p| p.port)
}

/// The target group's health check: the readiness probe, or the lowering's defaults on
/// `/` when there is none. `None` without a load balancer.
pub fn health_check(spec: &MicroServiceSpec) -> Option<HealthCheckField> {
    let port = target_port(spec)?;
    Some(match &spec.readiness {
        Some(r) => HealthCheckField {
            path: r.path.clone(),
            port: r.port,
            interval_seconds: r.interval_seconds,
            timeout_seconds: r.timeout_seconds,
            healthy_threshold: r.healthy_threshold,
            unhealthy_threshold: r.unhealthy_threshold,
        },
        None => HealthCheckField {
            path: "/".to_string(),
            port,
            interval_seconds: 15,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        },
    })
}

/// The secret's name from a name or an ARN (`arn:…:secret:<name>-<6 random chars>`).
pub fn secret_name(reference: &str) -> String {
    let parts: Vec<&str> = reference.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[5] != "secret" {
        return reference.to_string();
    }
    let name = parts[6];
    match name.rsplit_once('-') {
        Some((head, suffix))
            if suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            head.to_string()
        }
        _ => name.to_string(),
    }
}

/// A task definition secret's `valueFrom` (`<secret arn>[:<json key>:<stage>:<version>]`)
/// as a normalised secret reference.
pub fn secret_from_value_from(value_from: &str) -> SecretField {
    let parts: Vec<&str> = value_from.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" {
        return SecretField {
            secret: value_from.to_string(),
            key: None,
        };
    }
    SecretField {
        secret: secret_name(&parts[..7].join(":")),
        key: parts
            .get(7)
            .filter(|k| !k.is_empty())
            .map(|k| k.to_string()),
    }
}

/// The client security groups named by the dependencies' outputs, sorted.
pub fn client_security_groups(inputs: &Inputs) -> Vec<String> {
    let mut groups: Vec<String> = inputs
        .dependencies
        .values()
        .filter_map(|outputs| outputs.get(CLIENT_SECURITY_GROUP_OUTPUT).cloned())
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// `UseEmailServiceQueue` for `email-service/queue`: a `Sid` (letters and digits only)
/// naming the dependency a grant is for.
fn grant_sid(id: &ComponentId) -> String {
    let mut sid = String::from("Use");
    for word in format!("{}-{}", id.service, id.component).split('-') {
        let mut chars = word.chars().filter(char::is_ascii_alphanumeric);
        if let Some(first) = chars.next() {
            sid.push(first.to_ascii_uppercase());
            sid.extend(chars);
        }
    }
    sid
}

/// The task role's statements: the grants of every dependency whose kind and outputs are
/// known (`crate::grants`), then the declared `permissions` as `Declared1`, `Declared2`…
pub fn task_statements(spec: &MicroServiceSpec, inputs: &Inputs) -> BTreeMap<String, Statement> {
    let mut out = BTreeMap::new();
    for (id, outputs) in &inputs.dependencies {
        let Some(kind) = inputs.dependency_kinds.get(id) else {
            continue;
        };
        let base = grant_sid(id);
        for (n, statement) in grants::client_grants(*kind, outputs)
            .into_iter()
            .enumerate()
        {
            let mut sid = if n == 0 {
                base.clone()
            } else {
                format!("{base}{n}")
            };
            // `a-b/c` and `a/b-c` read alike; the second one gets a number.
            while out.contains_key(&sid) {
                sid.push('X');
            }
            out.insert(sid, statement);
        }
    }
    for (i, permission) in spec.permissions.iter().enumerate() {
        out.insert(
            format!("Declared{}", i + 1),
            Statement::allow(permission.actions.clone(), permission.resources.clone()),
        );
    }
    out
}

/// The fields `spec` asks for.
pub fn from_spec(ctx: &ResourceContext, spec: &MicroServiceSpec, inputs: &Inputs) -> Fields {
    let mut environment: BTreeMap<String, Option<String>> = render::environment(spec, inputs)
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    for name in render::unresolved_env(spec, inputs) {
        environment.insert(name, None);
    }
    let autoscaling = spec.infra.autoscaling.as_ref().map(|a| AutoscalingField {
        min_replicas: a.min_replicas,
        max_replicas: a.max_replicas,
        target_cpu_percent: a.target_cpu_percent,
    });
    let https = https(ctx, spec);
    let load_balancer = match target_port(spec) {
        Some(port) => LoadBalancerField {
            enabled: true,
            internal: Some(spec.load_balancer.internal),
            // On the domain, plain HTTP is the shared load balancer's port 80, redirected.
            listener_port: Some(match &https {
                Some(_) => super::https::shared::HTTP_PORT,
                None => spec.load_balancer.listener_port,
            }),
            container_port: Some(port),
            admits: spec
                .load_balancer
                .internal
                .then(|| ADMITS_CLIENTS.to_string()),
        },
        None => LoadBalancerField::disabled(),
    };
    Fields {
        image: spec.image.reference(),
        cpu: spec.infra.cpu,
        memory: spec.infra.memory,
        cpu_architecture: spec.cpu_architecture.to_string(),
        command: spec.command.clone(),
        replicas: Replicas::wanted(spec.infra.replicas, autoscaling.as_ref()),
        ports: spec
            .ports
            .iter()
            .map(|p| PortField {
                name: p.name.clone(),
                port: p.port,
                protocol: p.protocol.to_string(),
            })
            .collect(),
        environment,
        secrets: spec
            .secrets
            .iter()
            .map(|s| {
                (
                    s.env_var.clone(),
                    SecretField {
                        secret: secret_name(&s.secret_ref),
                        key: s.key.clone(),
                    },
                )
            })
            .collect(),
        config_mount_path: spec.configs.as_ref().map(|c| c.mount_path.clone()),
        config_hash: render::config_hash(spec, inputs),
        load_balancer,
        health_check: health_check(spec),
        autoscaling,
        log_retention_days: Some(spec.infra.log_retention_days),
        assign_public_ip: crate::network::tasks_need_public_ip(ctx.network.as_ref()),
        client_security_groups: client_security_groups(inputs),
        task_role: Some(TaskRoleField {
            policy: task_statements(spec, inputs),
        }),
        https,
        rollback: RollbackField::of(error_rate(ctx, spec), spec.rollback.alarms.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microservice::render::tests::{ctx, inputs, spec};
    use panka_core::model::ComponentId;
    use serde_json::json;

    #[test]
    fn normalises_the_walkthrough_api() {
        let mut inputs = inputs();
        inputs.dependencies.insert(
            ComponentId::new("email-service", "database"),
            BTreeMap::from([
                ("endpoint".to_string(), "db".to_string()),
                (
                    CLIENT_SECURITY_GROUP_OUTPUT.to_string(),
                    "sg-db".to_string(),
                ),
            ]),
        );
        let fields = serde_json::to_value(from_spec(&ctx(), &spec(), &inputs)).expect("serialises");
        assert_eq!(
            fields,
            json!({
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api:v1.0.0",
                "cpu": 256,
                "memory": 512,
                "cpu_architecture": "x86_64",
                "command": null,
                "replicas": "2-10 (autoscaled)",
                "ports": [{"name": "http", "port": 8080, "protocol": "http"}],
                "environment": {
                    "DATABASE_HOST": "db.example.internal",
                    "LOG_LEVEL": "info",
                    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"
                },
                "secrets": {
                    "DATABASE_PASSWORD": {"secret": "/stacks/notification-platform/email-service/db-password", "key": null}
                },
                "config_mount_path": "/config",
                "config_hash": render::config_hash(&spec(), &inputs),
                "load_balancer": {"enabled": true, "internal": false, "listener_port": 80, "container_port": 8080},
                "health_check": {
                    "path": "/health/ready", "port": 8080, "interval_seconds": 15,
                    "timeout_seconds": 5, "healthy_threshold": 2, "unhealthy_threshold": 3
                },
                "autoscaling": {"min_replicas": 2, "max_replicas": 10, "target_cpu_percent": 70},
                "log_retention_days": 30,
                "assign_public_ip": true,
                "client_security_groups": ["sg-db"],
                "task_role": {"policy": {}},
                "rollback": {"error_rate_percent": 10}
            })
        );
    }

    #[test]
    fn the_task_role_gets_its_queues_and_its_declared_permissions() {
        use panka_core::model::{ComponentKind, Permission};
        let mut s = spec();
        s.permissions.push(Permission {
            actions: vec![
                "s3:PutObject".into(),
                "s3:GetObject".into(),
                "s3:GetObject".into(),
            ],
            resources: vec!["arn:aws:s3:::reports/*".into()],
            wildcard_resource: None,
        });
        let mut inputs = inputs();
        let queue = ComponentId::new("email-service", "queue");
        let database = ComponentId::new("email-service", "database");
        inputs.dependencies.insert(
            queue.clone(),
            BTreeMap::from([("arn".to_string(), "arn:aws:sqs:us-east-1:1:q".to_string())]),
        );
        inputs.dependencies.insert(
            database.clone(),
            BTreeMap::from([(
                "arn".to_string(),
                "arn:aws:rds:us-east-1:1:db:d".to_string(),
            )]),
        );
        inputs.dependency_kinds.insert(queue, ComponentKind::Sqs);
        inputs.dependency_kinds.insert(database, ComponentKind::Rds);
        let fields = serde_json::to_value(from_spec(&ctx(), &s, &inputs)).expect("serialises");
        assert_eq!(
            fields["task_role"],
            json!({"policy": {
                "Declared1": {
                    "actions": ["s3:GetObject", "s3:PutObject"],
                    "resources": ["arn:aws:s3:::reports/*"]
                },
                "UseEmailServiceQueue": {
                    "actions": [
                        "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"
                    ],
                    "resources": ["arn:aws:sqs:us-east-1:1:q"]
                }
            }})
        );
        // The document written and the one read back give the same statements.
        let statements = task_statements(&s, &inputs);
        let document = crate::microservice::iam::task_policy(&statements);
        assert_eq!(
            crate::microservice::iam::statements_of(&document),
            statements
        );
    }

    #[test]
    fn a_hand_edited_statement_reads_back_as_it_is() {
        let document = json!({"Statement": {
            "Effect": "Allow", "Action": "sqs:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}
        }});
        let read = crate::microservice::iam::statements_of(&document);
        assert_eq!(
            serde_json::to_value(&read).expect("json"),
            json!({"Statement0": {
                "actions": ["sqs:*"], "resources": ["*"],
                "other": {"Condition": {"Bool": {"aws:SecureTransport": "true"}}}
            }})
        );
    }

    #[test]
    fn unresolved_values_are_null_and_no_load_balancer_means_no_health_check() {
        let mut s = spec();
        s.load_balancer.enabled = false;
        let fields = from_spec(&ctx(), &s, &Inputs::default());
        assert_eq!(fields.environment.get("DATABASE_HOST"), Some(&None));
        assert_eq!(fields.load_balancer, LoadBalancerField::disabled());
        assert_eq!(fields.health_check, None);
        s.load_balancer.enabled = true;
        s.readiness = None;
        assert_eq!(
            health_check(&s).map(|h| (h.path, h.port)),
            Some(("/".to_string(), 8080))
        );
    }

    #[test]
    fn autoscaled_replicas_compare_by_range() {
        let range = AutoscalingField {
            min_replicas: 2,
            max_replicas: 10,
            target_cpu_percent: 70,
        };
        let wanted = Replicas::wanted(3, Some(&range));
        for live in [2, 3, 7, 10] {
            assert_eq!(
                Replicas::live(live, Some(&range)),
                wanted,
                "{live} is in range"
            );
        }
        assert_eq!(Replicas::live(12, Some(&range)), Replicas::Fixed(12));
        assert_eq!(Replicas::live(1, Some(&range)), Replicas::Fixed(1));
        assert_eq!(Replicas::live(3, None), Replicas::Fixed(3));
        assert_eq!(Replicas::wanted(3, None), Replicas::Fixed(3));
        assert_eq!(
            serde_json::to_value(wanted).expect("json"),
            json!("2-10 (autoscaled)")
        );
        assert_eq!(
            serde_json::to_value(Replicas::Fixed(3)).expect("json"),
            json!(3)
        );
        assert_eq!(initial_count(3, Some(&range)), 3);
        assert_eq!(initial_count(1, Some(&range)), 2);
        assert_eq!(initial_count(40, Some(&range)), 10);
        assert_eq!(initial_count(40, None), 40);
    }

    #[test]
    fn secret_references_reduce_to_names() {
        assert_eq!(secret_name("/stacks/x/db"), "/stacks/x/db");
        assert_eq!(
            secret_name("arn:aws:secretsmanager:us-east-1:1:secret:/stacks/x/db-AbC123"),
            "/stacks/x/db"
        );
        assert_eq!(
            secret_from_value_from(
                "arn:aws:secretsmanager:us-east-1:1:secret:api-keys-x1y2z3:primary::"
            ),
            SecretField {
                secret: "api-keys".into(),
                key: Some("primary".into())
            }
        );
        assert_eq!(
            secret_from_value_from("arn:aws:secretsmanager:us-east-1:1:secret:db-AbC123"),
            SecretField {
                secret: "db".into(),
                key: None
            }
        );
    }
}
