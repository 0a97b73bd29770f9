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
use crate::shared::ownership::{check_environment_owned, check_owned, recorded};
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
        let (https_target_group, shared_alb) = tokio::try_join!(
            alb::find_target_group(&self.elbv2, &names.https_target_group),
            alb::find_load_balancer(&self.elbv2, &names.shared_load_balancer),
        )?;
        if let Some(tg) = https_target_group
            && !recorded(known, ids::TARGET_GROUP_ARN, &tg.arn)
        {
            check_owned(
                ctx,
                "target group",
                &names.https_target_group,
                &alb::tags(&self.elbv2, &tg.arn).await?,
            )?;
        }
        // The shared load balancer is the stack's and environment's, not the component's;
        // it matters only on a domain.
        if let Some(shared) = shared_alb.filter(|_| ctx.domain.is_some()) {
            check_environment_owned(
                ctx,
                "load balancer",
                &names.shared_load_balancer,
                &alb::tags(&self.elbv2, &shared.arn).await?,
            )?;
        }
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

    /// The service's own ALB, target group and listener (plain HTTP forwarding), routing
    /// to the container's `port`; returns the mapping the service registers its tasks
    /// with and the load balancer's ARN. An HTTPS side left from an earlier layout goes.
    async fn ensure_own_load_balancing(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
        net: &network::NetworkInfo,
        (alb_security_group, port): (&str, u16),
    ) -> Result<(LoadBalancerMapping, String), ProviderError> {
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
        let step = progress::step(format!("{} target group", progress::verb()));
        let tg = self
            .ensure_target_group(ctx, spec, &names.target_group, &net.vpc_id, port)
            .await?;
        step.done();
        let step = progress::step(format!("{} listener", progress::verb()));
        alb::ensure_listener(
            &self.elbv2,
            ctx,
            &alb.arn,
            &tg.arn,
            spec.load_balancer.listener_port,
            alb::HttpAction::Forward(&tg.arn),
        )
        .await?;
        step.done();
        // Plain HTTP forwards again before the HTTPS route goes.
        let zone = self
            .zone(ctx.domain.as_ref(), &KnownIds::new())
            .await
            .ok()
            .flatten();
        self.remove_https(ctx, zone.as_ref(), (&alb, &tg.arn), None)
            .await?;
        Ok((
            LoadBalancerMapping {
                target_group_arn: tg.arn,
                container_name: names.container.clone(),
                container_port: port,
            },
            alb.arn,
        ))
    }

    async fn ensure_target_group(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        name: &str,
        vpc_id: &str,
        port: u16,
    ) -> Result<alb::TargetGroup, ProviderError> {
        let health = fields::health_check(spec).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "a load balancer needs a health check and there is none",
            )
        })?;
        alb::ensure_target_group(&self.elbv2, ctx, name, vpc_id, port, &health).await
    }

    /// The group of the service's own load balancer: the listener port from anywhere, or
    /// for an internal one only from its clients' group (which the MicroServices that
    /// reference it attach, through the `client_security_group_id` output).
    async fn ensure_alb_security_group(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
        vpc_id: &str,
    ) -> Result<String, ProviderError> {
        let port = spec.load_balancer.listener_port;
        let rules = if spec.load_balancer.internal {
            let clients = network::ensure_security_group(
                &self.ec2,
                ctx,
                vpc_id,
                &names.clients_security_group,
                &format!("panka: clients of {}", ctx.id),
                &[],
            )
            .await?;
            let mut rules = vec![IngressRule {
                port,
                source: Source::Group(clients.clone()),
            }];
            // An internal load balancer made before clients had their group admitted the
            // whole VPC: that stays until a client runs with the group, so no client is
            // refused while its new tasks roll out (the next apply takes it away).
            let cidr = self.vpc_cidr(vpc_id).await?;
            let vpc_rule = IngressRule {
                port,
                source: Source::Cidr(cidr),
            };
            let admitted_vpc =
                network::find_security_group(&self.ec2, vpc_id, &names.alb_security_group)
                    .await?
                    .is_some_and(|g| g.ingress.contains(&vpc_rule));
            if admitted_vpc && !self.group_in_use(&clients).await? {
                rules.push(vpc_rule);
            }
            rules
        } else {
            vec![IngressRule {
                port,
                source: Source::Cidr("0.0.0.0/0".to_string()),
            }]
        };
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

    /// Whether any network interface (a client's task) has the group.
    async fn group_in_use(&self, group_id: &str) -> Result<bool, ProviderError> {
        let out = self
            .ec2
            .describe_network_interfaces()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-id")
                    .values(group_id)
                    .build(),
            )
            .max_results(5)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot tell whether security group {group_id} is in use"),
                    &e,
                )
            })?;
        Ok(!out.network_interfaces().is_empty())
    }

    /// The tasks' group, admitting the target port from `load_balancer_groups` only.
    async fn ensure_service_security_group(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
        vpc_id: &str,
        load_balancer_groups: &[String],
    ) -> Result<String, ProviderError> {
        network::ensure_security_group(
            &self.ec2,
            ctx,
            vpc_id,
            &names.service_security_group,
            &format!("panka: tasks of {}", ctx.id),
            &task_ingress(spec, load_balancer_groups),
        )
        .await
    }

    /// Create and update alike: every resource found or created, then changed to match.
    ///
    /// A service on the environment's domain routes through the load balancer the
    /// environment shares; any other service with ports has its own. Moving between the
    /// two keeps the service reachable: the new route is built, the tasks register with
    /// both target groups until ECS is steady, the names follow, and only then does the
    /// old route go.
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
        let (current, own_alb, shared_tg) = tokio::try_join!(
            ecs_service::describe(&self.ecs, &names),
            alb::find_load_balancer(&self.elbv2, &names.load_balancer),
            alb::find_target_group(&self.elbv2, &names.https_target_group),
        )?;
        let live_mappings = current
            .as_ref()
            .map(ecs_service::live_load_balancers)
            .unwrap_or_default();

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
        // Every load balancer that reaches the tasks during this apply: the shared one on
        // the domain, the service's own otherwise, both while the service moves.
        let shared_group = match (&on_domain, &shared_tg) {
            (Some(_), _) => {
                let _guard = self.shared_lock.lock().await;
                Some(self.ensure_shared_load_balancer(ctx, &names, &net).await?.1)
            }
            (None, Some(_)) if target_port.is_some() => {
                network::find_security_group(&self.ec2, &net.vpc_id, &names.shared_security_group)
                    .await?
                    .map(|g| g.id)
            }
            (None, _) => None,
        };
        let own_group = match (target_port, &on_domain) {
            (Some(_), None) => Some(
                self.ensure_alb_security_group(ctx, spec, &names, &net.vpc_id)
                    .await?,
            ),
            (Some(_), Some(_)) if own_alb.is_some() => {
                network::find_security_group(&self.ec2, &net.vpc_id, &names.alb_security_group)
                    .await?
                    .map(|g| g.id)
            }
            _ => None,
        };
        let load_balancer_groups: Vec<String> =
            shared_group.iter().chain(&own_group).cloned().collect();
        let service_security_group = self
            .ensure_service_security_group(ctx, spec, &names, &net.vpc_id, &load_balancer_groups)
            .await?;
        step.done();

        // The route: (mapping, load balancer ARN, whether it is the service's alone).
        let mut shared_route = None;
        let route = match (target_port, &on_domain) {
            (Some(port), Some(on)) => {
                let step = progress::step(format!("{} target group", progress::verb()));
                let tg = self
                    .ensure_target_group(ctx, spec, &names.https_target_group, &net.vpc_id, port)
                    .await?;
                step.done();
                let (alb, previous) = self
                    .ensure_shared_route(ctx, &names, &net, on, &tg.arn)
                    .await?;
                let arn = alb.arn.clone();
                shared_route = Some((alb, previous));
                Some((
                    LoadBalancerMapping {
                        target_group_arn: tg.arn,
                        container_name: names.container.clone(),
                        container_port: port,
                    },
                    arn,
                    false,
                ))
            }
            (Some(port), None) => {
                let group = own_group.as_deref().unwrap_or_default();
                let (mapping, arn) = self
                    .ensure_own_load_balancing(ctx, spec, &names, &net, (group, port))
                    .await?;
                Some((mapping, arn, true))
            }
            (None, _) => None,
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
            .ensure_deployment_alarms(ctx, spec, &names, error_rate, route.as_ref())
            .await?;
        let plan = ServicePlan {
            task_definition_arn,
            desired_count: fields::initial_count(spec.infra.replicas, scaling.as_ref()),
            subnets: net.private_subnet_ids.clone(),
            security_groups,
            assign_public_ip: net.tasks_need_public_ip,
            load_balancers: route.iter().map(|(m, _, _)| m.clone()).collect(),
            deployment_alarms,
        };
        // Autoscaling owns the count while it stays in range; a count outside the range
        // (changed by hand, or a new range) is set, or the plan would show it forever.
        let set_count = |live: &aws_sdk_ecs::types::Service| match &scaling {
            None => true,
            Some(range) => !fields::within(range, live.desired_count()),
        };
        let moving = current.is_some()
            && !plan.load_balancers.is_empty()
            && live_mappings
                .iter()
                .any(|live| !plan.load_balancers.contains(live));
        if moving {
            let step = progress::step("Registering the tasks with both load balancers");
            let mut both = plan.clone();
            both.load_balancers.extend(live_mappings.iter().cloned());
            both.load_balancers.sort();
            both.load_balancers.dedup();
            ecs_service::ensure(
                &self.ecs,
                ctx,
                &names,
                &both,
                set_count,
                self.role_backoff(),
            )
            .await?;
            ecs_service::wait_steady(&self.ecs, &names, self.wait()).await?;
            step.done();
        }
        match (&shared_route, &on_domain) {
            (Some((alb, previous)), Some(on)) => {
                self.point_hosts(&on.zone, &on.hosts, previous, alb).await?;
            }
            (None, None) if shared_tg.is_some() => {
                let zone = self
                    .zone(ctx.domain.as_ref(), &KnownIds::new())
                    .await
                    .ok()
                    .flatten();
                self.unpoint_shared_hosts(&names, zone.as_ref()).await?;
            }
            _ => {}
        }
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
        if error_rate.is_none() || route.is_none() {
            // Only once ECS no longer watches it.
            alarms::delete(&self.cloudwatch, &names.error_rate_alarm).await?;
        }
        self.retire_old_routes(ctx, spec, &names, &net, (&on_domain, &shared_tg, &own_alb))
            .await?;

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

    /// The routes the service no longer takes, once ECS no longer registers with them:
    /// its own load balancer when it is on the shared one (the certificate it carried
    /// stays: the shared listener holds it now), its place on the shared one when it is
    /// not, and both when the load balancer was turned off. The tasks' group then admits
    /// only what still reaches them.
    async fn retire_old_routes(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        names: &Names,
        net: &network::NetworkInfo,
        (on_domain, shared_tg, own_alb): (
            &Option<OnDomain<'_>>,
            &Option<alb::TargetGroup>,
            &Option<alb::Alb>,
        ),
    ) -> Result<(), ProviderError> {
        let target_port = fields::target_port(spec);
        let leave_own = own_alb.is_some() && (on_domain.is_some() || target_port.is_none());
        let leave_shared = shared_tg.is_some() && on_domain.is_none();
        if !leave_own && !leave_shared {
            return Ok(());
        }
        let zone = match on_domain {
            Some(on) => Some(on.zone.clone()),
            None => self
                .zone(ctx.domain.as_ref(), &KnownIds::new())
                .await
                .ok()
                .flatten(),
        };
        let step = progress::step(if leave_own {
            "Removing the service's own load balancer"
        } else {
            "Leaving the shared load balancer"
        });
        let mut remaining = Vec::new();
        if leave_own {
            if let Some(own) = own_alb
                && let Some(tg) = alb::find_target_group(&self.elbv2, &names.target_group).await?
            {
                let keep = match on_domain {
                    Some(_) => self.certificate_in_use(ctx).await?,
                    None => None,
                };
                self.remove_https(ctx, zone.as_ref(), (own, &tg.arn), keep.as_deref())
                    .await?;
            }
            alb::delete(
                &self.elbv2,
                &names.load_balancer,
                &names.target_group,
                self.wait(),
            )
            .await?;
        } else if let Some(group) =
            network::find_security_group(&self.ec2, &net.vpc_id, &names.alb_security_group).await?
        {
            remaining.push(group.id);
        }
        if on_domain.is_some()
            && let Some(group) =
                network::find_security_group(&self.ec2, &net.vpc_id, &names.shared_security_group)
                    .await?
        {
            remaining.push(group.id);
        }
        self.ensure_service_security_group(ctx, spec, names, &net.vpc_id, &remaining)
            .await?;
        if leave_own {
            self.delete_own_security_group(ctx, &net.vpc_id, &names.alb_security_group, None)
                .await?;
            // An internal service's clients may still run with its clients' group: it
            // then goes with the component.
            if let Some(clients) =
                network::find_security_group(&self.ec2, &net.vpc_id, &names.clients_security_group)
                    .await?
                && !self.group_in_use(&clients.id).await?
            {
                self.delete_own_security_group(
                    ctx,
                    &net.vpc_id,
                    &names.clients_security_group,
                    Some(&clients.id),
                )
                .await?;
            }
        }
        if leave_shared {
            let (certificates, zone) = self.leave_shared(ctx, names, zone.as_ref()).await?;
            self.release_shared(
                ctx,
                names,
                Some(&net.vpc_id),
                (zone.as_ref(), &certificates),
            )
            .await?;
        }
        step.done();
        Ok(())
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
        route: Option<&(LoadBalancerMapping, String, bool)>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut watched = spec.rollback.alarms.clone();
        if let (Some(percent), Some((mapping, alb_arn, own))) = (error_rate, route) {
            let step = progress::step(format!("{} error-rate alarm", progress::verb()));
            alarms::ensure(
                &self.cloudwatch,
                ctx,
                &names.error_rate_alarm,
                percent,
                (alb_arn, *own),
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

    /// The certificate panka requested for this component that the shared listener
    /// holds, if any.
    async fn certificate_in_use(
        &self,
        ctx: &ResourceContext,
    ) -> Result<Option<String>, ProviderError> {
        let names = Names::new(ctx);
        let Some(alb) = alb::find_load_balancer(&self.elbv2, &names.shared_load_balancer).await?
        else {
            return Ok(None);
        };
        let Some(listener) = https::routes::https_listener(&self.elbv2, &alb.arn).await? else {
            return Ok(None);
        };
        Ok(self
            .own_certificates_on(ctx, &listener.arn)
            .await?
            .into_iter()
            .next())
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
        // Its own load balancer (before a move) or the shared one may hold them already.
        let (own, shared) = tokio::try_join!(
            alb::find_load_balancer(&self.elbv2, &names.load_balancer),
            alb::find_load_balancer(&self.elbv2, &names.shared_load_balancer),
        )?;
        let ours: Vec<&str> = own
            .iter()
            .chain(&shared)
            .map(|a| a.dns_name.as_str())
            .collect();
        self.check_hosts_free(&zone, &hosts, &ours).await?;
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
    load_balancer_groups: &[String],
) -> Vec<IngressRule> {
    let Some(port) = fields::target_port(spec) else {
        return Vec::new();
    };
    let mut ports = vec![port];
    ports.extend(fields::health_check(spec).map(|h| h.port));
    ports.sort_unstable();
    ports.dedup();
    load_balancer_groups
        .iter()
        .flat_map(|group| {
            ports.iter().map(move |port| IngressRule {
                port: *port,
                source: Source::Group(group.clone()),
            })
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
        let rules = task_ingress(&spec, &["sg-alb".to_string()]);
        assert_eq!(
            rules,
            vec![IngressRule {
                port: target,
                source: Source::Group("sg-alb".into()),
            }],
            "only the port the load balancer forwards to"
        );
        assert!(
            task_ingress(&spec, &[]).is_empty(),
            "no load balancer, no rule"
        );
        spec.load_balancer.enabled = false;
        assert!(task_ingress(&spec, &["sg-alb".to_string()]).is_empty());
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
