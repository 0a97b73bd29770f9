//! The normalised fields of a MicroService: built from the spec by `normalise` and from
//! the live resources by `read`, through the same struct, so both sides always have the
//! same shape and reading back what was created shows no change.

use super::render;
use panka_core::model::MicroServiceSpec;
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
    pub replicas: u32,
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
    /// Tasks in the default VPC's public subnets need a public IP to pull images (no NAT).
    pub assign_public_ip: bool,
    /// Security groups of the databases this service reaches, sorted.
    pub client_security_groups: Vec<String>,
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
}

impl LoadBalancerField {
    pub fn disabled() -> Self {
        LoadBalancerField {
            enabled: false,
            internal: None,
            listener_port: None,
            container_port: None,
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
        .find(|p| p.protocol == "http")
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

/// The fields `spec` asks for.
pub fn from_spec(ctx: &ResourceContext, spec: &MicroServiceSpec, inputs: &Inputs) -> Fields {
    let mut environment: BTreeMap<String, Option<String>> = render::environment(spec, inputs)
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    for name in render::unresolved_env(spec, inputs) {
        environment.insert(name, None);
    }
    let load_balancer = match target_port(spec) {
        Some(port) => LoadBalancerField {
            enabled: true,
            internal: Some(spec.load_balancer.internal),
            listener_port: Some(spec.load_balancer.listener_port),
            container_port: Some(port),
        },
        None => LoadBalancerField::disabled(),
    };
    Fields {
        image: spec.image.reference(),
        cpu: spec.infra.cpu,
        memory: spec.infra.memory,
        cpu_architecture: spec.cpu_architecture.to_string(),
        command: spec.command.clone(),
        replicas: spec.infra.replicas,
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
        autoscaling: spec.infra.autoscaling.as_ref().map(|a| AutoscalingField {
            min_replicas: a.min_replicas,
            max_replicas: a.max_replicas,
            target_cpu_percent: a.target_cpu_percent,
        }),
        log_retention_days: Some(spec.infra.log_retention_days),
        assign_public_ip: ctx.network.is_none(),
        client_security_groups: client_security_groups(inputs),
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
                "replicas": 2,
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
                "client_security_groups": ["sg-db"]
            })
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
