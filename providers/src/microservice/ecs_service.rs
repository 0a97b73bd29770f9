//! The ECS service: Fargate tasks in awsvpc mode, rolling deployments that keep every
//! healthy task until its replacement is healthy (100 % / 200 %), and the deployment
//! circuit breaker with rollback.

use super::names::Names;
use super::role_propagation::{self, Backoff};
use super::wait::{Wait, wait_until};
use crate::sdk_error::provider_error;
use crate::shared::gone::done_if_gone;
use crate::shared::ownership::check_owned;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags,
    Service, ServiceField, Tag,
};
use panka_core::reconcile::{ErrorKind, ProviderError, Readiness, ResourceContext};
use std::collections::BTreeMap;

type Client = aws_sdk_ecs::Client;

/// How long new tasks behind a load balancer may fail health checks before ECS counts
/// them as unhealthy: time to boot.
const HEALTH_CHECK_GRACE_SECONDS: i32 = 60;

/// What the service should look like; compared with the live service by `update`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePlan {
    pub task_definition_arn: String,
    pub desired_count: u32,
    /// Sorted.
    pub subnets: Vec<String>,
    /// The service's own group and the client groups of its databases, sorted.
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// The target groups the tasks register with: one, or two while the service moves
    /// between its own load balancer and the shared one. Sorted.
    pub load_balancers: Vec<LoadBalancerMapping>,
    /// The CloudWatch alarms ECS rolls a deployment back on, sorted; none turns them off.
    pub deployment_alarms: Vec<String>,
}

fn deployment_configuration(plan: &ServicePlan) -> Result<DeploymentConfiguration, ProviderError> {
    let circuit_breaker = DeploymentCircuitBreaker::builder()
        .enable(true)
        .rollback(true)
        .build();
    let alarms = DeploymentAlarms::builder()
        .set_alarm_names(Some(plan.deployment_alarms.clone()))
        .enable(!plan.deployment_alarms.is_empty())
        .rollback(true)
        .build()
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Other,
                format!("cannot configure the deployment alarms: {e}"),
            )
        })?;
    Ok(DeploymentConfiguration::builder()
        .minimum_healthy_percent(100)
        .maximum_percent(200)
        .deployment_circuit_breaker(circuit_breaker)
        .alarms(alarms)
        .build())
}

/// The alarms a live service rolls back on, sorted (none when they are off); `None` when
/// ECS reports no deployment configuration at all (an emulator that does not model it).
pub fn live_deployment_alarms(service: &Service) -> Option<Vec<String>> {
    let configuration = service.deployment_configuration()?;
    let mut names = match configuration.alarms() {
        Some(alarms) if alarms.enable() => alarms.alarm_names().to_vec(),
        _ => Vec::new(),
    };
    names.sort();
    Some(names)
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoadBalancerMapping {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: u16,
}

/// The network part of a live service, in the plan's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveNetwork {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

pub fn live_network(service: &Service) -> LiveNetwork {
    let vpc = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    let mut subnets = vpc.map(|v| v.subnets().to_vec()).unwrap_or_default();
    subnets.sort();
    let mut security_groups = vpc
        .map(|v| v.security_groups().to_vec())
        .unwrap_or_default();
    security_groups.sort();
    LiveNetwork {
        subnets,
        security_groups,
        assign_public_ip: vpc.and_then(|v| v.assign_public_ip()) == Some(&AssignPublicIp::Enabled),
    }
}

/// The first target group the service registers with (the one it keeps, once a move
/// between load balancers is done).
pub fn live_load_balancer(service: &Service) -> Option<LoadBalancerMapping> {
    live_load_balancers(service).into_iter().next()
}

/// Every target group the service registers its tasks with, sorted.
pub fn live_load_balancers(service: &Service) -> Vec<LoadBalancerMapping> {
    let mut mappings: Vec<LoadBalancerMapping> = service
        .load_balancers()
        .iter()
        .map(|lb| LoadBalancerMapping {
            target_group_arn: lb.target_group_arn().unwrap_or_default().to_string(),
            container_name: lb.container_name().unwrap_or_default().to_string(),
            container_port: lb
                .container_port()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
        })
        .collect();
    mappings.sort();
    mappings
}

pub fn service_tags(service: &Service) -> BTreeMap<String, String> {
    service
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

fn network_configuration(plan: &ServicePlan) -> Result<NetworkConfiguration, ProviderError> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(plan.subnets.clone()))
        .set_security_groups(Some(plan.security_groups.clone()))
        .assign_public_ip(if plan.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("cannot build the service's network configuration: {e}"),
            )
        })?;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn load_balancers(plan: &ServicePlan) -> Vec<LoadBalancer> {
    plan.load_balancers
        .iter()
        .map(|lb| {
            LoadBalancer::builder()
                .target_group_arn(&lb.target_group_arn)
                .container_name(&lb.container_name)
                .container_port(i32::from(lb.container_port))
                .build()
        })
        .collect()
}

fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The service `names.service` in any status (`INACTIVE` included), or `None` when ECS
/// does not know it or the cluster is gone.
pub async fn describe_any(
    client: &Client,
    names: &Names,
) -> Result<Option<Service>, ProviderError> {
    let out = client
        .describe_services()
        .cluster(&names.cluster)
        .services(&names.service)
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot describe ECS service {}", names.service),
                &e,
            )
        });
    match out {
        Ok(out) => Ok(out
            .services()
            .iter()
            .find(|s| s.service_name() == Some(names.service.as_str()))
            .cloned()),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The service unless it is deleted (`INACTIVE`).
pub async fn describe(client: &Client, names: &Names) -> Result<Option<Service>, ProviderError> {
    Ok(describe_any(client, names)
        .await?
        .filter(|s| s.status() != Some("INACTIVE")))
}

/// Creates the service; returns it as ECS describes it. Retried while a new execution
/// role is not yet assumable (`backoff`).
pub async fn create(
    client: &Client,
    ctx: &ResourceContext,
    names: &Names,
    plan: &ServicePlan,
    backoff: Backoff,
) -> Result<Service, ProviderError> {
    let deployment = deployment_configuration(plan)?;
    let request = client
        .create_service()
        .cluster(&names.cluster)
        .service_name(&names.service)
        .task_definition(&plan.task_definition_arn)
        .desired_count(count(plan.desired_count))
        .launch_type(LaunchType::Fargate)
        .network_configuration(network_configuration(plan)?)
        .set_load_balancers(Some(load_balancers(plan)))
        .set_health_check_grace_period_seconds(
            (!plan.load_balancers.is_empty()).then_some(HEALTH_CHECK_GRACE_SECONDS),
        )
        .deployment_configuration(deployment)
        .enable_ecs_managed_tags(true)
        .propagate_tags(PropagateTags::Service)
        .set_tags(Some(
            ctx.tags()
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ));
    let out = role_propagation::retry(backoff, || request.clone().send())
        .await
        .map_err(|e| provider_error(&format!("cannot create ECS service {}", names.service), &e))?;
    out.service().cloned().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Other,
            format!("ECS created {} but did not describe it", names.service),
        )
    })
}

/// Brings `current` to `plan` with one UpdateService carrying only what differs (none
/// when nothing does). The desired count is left alone unless `set_count` (autoscaling
/// owns it otherwise).
pub async fn update(
    client: &Client,
    names: &Names,
    current: &Service,
    plan: &ServicePlan,
    set_count: bool,
    backoff: Backoff,
) -> Result<(), ProviderError> {
    let mut request = client
        .update_service()
        .cluster(&names.cluster)
        .service(&names.service);
    let mut changed = false;
    if current.task_definition() != Some(plan.task_definition_arn.as_str()) {
        request = request.task_definition(&plan.task_definition_arn);
        changed = true;
    }
    if set_count && current.desired_count() != count(plan.desired_count) {
        request = request.desired_count(count(plan.desired_count));
        changed = true;
    }
    let network = live_network(current);
    let wanted_network = LiveNetwork {
        subnets: plan.subnets.clone(),
        security_groups: plan.security_groups.clone(),
        assign_public_ip: plan.assign_public_ip,
    };
    if network != wanted_network {
        request = request.network_configuration(network_configuration(plan)?);
        changed = true;
    }
    if live_load_balancers(current) != plan.load_balancers {
        request = request
            .set_load_balancers(Some(load_balancers(plan)))
            .set_health_check_grace_period_seconds(
                (!plan.load_balancers.is_empty()).then_some(HEALTH_CHECK_GRACE_SECONDS),
            );
        changed = true;
    }
    if live_deployment_alarms(current).as_ref() != Some(&plan.deployment_alarms) {
        request = request.deployment_configuration(deployment_configuration(plan)?);
        changed = true;
    }
    if !changed {
        return Ok(());
    }
    role_propagation::retry(backoff, || request.clone().send())
        .await
        .map_err(|e| provider_error(&format!("cannot update ECS service {}", names.service), &e))?;
    Ok(())
}

/// Creates the service, or adopts it (when it is this component's) and updates it.
pub async fn ensure(
    client: &Client,
    ctx: &ResourceContext,
    names: &Names,
    plan: &ServicePlan,
    set_count: impl FnOnce(&Service) -> bool,
    backoff: Backoff,
) -> Result<(), ProviderError> {
    match describe(client, names).await? {
        Some(service) => {
            check_owned(ctx, "ECS service", &names.service, &service_tags(&service))?;
            if service.status() == Some("DRAINING") {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("ECS service {} is still being deleted", names.service),
                )
                .with_hint("wait a minute and run the command again"));
            }
            let set_count = set_count(&service);
            update(client, names, &service, plan, set_count, backoff).await
        }
        None => create(client, ctx, names, plan, backoff).await.map(|_| ()),
    }
}

/// Waits until the service's rollout is done, judged as readiness judges it (one
/// deployment, completed, running what it wants). Used while a service moves between
/// load balancers, before its names follow.
///
/// Errors: `Other` when ECS rolled the deployment back, `TimedOut` past the wait.
pub async fn wait_steady(client: &Client, names: &Names, wait: Wait) -> Result<(), ProviderError> {
    wait_until(
        wait,
        &format!("ECS service {} to settle", names.service),
        || async {
            match super::readiness::probe(client, names, None).await?.0 {
                Readiness::Ready => Ok(true),
                Readiness::Waiting { .. } => Ok(false),
                Readiness::Failed { reason } => Err(ProviderError::new(
                    ErrorKind::Other,
                    format!(
                        "ECS could not register {} with the new load balancer: {reason}",
                        names.service
                    ),
                )),
            }
        },
    )
    .await
}

/// Scales the service to 0, deletes it and waits until ECS reports it gone. Gone is fine.
/// The caller checked that the service is the component's (`check_ownership`).
pub async fn delete(client: &Client, names: &Names, wait: Wait) -> Result<(), ProviderError> {
    let Some(service) = describe(client, names).await? else {
        return Ok(());
    };
    if service.status() == Some("ACTIVE") && service.desired_count() > 0 {
        done_if_gone(
            client
                .update_service()
                .cluster(&names.cluster)
                .service(&names.service)
                .desired_count(0)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    provider_error(
                        &format!("cannot scale ECS service {} to 0", names.service),
                        &e,
                    )
                }),
        )?;
    }
    done_if_gone(
        client
            .delete_service()
            .cluster(&names.cluster)
            .service(&names.service)
            .force(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                provider_error(&format!("cannot delete ECS service {}", names.service), &e)
            }),
    )?;
    wait_until(
        wait,
        &format!("ECS service {} to drain", names.service),
        || async { Ok(describe(client, names).await?.is_none()) },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microservice::render::tests::ctx;
    use aws_sdk_ecs::operation::create_service::{CreateServiceInput, CreateServiceOutput};
    use aws_sdk_ecs::operation::update_service::{UpdateServiceInput, UpdateServiceOutput};
    use aws_smithy_mocks::{mock, mock_client};
    use std::sync::{Arc, Mutex};

    fn backoff() -> Backoff {
        Backoff {
            first: std::time::Duration::from_millis(1),
            max: std::time::Duration::from_millis(1),
            patience: std::time::Duration::from_millis(10),
        }
    }

    fn plan() -> ServicePlan {
        ServicePlan {
            task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/api:2".into(),
            desired_count: 2,
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-db".into(), "sg-svc".into()],
            assign_public_ip: true,
            load_balancers: vec![LoadBalancerMapping {
                target_group_arn: "arn:tg".into(),
                container_name: "api".into(),
                container_port: 8080,
            }],
            deployment_alarms: vec!["api-5xx".into()],
        }
    }

    /// The service as ECS would describe it after creating it from `plan`.
    fn live(plan: &ServicePlan) -> Service {
        Service::builder()
            .service_name(Names::new(&ctx()).service)
            .status("ACTIVE")
            .task_definition(&plan.task_definition_arn)
            .desired_count(count(plan.desired_count))
            .network_configuration(network_configuration(plan).expect("builds"))
            .set_load_balancers(Some(load_balancers(plan)))
            .deployment_configuration(deployment_configuration(plan).expect("builds"))
            .build()
    }

    #[tokio::test]
    async fn create_asks_for_rolling_deployments_with_the_circuit_breaker() {
        let seen: Arc<Mutex<Option<CreateServiceInput>>> = Arc::default();
        let capture = seen.clone();
        let rule = mock!(aws_sdk_ecs::Client::create_service).then_compute_output(move |req| {
            *capture.lock().expect("lock") = Some(req.clone());
            CreateServiceOutput::builder()
                .service(Service::builder().service_name("api").build())
                .build()
        });
        let client = mock_client!(aws_sdk_ecs, [&rule]);
        create(&client, &ctx(), &Names::new(&ctx()), &plan(), backoff())
            .await
            .expect("create");
        let req = seen.lock().expect("lock").clone().expect("one request");
        let deployment = req
            .deployment_configuration()
            .expect("deployment configuration");
        assert_eq!(
            (
                deployment.minimum_healthy_percent(),
                deployment.maximum_percent()
            ),
            (Some(100), Some(200))
        );
        let breaker = deployment
            .deployment_circuit_breaker()
            .expect("circuit breaker");
        assert!(breaker.enable() && breaker.rollback());
        let alarms = deployment.alarms().expect("deployment alarms");
        assert!(alarms.enable() && alarms.rollback());
        assert_eq!(alarms.alarm_names(), ["api-5xx"]);
        assert_eq!(req.launch_type(), Some(&LaunchType::Fargate));
        assert_eq!(req.enable_ecs_managed_tags(), Some(true));
        assert_eq!(req.propagate_tags(), Some(&PropagateTags::Service));
        assert_eq!(req.desired_count(), Some(2));
        assert_eq!(
            req.health_check_grace_period_seconds(),
            Some(HEALTH_CHECK_GRACE_SECONDS)
        );
        let vpc = req
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .expect("awsvpc");
        assert_eq!(vpc.assign_public_ip(), Some(&AssignPublicIp::Enabled));
        assert_eq!(vpc.security_groups(), ["sg-db", "sg-svc"]);
        assert_eq!(req.load_balancers()[0].container_port(), Some(8080));
        assert_eq!(req.tags().len(), 4);
    }

    #[tokio::test]
    async fn update_sends_only_what_differs() {
        let names = Names::new(&ctx());
        let untouched = mock!(aws_sdk_ecs::Client::update_service)
            .then_output(|| UpdateServiceOutput::builder().build());
        let client = mock_client!(aws_sdk_ecs, [&untouched]);
        update(&client, &names, &live(&plan()), &plan(), true, backoff())
            .await
            .expect("no-op");
        assert_eq!(untouched.num_calls(), 0, "nothing differs, nothing is sent");

        let seen: Arc<Mutex<Option<UpdateServiceInput>>> = Arc::default();
        let capture = seen.clone();
        let rule = mock!(aws_sdk_ecs::Client::update_service).then_compute_output(move |req| {
            *capture.lock().expect("lock") = Some(req.clone());
            UpdateServiceOutput::builder().build()
        });
        let client = mock_client!(aws_sdk_ecs, [&rule]);
        let mut wanted = plan();
        wanted.task_definition_arn = "arn:aws:ecs:us-east-1:1:task-definition/api:3".into();
        wanted.desired_count = 4;
        // Autoscaling owns the count: only the task definition goes out.
        update(&client, &names, &live(&plan()), &wanted, false, backoff())
            .await
            .expect("update");
        let req = seen.lock().expect("lock").clone().expect("one request");
        assert_eq!(
            req.task_definition(),
            Some(wanted.task_definition_arn.as_str())
        );
        assert_eq!(req.desired_count(), None);
        assert!(req.network_configuration().is_none());
        assert!(req.load_balancers.is_none());
    }
}
