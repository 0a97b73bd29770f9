//! MicroService: an ECS Fargate service, with its load balancer, roles and logs.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations, enabled};
use crate::cost::{
    ALB_LCU_ALLOWANCE, Cost, HOURS_PER_MONTH, PriceTable, UnknownPrice, cents, line, sum,
};
use crate::diag::Diagnostics;
use crate::model::components::{self, LowerContext};
use crate::model::{ComponentKind, ComponentSpec, InfraSpec, MicroServiceSpec};
use crate::naming::{Namespace, limits, physical};
use crate::read::MapReader;
use crate::reconcile::ResourceContext;

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
        components::lower_microservice(spec, infra, ctx, diags)
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
                Namespace::SecurityGroup,
                physical(ctx, "-alb", limits::SECURITY_GROUP),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-svc", limits::SECURITY_GROUP),
            ),
        ]
    }

    fn monthly_cost(&self, prices: &PriceTable) -> Result<Cost, UnknownPrice> {
        Ok(monthly_cost(self, prices))
    }

    fn key_attributes(&self) -> Vec<String> {
        vec![
            format!("Image: {}", self.image.short()),
            format!("CPU: {}, Memory: {}", self.infra.cpu, self.infra.memory),
            format!("Replicas: {}", self.infra.replicas),
            format!("Load Balancer: {}", enabled(self.load_balancer.enabled)),
        ]
    }
}

/// The component's monthly cost at the table's on-demand prices.
fn monthly_cost(ms: &MicroServiceSpec, t: &PriceTable) -> Cost {
    let infra = &ms.infra;
    let (rates, arch) = match ms.cpu_architecture {
        "arm64" => (t.fargate_arm64, "arm64"),
        _ => (t.fargate_x86_64, "x86_64"),
    };
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
            "Application Load Balancer",
            HOURS_PER_MONTH,
            "ALB-hour",
            t.alb_hour,
        ));
        lines.push(line(
            format!("ALB capacity, {ALB_LCU_ALLOWANCE} LCU assumed"),
            ALB_LCU_ALLOWANCE * HOURS_PER_MONTH,
            "LCU-hour",
            t.alb_lcu_hour,
        ));
        notes.push("ALB capacity beyond 1 LCU (traffic-based) is not estimated".to_string());
    }
    notes.push(format!(
        "CloudWatch Logs ingestion (${:.2}/GB) and storage ({} days' retention) are usage-based: \
         not estimated",
        t.logs_ingest_gb, infra.log_retention_days
    ));
    let monthly = sum(&lines);
    // The ALB lines (after the two Fargate lines) do not grow with the task count.
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
