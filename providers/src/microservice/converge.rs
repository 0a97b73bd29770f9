//! Create and update: every resource found (and checked to be this component's) or
//! created, then changed to match the spec.

use super::ecs_service::{self, LoadBalancerMapping, ServicePlan};
use super::https::{self, zone::Zone};
use super::names::{Names, ids};
use super::{
    MicroServiceReconciler, alarms, alb, autoscaling, cluster, fields, iam, logs, render,
    secret_arns, task_definition,
};
use crate::network::{self, IngressRule, Source};
use crate::sdk_error::provider_error;
use crate::shared::ownership::{check_owned, recorded};
use panka_core::model::{Domain, MicroServiceSpec};
use panka_core::progress;
use panka_core::reconcile::{
    ErrorKind, Inputs, KnownIds, Observed, ProviderError, ResourceContext,
};

impl MicroServiceReconciler {
    /// Every resource under this component's names, checked before anything changes (the
    /// one ownership policy): each must be recorded in the component's state (`known`;
    /// empty for a create) or carry its tags. Anything else stops the create, update or
    /// delete as `Foreign`, naming it. Without a `vpc_id` (the network is gone) there are
    /// no security groups to check.
    pub(super) async fn check_ownership(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        vpc_id: Option<&str>,
        known: &KnownIds,
    ) -> Result<(), ProviderError> {
        let groups = async {
            let Some(vpc_id) = vpc_id else {
                return Ok((None, None));
            };
            tokio::try_join!(
                network::find_security_group(&self.ec2, vpc_id, &names.alb_security_group),
                network::find_security_group(&self.ec2, vpc_id, &names.service_security_group),
            )
        };
        let (service, alb, target_group, role, task_role, log_group, (alb_sg, svc_sg)) = tokio::try_join!(
            ecs_service::describe(&self.ecs, names),
            alb::find_load_balancer(&self.elbv2, &names.load_balancer),
            alb::find_target_group(&self.elbv2, &names.target_group),
            iam::role_arn(&self.iam, &names.execution_role),
            iam::role_arn(&self.iam, &names.task_role),
            logs::find(&self.logs, &names.log_group),
            groups,
        )?;
        // State vouches for what it recorded: its tags are not read.
        let vouched = |key: &str, value: &str| recorded(known, key, value);
        if let Some(service) = service
            && !vouched(ids::SERVICE_NAME, &names.service)
        {
            check_owned(
                ctx,
                "ECS service",
                &names.service,
                &ecs_service::service_tags(&service),
            )?;
        }
        if let Some(alb) = alb
            && !vouched(ids::LOAD_BALANCER_ARN, &alb.arn)
        {
            check_owned(
                ctx,
                "load balancer",
                &names.load_balancer,
                &alb::tags(&self.elbv2, &alb.arn).await?,
            )?;
        }
        if let Some(tg) = target_group
            && !vouched(ids::TARGET_GROUP_ARN, &tg.arn)
        {
            check_owned(
                ctx,
                "target group",
                &names.target_group,
                &alb::tags(&self.elbv2, &tg.arn).await?,
            )?;
        }
        for (found, key, name) in [
            (role, ids::EXECUTION_ROLE, &names.execution_role),
            (task_role, ids::TASK_ROLE, &names.task_role),
        ] {
            if found.is_some() && !vouched(key, name) {
                check_owned(
                    ctx,
                    "IAM role",
                    name,
                    &iam::role_tags(&self.iam, name).await?,
                )?;
            }
        }
        if let Some(group) = log_group
            && !vouched(ids::LOG_GROUP, &names.log_group)
        {
            check_owned(
                ctx,
                "log group",
                &names.log_group,
                &logs::tags(&self.logs, &group).await?,
            )?;
        }
        for (group, key) in [
            (alb_sg, ids::ALB_SECURITY_GROUP_ID),
            (svc_sg, ids::SERVICE_SECURITY_GROUP_ID),
        ] {
            if let Some(group) = group
                && !vouched(key, &group.id)
            {
                check_owned(ctx, "security group", &group.name, &group.tags)?;
            }
        }
        Ok(())
    }

    /// The application's role: trusted by ECS tasks of this account only, with the grants
    /// of its dependencies and its declared permissions (no inline policy when there are
    /// none: IAM refuses an empty one). Returns its ARN.
    async fn ensure_task_role(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        inputs: &Inputs,
        names: &Names,
        log_group_arn: &str,
    ) -> Result<String, ProviderError> {
        // The account comes from the log group's ARN, just read or created: no STS call
        // and no permission beyond what the apply already needs.
        let account = iam::arn_account(log_group_arn).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                format!("cannot tell the AWS account from log group ARN `{log_group_arn}`"),
            )
        })?;
        let statements = fields::task_statements(spec, inputs);
        iam::ensure(
            &self.iam,
            ctx,
            &iam::RoleSpec {
                name: &names.task_role,
                description: format!(
                    "ECS task role (the application's credentials) of {} ({}/{})",
                    ctx.id, ctx.stack, ctx.environment
                ),
                trust: iam::trust_policy(Some(account)),
                policy_name: &names.task_policy,
                policy: (!statements.is_empty()).then(|| iam::task_policy(&statements)),
            },
        )
        .await
    }

    /// The VPC's CIDR, the only source an internal load balancer accepts.
    async fn vpc_cidr(&self, vpc_id: &str) -> Result<String, ProviderError> {
        let out = self
            .ec2
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot read the CIDR of {vpc_id}"), &e))?;
        out.vpcs()
            .first()
            .and_then(|v| v.cidr_block())
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::NotFound,
                    format!("VPC {vpc_id} has no CIDR block"),
                )
            })
    }

    /// The ALB, target group and listener with their security group, routing to the
    /// container's `port`; returns the mapping the service registers its tasks with.
    async fn ensure_load_balancing(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
        net: &network::NetworkInfo,
        (alb_security_group, port): (&str, u16),
        domain: Option<&OnDomain<'_>>,
    ) -> Result<LoadBalancerMapping, ProviderError> {
        let step = progress::step(format!("{} load balancer", progress::verb()));
        let alb = alb::ensure_load_balancer(
            &self.elbv2,
            ctx,
            &names.load_balancer,
            net.load_balancer_subnets(spec.load_balancer.internal),
            alb_security_group,
            spec.load_balancer.internal,
        )
        .await?;
        step.done();
        let health = fields::health_check(spec).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "a load balancer needs a health check and there is none",
            )
        })?;
        let step = progress::step(format!("{} target group", progress::verb()));
        let tg = alb::ensure_target_group(
            &self.elbv2,
            ctx,
            &names.target_group,
            &net.vpc_id,
            port,
            &health,
        )
        .await?;
        step.done();
        // The new route before the old one changes: HTTPS (certificate, listener, rule,
        // records) is in place before plain HTTP redirects to it; leaving HTTPS, plain
        // HTTP forwards again before the HTTPS route goes.
        if let Some(on) = domain {
            self.ensure_https(ctx, on.domain, &on.zone, &on.hosts, &alb, &tg.arn)
                .await?;
        }
        let step = progress::step(format!("{} listener", progress::verb()));
        let action = match domain {
            Some(_) => alb::HttpAction::RedirectToHttps,
            None => alb::HttpAction::Forward(&tg.arn),
        };
        alb::ensure_listener(
            &self.elbv2,
            ctx,
            &alb.arn,
            &tg.arn,
            spec.load_balancer.listener_port,
            action,
        )
        .await?;
        step.done();
        if domain.is_none() {
            let zone = self
                .zone(ctx.domain.as_ref(), &KnownIds::new())
                .await
                .ok()
                .flatten();
            self.remove_https(ctx, zone.as_ref(), &alb, &tg.arn).await?;
        }
        Ok(LoadBalancerMapping {
            target_group_arn: tg.arn,
            container_name: names.container.clone(),
            container_port: port,
        })
    }

    async fn ensure_alb_security_group(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
        vpc_id: &str,
        https: bool,
    ) -> Result<String, ProviderError> {
        let source = if spec.load_balancer.internal {
            self.vpc_cidr(vpc_id).await?
        } else {
            "0.0.0.0/0".to_string()
        };
        let mut ports = vec![spec.load_balancer.listener_port];
        if https {
            ports.push(https::routes::HTTPS_PORT);
        }
        ports.sort_unstable();
        ports.dedup();
        let rules: Vec<IngressRule> = ports
            .into_iter()
            .map(|port| IngressRule {
                port,
                source: Source::Cidr(source.clone()),
            })
            .collect();
        network::ensure_security_group(
            &self.ec2,
            ctx,
            vpc_id,
            &names.alb_security_group,
            &format!("panka: load balancer of {}", ctx.id),
            &rules,
        )
        .await
    }

    /// Create and update alike: every resource found or created, then changed to match.
    pub(super) async fn converge(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        check_inputs(spec, inputs)?;
        let names = Names::new(ctx);
        let net = network::resolve(&self.ec2, ctx.network.as_ref()).await?;
        self.check_ownership(ctx, &names, Some(&net.vpc_id), &KnownIds::new())
            .await?;
        // Looked up before anything changes: a missing secret stops the create untouched,
        // and so do a missing zone and a host name someone else's record holds.
        let secret_arns = secret_arns::resolve(&self.secretsmanager, &spec.secrets).await?;
        let on_domain = self.on_domain(ctx, spec, &names).await?;

        let step = progress::step(format!("{} ECS cluster and log group", progress::verb()));
        cluster::ensure(&self.ecs, ctx, &names.cluster).await?;
        let log_group = logs::ensure(
            &self.logs,
            ctx,
            &names.log_group,
            spec.infra.log_retention_days,
        )
        .await?;
        step.done();
        let policy = iam::execution_policy(
            &log_group.streams_arn(),
            &secret_arns.values().cloned().collect::<Vec<_>>(),
            iam::ecr_repository_arn(&spec.image.repository).as_deref(),
        );
        let step = progress::step(format!("{} execution and task roles", progress::verb()));
        let execution_role_arn = iam::ensure(
            &self.iam,
            ctx,
            &iam::RoleSpec {
                name: &names.execution_role,
                description: format!(
                    "ECS task execution role of {} ({}/{})",
                    ctx.id, ctx.stack, ctx.environment
                ),
                trust: iam::trust_policy(None),
                policy_name: &names.execution_policy,
                policy: Some(policy),
            },
        )
        .await?;
        let task_role_arn = self
            .ensure_task_role(ctx, spec, inputs, &names, &log_group.arn)
            .await?;
        step.done();

        let target_port = fields::target_port(spec);
        let step = progress::step(format!("{} security groups", progress::verb()));
        let alb_security_group = match target_port {
            Some(_) => Some(
                self.ensure_alb_security_group(ctx, spec, &names, &net.vpc_id, on_domain.is_some())
                    .await?,
            ),
            None => None,
        };
        let service_rules = task_ingress(spec, alb_security_group.as_deref());
        let service_security_group = network::ensure_security_group(
            &self.ec2,
            ctx,
            &net.vpc_id,
            &names.service_security_group,
            &format!("panka: tasks of {}", ctx.id),
            &service_rules,
        )
        .await?;
        step.done();
        let load_balancer = match (target_port, &alb_security_group) {
            (Some(port), Some(sg)) => Some(
                self.ensure_load_balancing(ctx, spec, &names, &net, (sg, port), on_domain.as_ref())
                    .await?,
            ),
            _ => None,
        };

        let rendered = render::render_task_definition(
            ctx,
            spec,
            inputs,
            &render::TaskIds {
                execution_role_arn,
                task_role_arn,
                secret_arns,
            },
        );
        let step = progress::step(format!("{} task definition", progress::verb()));
        let current = ecs_service::describe(&self.ecs, &names).await?;
        let task_definition_arn = task_definition::ensure(
            &self.ecs,
            &rendered,
            current.as_ref().and_then(|s| s.task_definition()),
            self.role_backoff(),
        )
        .await?;
        step.done();
        let mut security_groups = vec![service_security_group];
        security_groups.extend(fields::client_security_groups(inputs));
        security_groups.sort();
        security_groups.dedup();
        let scaling = fields::from_spec(ctx, spec, inputs).autoscaling;
        let error_rate = fields::error_rate(ctx, spec);
        let deployment_alarms = self
            .ensure_deployment_alarms(ctx, spec, &names, error_rate, load_balancer.as_ref())
            .await?;
        let plan = ServicePlan {
            task_definition_arn,
            desired_count: fields::initial_count(spec.infra.replicas, scaling.as_ref()),
            subnets: net.private_subnet_ids.clone(),
            security_groups,
            assign_public_ip: net.tasks_need_public_ip,
            load_balancer,
            deployment_alarms,
        };
        // Autoscaling owns the count while it stays in range; a count outside the range
        // (changed by hand, or a new range) is set, or the plan would show it forever.
        let set_count = |live: &aws_sdk_ecs::types::Service| match &scaling {
            None => true,
            Some(range) => !fields::within(range, live.desired_count()),
        };
        let step = progress::step(format!("{} ECS service", progress::verb()));
        ecs_service::ensure(
            &self.ecs,
            ctx,
            &names,
            &plan,
            set_count,
            self.role_backoff(),
        )
        .await?;
        autoscaling::ensure(&self.autoscaling, ctx, &names, scaling.as_ref()).await?;
        step.done();
        if error_rate.is_none() {
            // Only once ECS no longer watches it.
            alarms::delete(&self.cloudwatch, &names.error_rate_alarm).await?;
        }

        if target_port.is_none() {
            // The load balancer was turned off: the service no longer points at it.
            if let Some(alb) = alb::find_load_balancer(&self.elbv2, &names.load_balancer).await?
                && let Some(tg) = alb::find_target_group(&self.elbv2, &names.target_group).await?
            {
                let zone = self
                    .zone(ctx.domain.as_ref(), &KnownIds::new())
                    .await
                    .ok()
                    .flatten();
                self.remove_https(ctx, zone.as_ref(), &alb, &tg.arn).await?;
            }
            alb::delete(
                &self.elbv2,
                &names.load_balancer,
                &names.target_group,
                self.wait(),
            )
            .await?;
            self.delete_own_security_group(ctx, &net.vpc_id, &names.alb_security_group, None)
                .await?;
        }

        self.observe(ctx, &KnownIds::new()).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Transient,
                format!(
                    "ECS service {} was created but cannot be read back yet",
                    names.service
                ),
            )
        })
    }
}

/// A service's place on the environment's domain: the zone and its hosts as written
/// (the first is its `url`).
pub(super) struct OnDomain<'a> {
    pub domain: &'a Domain,
    pub zone: Zone,
    pub hosts: Vec<String>,
}

impl MicroServiceReconciler {
    /// The alarms ECS rolls the service's deployments back on, sorted: panka's error-rate
    /// alarm on the load balancer's counts (put here, before the service refers to it)
    /// and the team's own.
    async fn ensure_deployment_alarms(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
        error_rate: Option<u32>,
        load_balancer: Option<&LoadBalancerMapping>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut watched = spec.rollback.alarms.clone();
        if let (Some(percent), Some(mapping)) = (error_rate, load_balancer)
            && let Some(alb) = alb::find_load_balancer(&self.elbv2, &names.load_balancer).await?
        {
            let step = progress::step(format!("{} error-rate alarm", progress::verb()));
            alarms::ensure(
                &self.cloudwatch,
                ctx,
                &names.error_rate_alarm,
                percent,
                &alb.arn,
                &mapping.target_group_arn,
            )
            .await?;
            step.done();
            watched.push(names.error_rate_alarm.clone());
        }
        watched.sort();
        watched.dedup();
        Ok(watched)
    }

    /// The zone and hosts of a service with hosts, each host checked to be free or this
    /// load balancer's already; `None` for a service without hosts.
    async fn on_domain<'a>(
        &self,
        ctx: &'a ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
    ) -> Result<Option<OnDomain<'a>>, ProviderError> {
        let hosts = panka_core::model::service_hosts(ctx, spec);
        let (Some(domain), false) = (ctx.domain.as_ref(), hosts.is_empty()) else {
            return Ok(None);
        };
        if fields::target_port(spec).is_none() {
            return Ok(None);
        }
        let zone = https::zone::resolve(&self.route53, domain).await?;
        let load_balancer = alb::find_load_balancer(&self.elbv2, &names.load_balancer).await?;
        self.check_hosts_free(
            &zone,
            &hosts,
            load_balancer.as_ref().map(|a| a.dns_name.as_str()),
        )
        .await?;
        Ok(Some(OnDomain {
            domain,
            zone,
            hosts,
        }))
    }
}

/// The chain load balancer → tasks: the port the load balancer forwards to (and its
/// health-check port, when the readiness probe uses another one), only from the load
/// balancer's group. Other `ports` stay closed to everything; no load balancer, no rule.
pub(super) fn task_ingress(
    spec: &MicroServiceSpec,
    alb_security_group: Option<&str>,
) -> Vec<IngressRule> {
    let (Some(port), Some(sg)) = (fields::target_port(spec), alb_security_group) else {
        return Vec::new();
    };
    let mut ports = vec![port];
    ports.extend(fields::health_check(spec).map(|h| h.port));
    ports.sort_unstable();
    ports.dedup();
    ports
        .into_iter()
        .map(|port| IngressRule {
            port,
            source: Source::Group(sg.to_string()),
        })
        .collect()
}

/// What must be known before anything is created: every `valueFrom` value and every
/// config file's content.
pub(super) fn check_inputs(spec: &MicroServiceSpec, inputs: &Inputs) -> Result<(), ProviderError> {
    let unresolved = render::unresolved_env(spec, inputs);
    if !unresolved.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "environment variables {} take their values from other components, which were not resolved",
                unresolved.join(", ")
            ),
        ));
    }
    let missing = render::missing_config_files(spec, inputs);
    if !missing.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "the content of config files {} was not loaded",
                missing.join(", ")
            ),
        ));
    }
    secret_arns::check_keys(&spec.secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_admit_only_the_target_port_from_the_load_balancer() {
        use crate::microservice::render::tests::spec;
        let mut spec = spec();
        spec.ports.push(panka_core::model::Port {
            name: "admin".into(),
            port: 9090,
            protocol: panka_core::model::Protocol::Tcp,
        });
        let target = fields::target_port(&spec).expect("an http port");
        let rules = task_ingress(&spec, Some("sg-alb"));
        assert_eq!(
            rules,
            vec![IngressRule {
                port: target,
                source: Source::Group("sg-alb".into()),
            }],
            "only the port the load balancer forwards to"
        );
        assert!(
            task_ingress(&spec, None).is_empty(),
            "no load balancer, no rule"
        );
        spec.load_balancer.enabled = false;
        assert!(task_ingress(&spec, Some("sg-alb")).is_empty());
    }

    #[test]
    fn inputs_must_be_resolved_before_anything_is_created() {
        use crate::microservice::render::tests::{inputs, spec};
        assert!(check_inputs(&spec(), &inputs()).is_ok());
        let err = check_inputs(&spec(), &Inputs::default()).expect_err("unresolved");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message.contains("DATABASE_HOST, QUEUE_URL"),
            "{}",
            err.message
        );
    }
}
