//! `read`: the live resources, normalised into the same fields `normalise` builds.

use super::fields::{self, Fields, LoadBalancerField, PortField, Replicas, TaskRoleField};
use super::https::shared;
use super::names::{Names, ids};
use super::{
    MicroServiceReconciler, alarms, alb, autoscaling, ecs_service, iam, logs, render,
    task_definition,
};
use crate::network;
use crate::sdk_error::provider_error;
use panka_core::reconcile::{ErrorKind, KnownIds, Observed, ProviderError, ResourceContext};
use std::collections::BTreeMap;

impl MicroServiceReconciler {
    pub(super) async fn observe(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        let names = Names::with_known(ctx, known);
        let Some(service) = ecs_service::describe(&self.ecs, &names).await? else {
            return Ok(None);
        };
        let task_definition_arn = service.task_definition().unwrap_or_default().to_string();
        let td = task_definition::describe(&self.ecs, &task_definition_arn).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("ECS service {} runs task definition {task_definition_arn}, which cannot be described", names.service),
            )
        })?;
        let (main, ports) = container_fields(&td.definition, &names);
        let network = ecs_service::live_network(&service);
        let mapping = ecs_service::live_load_balancer(&service);
        let (log_group, scaling, service_sg, task_role, error_rate) = tokio::try_join!(
            logs::find(&self.logs, &names.log_group),
            autoscaling::read(&self.autoscaling, &names),
            self.service_security_group_id(&names, &network.security_groups),
            self.task_role(&names, &td.definition.task_role_arn),
            alarms::threshold(&self.cloudwatch, &names.error_rate_alarm),
        )?;
        // ECS's list of deployment alarms, when it reports one (an emulator may not):
        // panka's error-rate alarm counts only while ECS watches it.
        let watched = ecs_service::live_deployment_alarms(&service);
        let error_rate = error_rate.filter(|_| {
            watched
                .as_ref()
                .is_none_or(|names_watched| names_watched.contains(&names.error_rate_alarm))
        });
        let team_alarms: Vec<String> = watched
            .unwrap_or_default()
            .into_iter()
            .filter(|name| name != &names.error_rate_alarm)
            .collect();

        let mut physical_ids = KnownIds::from([
            (ids::CLUSTER.to_string(), names.cluster.clone()),
            (ids::SERVICE_NAME.to_string(), names.service.clone()),
            (
                ids::SERVICE_ARN.to_string(),
                service.service_arn().unwrap_or_default().to_string(),
            ),
            (ids::TASK_FAMILY.to_string(), names.family.clone()),
            (
                ids::TASK_DEFINITION_ARN.to_string(),
                task_definition_arn.clone(),
            ),
            (
                ids::EXECUTION_ROLE.to_string(),
                names.execution_role.clone(),
            ),
            (
                ids::EXECUTION_ROLE_ARN.to_string(),
                td.definition.execution_role_arn.clone(),
            ),
        ]);
        let mut outputs = BTreeMap::from([
            (
                "service_arn".to_string(),
                service.service_arn().unwrap_or_default().to_string(),
            ),
            ("task_definition_arn".to_string(), task_definition_arn),
        ]);
        if error_rate.is_some() {
            physical_ids.insert(
                ids::ERROR_RATE_ALARM.to_string(),
                names.error_rate_alarm.clone(),
            );
        }
        if let Some((arn, _)) = &task_role {
            physical_ids.insert(ids::TASK_ROLE.to_string(), names.task_role.clone());
            physical_ids.insert(ids::TASK_ROLE_ARN.to_string(), arn.clone());
        }
        if let Some(group) = &log_group {
            physical_ids.insert(ids::LOG_GROUP.to_string(), group.name.clone());
            outputs.insert("log_group".to_string(), group.name.clone());
        }
        if let Some(sg) = &service_sg {
            physical_ids.insert(ids::SERVICE_SECURITY_GROUP_ID.to_string(), sg.clone());
            outputs.insert("security_group_id".to_string(), sg.clone());
        }
        if scaling.is_some() {
            physical_ids.insert(
                ids::SCALABLE_TARGET.to_string(),
                names.scaling_resource_id(),
            );
            physical_ids.insert(
                ids::SCALING_POLICY.to_string(),
                names.scaling_policy.clone(),
            );
        }

        let mut load_balancer = LoadBalancerField::disabled();
        let mut health_check = None;
        let mut https = None;
        if let Some(mapping) = &mapping {
            load_balancer = LoadBalancerField {
                enabled: true,
                internal: None,
                listener_port: None,
                container_port: Some(mapping.container_port),
                admits: None,
            };
            physical_ids.insert(
                ids::TARGET_GROUP_ARN.to_string(),
                mapping.target_group_arn.clone(),
            );
            if let Some(tg) =
                alb::target_group_by_arn(&self.elbv2, &mapping.target_group_arn).await?
            {
                health_check = Some(tg.health.clone());
                let alb = match tg.load_balancer_arns.first() {
                    Some(lb_arn) => alb::load_balancer_by_arn(&self.elbv2, lb_arn).await?,
                    None => None,
                };
                let shared = alb.as_ref().is_some_and(|a| shared::is_shared(&names, a));
                // The names recorded are those `delete` removes: the shared load balancer
                // and its group are not the component's own.
                if !shared {
                    physical_ids.insert(ids::TARGET_GROUP_NAME.to_string(), tg.name.clone());
                }
                if let Some(alb) = alb {
                    load_balancer.internal = Some(alb.internal);
                    if alb.internal
                        && let Some((admits, clients)) = self.internal_admits(&names, &alb).await?
                    {
                        load_balancer.admits = Some(admits.to_string());
                        if let Some(clients) = clients {
                            physical_ids.insert(
                                ids::CLIENTS_SECURITY_GROUP_ID.to_string(),
                                clients.clone(),
                            );
                            outputs
                                .insert(fields::CLIENT_SECURITY_GROUP_OUTPUT.to_string(), clients);
                        }
                    }
                    physical_ids.insert(ids::LOAD_BALANCER_ARN.to_string(), alb.arn.clone());
                    if !shared {
                        physical_ids.insert(ids::LOAD_BALANCER_NAME.to_string(), alb.name.clone());
                        if let Some(sg) = alb.security_groups.first() {
                            physical_ids.insert(ids::ALB_SECURITY_GROUP_ID.to_string(), sg.clone());
                        }
                    }
                    let listener = alb::listener_for(&self.elbv2, &alb.arn, &tg.arn).await?;
                    if let Some(listener) = &listener {
                        load_balancer.listener_port = Some(listener.port);
                        physical_ids.insert(ids::LISTENER_ARN.to_string(), listener.arn.clone());
                        outputs
                            .insert("url".to_string(), render::url(&alb.dns_name, listener.port));
                    }
                    let redirects = listener.as_ref().is_some_and(|l| l.redirects);
                    if let Some(live) = self
                        .observe_https(ctx, known, &alb, &tg.arn, redirects)
                        .await?
                    {
                        physical_ids.extend(live.ids);
                        if let Some(host) = &live.first_host {
                            outputs.insert("url".to_string(), format!("https://{host}"));
                        }
                        https = Some(live.field);
                    }
                }
            }
        }

        let mut client_security_groups: Vec<String> = network
            .security_groups
            .iter()
            .filter(|g| Some(*g) != service_sg.as_ref())
            .cloned()
            .collect();
        client_security_groups.sort();
        let fields = Fields {
            image: main.image.clone(),
            cpu: td.definition.cpu.parse().unwrap_or(0),
            memory: td.definition.memory.parse().unwrap_or(0),
            cpu_architecture: spec_architecture(&td.definition.runtime_platform.cpu_architecture),
            command: main.command.clone(),
            replicas: Replicas::live(service.desired_count(), scaling.as_ref()),
            ports,
            environment: main
                .environment
                .iter()
                .map(|e| (e.name.clone(), Some(e.value.clone())))
                .collect(),
            secrets: main
                .secrets
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        fields::secret_from_value_from(&s.value_from),
                    )
                })
                .collect(),
            config_mount_path: main
                .mount_points
                .iter()
                .find(|m| m.source_volume == render::CONFIG_VOLUME)
                .map(|m| m.container_path.clone()),
            config_hash: main.docker_labels.get(render::CONFIG_HASH_LABEL).cloned(),
            load_balancer,
            health_check,
            autoscaling: scaling,
            log_retention_days: log_group.and_then(|g| g.retention_days),
            assign_public_ip: network.assign_public_ip,
            client_security_groups,
            task_role: task_role.and_then(|(_, field)| field),
            https,
            rollback: fields::RollbackField::of(error_rate, team_alarms),
        };
        Ok(Some(Observed {
            physical_ids,
            fields: serde_json::to_value(fields).map_err(|e| {
                ProviderError::new(
                    ErrorKind::Other,
                    format!("cannot serialise the fields of {}: {e}", ctx.id),
                )
            })?,
            outputs,
        }))
    }

    /// The task role's ARN when it exists, with its field: the live inline policy (none
    /// is an empty policy), or `None` when the running task definition uses another role
    /// or none (a definition registered before task roles existed).
    async fn task_role(
        &self,
        names: &Names,
        running_arn: &str,
    ) -> Result<Option<(String, Option<TaskRoleField>)>, ProviderError> {
        let Some(arn) = iam::role_arn(&self.iam, &names.task_role).await? else {
            return Ok(None);
        };
        if arn != running_arn {
            return Ok(Some((arn, None)));
        }
        let policy = iam::policy(&self.iam, &names.task_role, &names.task_policy).await?;
        let field = TaskRoleField {
            policy: policy
                .map(|document| iam::statements_of(&document))
                .unwrap_or_default(),
        };
        Ok(Some((arn, Some(field))))
    }

    /// The id of the service's own security group among `group_ids`.
    /// Who an internal load balancer's group admits, and the clients' group (the
    /// `client_security_group_id` output its dependents attach) when there is one.
    async fn internal_admits(
        &self,
        names: &Names,
        alb: &alb::Alb,
    ) -> Result<Option<(&'static str, Option<String>)>, ProviderError> {
        let (group, clients) = tokio::try_join!(
            network::find_security_group(&self.ec2, &alb.vpc_id, &names.alb_security_group),
            network::find_security_group(&self.ec2, &alb.vpc_id, &names.clients_security_group),
        )?;
        let Some(group) = group else {
            return Ok(None);
        };
        let clients = clients.map(|g| g.id);
        let from_clients = group.ingress.iter().any(|rule| {
            matches!(&rule.source, network::Source::Group(id) if Some(id) == clients.as_ref())
        });
        let from_vpc = group
            .ingress
            .iter()
            .any(|rule| matches!(rule.source, network::Source::Cidr(_)));
        let admits = match (from_clients, from_vpc) {
            (true, false) => fields::ADMITS_CLIENTS,
            (true, true) => fields::ADMITS_CLIENTS_AND_VPC,
            _ => fields::ADMITS_VPC,
        };
        Ok(Some((admits, clients)))
    }

    async fn service_security_group_id(
        &self,
        names: &Names,
        group_ids: &[String],
    ) -> Result<Option<String>, ProviderError> {
        if group_ids.is_empty() {
            return Ok(None);
        }
        let filter = |name: &str, values: Vec<String>| {
            aws_sdk_ec2::types::Filter::builder()
                .name(name)
                .set_values(Some(values))
                .build()
        };
        let out = self
            .ec2
            .describe_security_groups()
            .filters(filter(
                "group-name",
                vec![names.service_security_group.clone()],
            ))
            .filters(filter("group-id", group_ids.to_vec()))
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!(
                        "cannot look up security group {}",
                        names.service_security_group
                    ),
                    &e,
                )
            })?;
        Ok(out
            .security_groups()
            .first()
            .and_then(|g| g.group_id())
            .map(str::to_string))
    }
}

fn spec_architecture(ecs: &str) -> String {
    match ecs {
        "ARM64" => "arm64".to_string(),
        _ => "x86_64".to_string(),
    }
}

/// The fields read from a live task definition's main container.
fn container_fields(
    td: &render::TaskDefinition,
    names: &Names,
) -> (render::Container, Vec<PortField>) {
    let main = td
        .container_definitions
        .iter()
        .find(|c| c.name == names.container)
        .or_else(|| td.container_definitions.iter().find(|c| c.essential))
        .cloned()
        .unwrap_or_else(|| render::Container {
            name: String::new(),
            image: String::new(),
            essential: true,
            command: None,
            port_mappings: Vec::new(),
            environment: Vec::new(),
            secrets: Vec::new(),
            mount_points: Vec::new(),
            depends_on: Vec::new(),
            docker_labels: BTreeMap::new(),
            log_configuration: render::LogConfiguration {
                log_driver: String::new(),
                options: BTreeMap::new(),
            },
        });
    let ports = main
        .port_mappings
        .iter()
        .enumerate()
        .map(|(i, p)| PortField {
            name: if p.name.is_empty() {
                format!("port{i}")
            } else {
                p.name.clone()
            },
            port: p.container_port,
            protocol: if p.app_protocol.as_deref() == Some("http") {
                "http"
            } else {
                "tcp"
            }
            .to_string(),
        })
        .collect();
    (main, ports)
}
