//! Every name a MicroService's resources get, derived from the component's context (and
//! the names recorded in state, when there are any).

use crate::naming::{self, limits};
use panka_core::reconcile::{KnownIds, ResourceContext};

/// The physical names of one MicroService's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The ECS cluster shared by the stack and environment.
    pub cluster: String,
    pub service: String,
    pub family: String,
    /// The main container, named after the component.
    pub container: String,
    /// The init container writing `configs` files.
    pub config_init_container: String,
    pub log_group: String,
    pub execution_role: String,
    pub execution_policy: String,
    /// The role the application's containers run with.
    pub task_role: String,
    pub task_policy: String,
    /// The service's own load balancer (no domain, or an internal one).
    pub load_balancer: String,
    /// The target group behind its own load balancer.
    pub target_group: String,
    /// The target group behind the load balancer the environment's web services share on
    /// its domain (a target group belongs to one load balancer: moving between the two
    /// registers the tasks with both for a while).
    pub https_target_group: String,
    /// The load balancer shared on the domain and its security group.
    pub shared_load_balancer: String,
    pub shared_security_group: String,
    pub alb_security_group: String,
    /// The group an internal service's clients attach: its load balancer admits only it.
    pub clients_security_group: String,
    pub service_security_group: String,
    pub scaling_policy: String,
    /// The CloudWatch alarm on the service's error rate.
    pub error_rate_alarm: String,
}

impl Names {
    pub fn new(ctx: &ResourceContext) -> Self {
        Names {
            cluster: naming::ecs_cluster(&ctx.stack, &ctx.environment),
            service: naming::physical(ctx, "", limits::ECS),
            family: naming::physical(ctx, "", limits::ECS),
            container: ctx.id.component.clone(),
            config_init_container: format!("{}-configs", ctx.id.component),
            log_group: format!(
                "/panka/{}/{}/{}/{}",
                ctx.stack, ctx.environment, ctx.id.service, ctx.id.component
            ),
            execution_role: naming::physical(ctx, "-exec", limits::IAM_ROLE),
            execution_policy: "panka-task-execution".to_string(),
            task_role: naming::physical(ctx, "-task", limits::IAM_ROLE),
            task_policy: "panka-task".to_string(),
            load_balancer: naming::physical(ctx, "", limits::ALB),
            target_group: naming::physical(ctx, "", limits::TARGET_GROUP),
            https_target_group: naming::physical(ctx, "-https", limits::TARGET_GROUP),
            shared_load_balancer: naming::shared_load_balancer(&ctx.stack, &ctx.environment),
            shared_security_group: naming::fit(
                &format!("{}-{}-lb", ctx.stack, ctx.environment),
                limits::SECURITY_GROUP,
            ),
            alb_security_group: naming::physical(ctx, "-alb", limits::SECURITY_GROUP),
            clients_security_group: naming::physical(ctx, "-clients", limits::SECURITY_GROUP),
            service_security_group: naming::physical(ctx, "-svc", limits::SECURITY_GROUP),
            scaling_policy: naming::physical(ctx, "-cpu", limits::AUTOSCALING_POLICY),
            error_rate_alarm: naming::physical(ctx, "-5xx", limits::CLOUDWATCH_ALARM),
        }
    }

    /// The names recorded in state win over derived ones, so that a resource created
    /// under an older naming rule is still found.
    pub fn with_known(ctx: &ResourceContext, known: &KnownIds) -> Self {
        let mut names = Names::new(ctx);
        let fields: [(&str, &mut String); 10] = [
            (ids::CLUSTER, &mut names.cluster),
            (ids::SERVICE_NAME, &mut names.service),
            (ids::TASK_FAMILY, &mut names.family),
            (ids::LOG_GROUP, &mut names.log_group),
            (ids::EXECUTION_ROLE, &mut names.execution_role),
            (ids::TASK_ROLE, &mut names.task_role),
            (ids::LOAD_BALANCER_NAME, &mut names.load_balancer),
            (ids::TARGET_GROUP_NAME, &mut names.target_group),
            (ids::SCALING_POLICY, &mut names.scaling_policy),
            (ids::ERROR_RATE_ALARM, &mut names.error_rate_alarm),
        ];
        for (key, slot) in fields {
            if let Some(value) = known.get(key).filter(|v| !v.is_empty()) {
                *slot = value.clone();
            }
        }
        names
    }

    /// Application Auto Scaling's id of the service.
    pub fn scaling_resource_id(&self) -> String {
        format!("service/{}/{}", self.cluster, self.service)
    }
}

/// Keys of `Observed::physical_ids`.
pub mod ids {
    pub const CLUSTER: &str = "cluster";
    pub const SERVICE_NAME: &str = "service_name";
    pub const SERVICE_ARN: &str = "service_arn";
    pub const TASK_FAMILY: &str = "task_family";
    pub const TASK_DEFINITION_ARN: &str = "task_definition_arn";
    pub const LOG_GROUP: &str = "log_group";
    pub const EXECUTION_ROLE: &str = "execution_role";
    pub const EXECUTION_ROLE_ARN: &str = "execution_role_arn";
    pub const TASK_ROLE: &str = "task_role";
    pub const TASK_ROLE_ARN: &str = "task_role_arn";
    pub const LOAD_BALANCER_NAME: &str = "load_balancer_name";
    pub const LOAD_BALANCER_ARN: &str = "load_balancer_arn";
    pub const TARGET_GROUP_NAME: &str = "target_group_name";
    pub const TARGET_GROUP_ARN: &str = "target_group_arn";
    pub const LISTENER_ARN: &str = "listener_arn";
    pub const ALB_SECURITY_GROUP_ID: &str = "alb_security_group_id";
    pub const CLIENTS_SECURITY_GROUP_ID: &str = "clients_security_group_id";
    pub const SERVICE_SECURITY_GROUP_ID: &str = "service_security_group_id";
    pub const SCALABLE_TARGET: &str = "scalable_target";
    pub const SCALING_POLICY: &str = "scaling_policy";
    pub const HTTPS_LISTENER_ARN: &str = "https_listener_arn";
    pub const LISTENER_RULE_ARN: &str = "listener_rule_arn";
    /// The certificate panka requested (not one the environment names).
    pub const CERTIFICATE_ARN: &str = "certificate_arn";
    pub const HOSTED_ZONE_ID: &str = "hosted_zone_id";
    pub const ERROR_RATE_ALARM: &str = "error_rate_alarm";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microservice::render::tests::ctx;

    /// `validate` finds components that would share a name from the core's list; a name
    /// built here and missing there would escape that check.
    #[test]
    fn every_shared_name_is_one_validate_checks_for_collisions() {
        let ctx = ctx();
        let names = Names::new(&ctx);
        let spec = panka_core::model::ComponentSpec::MicroService(
            crate::microservice::render::tests::spec(),
        );
        let checked: Vec<String> = panka_core::naming::physical_names(&ctx, &spec)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        for name in [
            &names.service,
            &names.family,
            &names.execution_role,
            &names.task_role,
            &names.load_balancer,
            &names.target_group,
            &names.alb_security_group,
            &names.service_security_group,
        ] {
            assert!(checked.contains(name), "{name} is not checked: {checked:?}");
        }
    }

    #[test]
    fn names_fit_their_limits() {
        let names = Names::new(&ctx());
        assert_eq!(names.cluster, "notification-platform-development");
        assert_eq!(
            names.service,
            "notification-platform-development-email-service-api"
        );
        assert_eq!(
            names.log_group,
            "/panka/notification-platform/development/email-service/api"
        );
        assert!(names.load_balancer.len() <= 32 && names.target_group.len() <= 32);
        assert_eq!(
            names.alb_security_group,
            "notification-platform-development-email-service-api-alb"
        );
        assert_eq!(
            names.scaling_resource_id(),
            "service/notification-platform-development/notification-platform-development-email-service-api"
        );
    }

    #[test]
    fn known_names_win() {
        let known = KnownIds::from([(ids::SERVICE_NAME.to_string(), "old-name".to_string())]);
        assert_eq!(Names::with_known(&ctx(), &known).service, "old-name");
    }
}
