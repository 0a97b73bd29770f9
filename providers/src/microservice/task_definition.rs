//! Task definitions: the rendered one to ECS and back, so that a new revision is
//! registered only when the rendering differs from what runs.

use super::render::{
    Container, Dependency, LogConfiguration, MountPoint, NameValue, PortMapping, RuntimePlatform,
    SecretRef, Tag, TaskDefinition, Volume,
};
use super::role_propagation::{self, Backoff};
use crate::sdk_error::{Failure, provider_error};
use crate::shared::gone::done_if_gone;
use aws_sdk_ecs::types as ecs;
use panka_core::reconcile::{ErrorKind, ProviderError};

fn build_error(what: &str) -> impl Fn(aws_sdk_ecs::error::BuildError) -> ProviderError + '_ {
    move |e| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("cannot build the {what} of the task definition: {e}"),
        )
    }
}

fn container_to_sdk(c: &Container) -> Result<ecs::ContainerDefinition, ProviderError> {
    let mut builder = ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(c.essential)
        .set_command(c.command.clone());
    for p in &c.port_mappings {
        builder = builder.port_mappings(
            ecs::PortMapping::builder()
                .name(&p.name)
                .container_port(i32::from(p.container_port))
                .protocol(ecs::TransportProtocol::from(p.protocol.as_str()))
                .set_app_protocol(
                    p.app_protocol
                        .as_deref()
                        .map(ecs::ApplicationProtocol::from),
                )
                .build(),
        );
    }
    for e in &c.environment {
        builder = builder.environment(
            ecs::KeyValuePair::builder()
                .name(&e.name)
                .value(&e.value)
                .build(),
        );
    }
    for s in &c.secrets {
        builder = builder.secrets(
            ecs::Secret::builder()
                .name(&s.name)
                .value_from(&s.value_from)
                .build()
                .map_err(build_error("secrets"))?,
        );
    }
    for m in &c.mount_points {
        builder = builder.mount_points(
            ecs::MountPoint::builder()
                .source_volume(&m.source_volume)
                .container_path(&m.container_path)
                .read_only(m.read_only)
                .build(),
        );
    }
    for d in &c.depends_on {
        builder = builder.depends_on(
            ecs::ContainerDependency::builder()
                .container_name(&d.container_name)
                .condition(ecs::ContainerCondition::from(d.condition.as_str()))
                .build()
                .map_err(build_error("container dependencies"))?,
        );
    }
    for (k, v) in &c.docker_labels {
        builder = builder.docker_labels(k, v);
    }
    let mut log = ecs::LogConfiguration::builder().log_driver(ecs::LogDriver::from(
        c.log_configuration.log_driver.as_str(),
    ));
    for (k, v) in &c.log_configuration.options {
        log = log.options(k, v);
    }
    Ok(builder
        .log_configuration(log.build().map_err(build_error("log configuration"))?)
        .build())
}

/// Registers `td` as a new revision of its family; returns the revision's ARN. Retried
/// while a new execution role is not yet assumable (`backoff`).
pub async fn register(
    client: &aws_sdk_ecs::Client,
    td: &TaskDefinition,
    backoff: Backoff,
) -> Result<String, ProviderError> {
    let containers = td
        .container_definitions
        .iter()
        .map(container_to_sdk)
        .collect::<Result<Vec<_>, _>>()?;
    let request = client
        .register_task_definition()
        .family(&td.family)
        .set_requires_compatibilities(Some(
            td.requires_compatibilities
                .iter()
                .map(|c| ecs::Compatibility::from(c.as_str()))
                .collect(),
        ))
        .network_mode(ecs::NetworkMode::from(td.network_mode.as_str()))
        .cpu(&td.cpu)
        .memory(&td.memory)
        .runtime_platform(
            ecs::RuntimePlatform::builder()
                .cpu_architecture(ecs::CpuArchitecture::from(
                    td.runtime_platform.cpu_architecture.as_str(),
                ))
                .operating_system_family(ecs::OsFamily::from(
                    td.runtime_platform.operating_system_family.as_str(),
                ))
                .build(),
        )
        .execution_role_arn(&td.execution_role_arn)
        .set_task_role_arn((!td.task_role_arn.is_empty()).then(|| td.task_role_arn.clone()))
        .set_volumes(Some(
            td.volumes
                .iter()
                .map(|v| ecs::Volume::builder().name(&v.name).build())
                .collect(),
        ))
        .set_container_definitions(Some(containers))
        .set_tags(Some(
            td.tags
                .iter()
                .map(|t| ecs::Tag::builder().key(&t.key).value(&t.value).build())
                .collect(),
        ));
    let out = role_propagation::retry(backoff, || request.clone().send())
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot register task definition {}", td.family),
                &e,
            )
        })?;
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_string)
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                format!("ECS registered {} without an ARN", td.family),
            )
        })
}

fn container_from_sdk(c: &ecs::ContainerDefinition) -> Container {
    let mut environment: Vec<NameValue> = c
        .environment()
        .iter()
        .map(|e| NameValue {
            name: e.name().unwrap_or_default().to_string(),
            value: e.value().unwrap_or_default().to_string(),
        })
        .collect();
    environment.sort();
    let mut secrets: Vec<SecretRef> = c
        .secrets()
        .iter()
        .map(|s| SecretRef {
            name: s.name().to_string(),
            value_from: s.value_from().to_string(),
        })
        .collect();
    secrets.sort();
    Container {
        name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        // ECS's default for a container that does not say.
        essential: c.essential().unwrap_or(true),
        command: (!c.command().is_empty()).then(|| c.command().to_vec()),
        port_mappings: c
            .port_mappings()
            .iter()
            .map(|p| PortMapping {
                name: p.name().unwrap_or_default().to_string(),
                container_port: p
                    .container_port()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(0),
                protocol: p
                    .protocol()
                    .map(|p| p.as_str())
                    .unwrap_or("tcp")
                    .to_string(),
                app_protocol: p.app_protocol().map(|p| p.as_str().to_string()),
            })
            .collect(),
        environment,
        secrets,
        mount_points: c
            .mount_points()
            .iter()
            .map(|m| MountPoint {
                source_volume: m.source_volume().unwrap_or_default().to_string(),
                container_path: m.container_path().unwrap_or_default().to_string(),
                read_only: m.read_only().unwrap_or(false),
            })
            .collect(),
        depends_on: c
            .depends_on()
            .iter()
            .map(|d| Dependency {
                container_name: d.container_name().to_string(),
                condition: d.condition().as_str().to_string(),
            })
            .collect(),
        docker_labels: c
            .docker_labels()
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        log_configuration: c
            .log_configuration()
            .map(|l| LogConfiguration {
                log_driver: l.log_driver().as_str().to_string(),
                options: l
                    .options()
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })
            .unwrap_or(LogConfiguration {
                log_driver: String::new(),
                options: Default::default(),
            }),
    }
}

/// A registered task definition in the rendering's shape (fields panka does not set are
/// left out, so ECS's additions do not count as differences).
pub fn from_sdk(td: &ecs::TaskDefinition, tags: &[ecs::Tag]) -> TaskDefinition {
    let platform = td.runtime_platform();
    let mut tags: Vec<Tag> = tags
        .iter()
        .map(|t| Tag {
            key: t.key().unwrap_or_default().to_string(),
            value: t.value().unwrap_or_default().to_string(),
        })
        .collect();
    tags.sort();
    TaskDefinition {
        family: td.family().unwrap_or_default().to_string(),
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        network_mode: td
            .network_mode()
            .map(|m| m.as_str())
            .unwrap_or_default()
            .to_string(),
        cpu: td.cpu().unwrap_or_default().to_string(),
        memory: td.memory().unwrap_or_default().to_string(),
        // ECS runs Linux on x86_64 when a definition does not say.
        runtime_platform: RuntimePlatform {
            cpu_architecture: platform
                .and_then(|p| p.cpu_architecture())
                .map(|a| a.as_str())
                .unwrap_or("X86_64")
                .to_string(),
            operating_system_family: platform
                .and_then(|p| p.operating_system_family())
                .map(|f| f.as_str())
                .unwrap_or("LINUX")
                .to_string(),
        },
        execution_role_arn: td.execution_role_arn().unwrap_or_default().to_string(),
        task_role_arn: td.task_role_arn().unwrap_or_default().to_string(),
        volumes: td
            .volumes()
            .iter()
            .map(|v| Volume {
                name: v.name().unwrap_or_default().to_string(),
            })
            .collect(),
        container_definitions: td
            .container_definitions()
            .iter()
            .map(container_from_sdk)
            .collect(),
        tags,
    }
}

/// A registered revision: its ARN and its content.
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub arn: String,
    pub definition: TaskDefinition,
}

/// The task definition `id` (an ARN, `family:revision`, or a family for its latest active
/// revision), or `None` when there is none.
pub async fn describe(
    client: &aws_sdk_ecs::Client,
    id: &str,
) -> Result<Option<Registered>, ProviderError> {
    let out = match client
        .describe_task_definition()
        .task_definition(id)
        .include(ecs::TaskDefinitionField::Tags)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let failure = Failure::from_sdk(&e);
            // ECS answers a missing family or revision with a generic ClientException.
            let missing = failure.is_code("ClientException")
                && failure
                    .service_message
                    .as_deref()
                    .is_some_and(|m| m.contains("Unable to describe"));
            if missing {
                return Ok(None);
            }
            return Err(
                failure.into_provider_error(&format!("cannot describe task definition {id}"))
            );
        }
    };
    Ok(out.task_definition().map(|td| Registered {
        arn: td.task_definition_arn().unwrap_or(id).to_string(),
        definition: from_sdk(td, out.tags()),
    }))
}

/// The ARN of a revision equal to `rendered`: `current` (what the service runs, else the
/// family's latest) when it matches, else a newly registered one.
pub async fn ensure(
    client: &aws_sdk_ecs::Client,
    rendered: &TaskDefinition,
    current: Option<&str>,
    backoff: Backoff,
) -> Result<String, ProviderError> {
    let existing = describe(client, current.unwrap_or(&rendered.family)).await?;
    match existing {
        Some(found) if &found.definition == rendered => Ok(found.arn),
        _ => register(client, rendered, backoff).await,
    }
}

/// Deregisters every active revision of `family`; a family with none is fine.
pub async fn deregister_family(
    client: &aws_sdk_ecs::Client,
    family: &str,
) -> Result<(), ProviderError> {
    let arns: Vec<String> = client
        .list_task_definitions()
        .family_prefix(family)
        .status(ecs::TaskDefinitionStatus::Active)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot list the revisions of task definition {family}"),
                &e,
            )
        })?;
    for arn in arns {
        // The prefix also matches longer families (`api` lists `api-worker`).
        let revision_family = arn
            .rsplit_once('/')
            .and_then(|(_, tail)| tail.rsplit_once(':'))
            .map(|(f, _)| f);
        if revision_family != Some(family) {
            continue;
        }
        done_if_gone(
            client
                .deregister_task_definition()
                .task_definition(&arn)
                .send()
                .await
                .map_err(|e| {
                    provider_error(&format!("cannot deregister task definition {arn}"), &e)
                }),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microservice::render::tests::{ctx, inputs, spec};
    use crate::microservice::render::{TaskIds, render_task_definition};

    /// What ECS answers adds fields (cpu 0, hostPort, volumesFrom) and may omit defaults;
    /// read back, the definition equals the rendering.
    #[test]
    fn a_registered_definition_reads_back_equal() {
        let rendered = render_task_definition(&ctx(), &spec(), &inputs(), &TaskIds::default());
        let containers: Vec<ecs::ContainerDefinition> = rendered
            .container_definitions
            .iter()
            .map(|c| container_to_sdk(c).expect("builds"))
            .map(|c| {
                let mut b = ecs::ContainerDefinition::builder()
                    .set_name(c.name().map(str::to_string))
                    .set_image(c.image().map(str::to_string))
                    .cpu(0)
                    .set_essential(c.essential())
                    .set_command((!c.command().is_empty()).then(|| c.command().to_vec()))
                    .set_port_mappings(Some(
                        c.port_mappings()
                            .iter()
                            .map(|p| p.clone().to_builder_with_host_port())
                            .collect(),
                    ))
                    .set_environment(Some(c.environment().iter().rev().cloned().collect()))
                    .set_secrets(Some(c.secrets().to_vec()))
                    .set_depends_on(Some(c.depends_on().to_vec()))
                    .set_docker_labels(c.docker_labels().cloned())
                    .set_log_configuration(c.log_configuration().cloned());
                for m in c.mount_points() {
                    // ECS leaves `readOnly` out when it is false.
                    b = b.mount_points(
                        ecs::MountPoint::builder()
                            .set_source_volume(m.source_volume().map(str::to_string))
                            .set_container_path(m.container_path().map(str::to_string))
                            .set_read_only(m.read_only().filter(|r| *r))
                            .build(),
                    );
                }
                b.build()
            })
            .collect();
        let answered = ecs::TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:1:task-definition/f:1")
            .family(&rendered.family)
            .requires_compatibilities(ecs::Compatibility::Fargate)
            .compatibilities(ecs::Compatibility::Ec2)
            .network_mode(ecs::NetworkMode::Awsvpc)
            .cpu("256")
            .memory("512")
            .revision(1)
            .set_execution_role_arn(Some(rendered.execution_role_arn.clone()))
            .set_task_role_arn(Some(rendered.task_role_arn.clone()))
            .volumes(ecs::Volume::builder().name("configs").build())
            .runtime_platform(
                ecs::RuntimePlatform::builder()
                    .cpu_architecture(ecs::CpuArchitecture::X8664)
                    .operating_system_family(ecs::OsFamily::Linux)
                    .build(),
            )
            .set_container_definitions(Some(containers))
            .build();
        let tags: Vec<ecs::Tag> = rendered
            .tags
            .iter()
            .rev()
            .map(|t| ecs::Tag::builder().key(&t.key).value(&t.value).build())
            .collect();
        assert_eq!(from_sdk(&answered, &tags), rendered);
    }

    trait HostPort {
        fn to_builder_with_host_port(self) -> ecs::PortMapping;
    }

    impl HostPort for ecs::PortMapping {
        fn to_builder_with_host_port(self) -> ecs::PortMapping {
            ecs::PortMapping::builder()
                .set_name(self.name().map(str::to_string))
                .set_container_port(self.container_port())
                .set_host_port(self.container_port())
                .set_protocol(self.protocol().cloned())
                .set_app_protocol(self.app_protocol().cloned())
                .build()
        }
    }
}
