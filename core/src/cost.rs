//! Monthly cost estimates: a pure, per-kind model over an embedded, dated table of AWS
//! on-demand list prices. No network, no AWS Price List API: the plan can always say
//! what a stack will cost, and says "≈" (or names what it could not price) when the
//! table does not cover it exactly.
//!
//! The table lives here; each kind's formula lives with the kind (`crate::kinds`).
//! The table and the formulas are documented in `docs/pricing.md`; update both together
//! (a test checks that every price below appears in that page).

use crate::loader::ResolvedStack;
use crate::model::{ComponentId, ComponentKind, ComponentSpec};
use serde::Serialize;

/// Hours in the month every hourly price is multiplied by (AWS's own convention).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// The date the prices below are believed to be current for. They were compiled from
/// AWS's public on-demand price pages and must be re-checked against them (see
/// `docs/pricing.md`, "Updating the table").
pub const PRICES_AS_OF: &str = "2025-01-01";

/// The region whose prices are used for a region without a table of its own.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Load Balancer Capacity Units assumed for every hour of an ALB's life: a lightly used
/// ALB (≤ 25 new connections/s, ≤ 1 GB/h processed) consumes one.
pub const ALB_LCU_ALLOWANCE: f64 = 1.0;

// ---------------------------------------------------------------- the price table

/// Fargate on-demand, Linux, per vCPU-hour and per GB-hour.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FargateRates {
    pub(crate) vcpu_hour: f64,
    pub(crate) gb_hour: f64,
}

/// RDS storage, Single-AZ, per GB-month and per provisioned IOPS-month.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StorageRates {
    pub(crate) gb_month: f64,
    pub(crate) iops_month: f64,
}

/// One region's prices (USD).
#[derive(Debug)]
pub struct PriceTable {
    pub(crate) region: &'static str,
    pub(crate) fargate_x86_64: FargateRates,
    pub(crate) fargate_arm64: FargateRates,
    pub(crate) alb_hour: f64,
    pub(crate) alb_lcu_hour: f64,
    pub(crate) logs_ingest_gb: f64,
    /// A standard-resolution alarm, per metric it watches (a metric-math alarm pays for
    /// each metric of its expression).
    pub(crate) alarm_metric_month: f64,
    pub(crate) rds_gp2: StorageRates,
    pub(crate) rds_gp3: StorageRates,
    pub(crate) rds_io1: StorageRates,
    pub(crate) rds_io2: StorageRates,
    /// `(class, PostgreSQL, MySQL/MariaDB)` per instance-hour, Single-AZ.
    pub(crate) rds_instances: &'static [(&'static str, f64, f64)],
    /// `(node type, Redis OSS)` per node-hour.
    pub(crate) redis_nodes: &'static [(&'static str, f64)],
    pub(crate) sqs_standard_million: f64,
    pub(crate) sqs_fifo_million: f64,
}

/// RDS on-demand, Single-AZ, USD per instance-hour: `(class, PostgreSQL, MySQL/MariaDB)`.
/// us-east-1 (N. Virginia); us-west-2 (Oregon) lists the same prices.
// db.m6g.xlarge's $0.318 is a price, not an approximation of 1/π.
#[allow(clippy::approx_constant)]
const RDS_INSTANCES_US: &[(&str, f64, f64)] = &[
    ("db.t3.micro", 0.018, 0.017),
    ("db.t3.small", 0.036, 0.034),
    ("db.t3.medium", 0.072, 0.068),
    ("db.t3.large", 0.145, 0.136),
    ("db.t3.xlarge", 0.290, 0.272),
    ("db.t3.2xlarge", 0.579, 0.544),
    ("db.t4g.micro", 0.016, 0.016),
    ("db.t4g.small", 0.032, 0.032),
    ("db.t4g.medium", 0.065, 0.065),
    ("db.t4g.large", 0.129, 0.129),
    ("db.t4g.xlarge", 0.258, 0.258),
    ("db.t4g.2xlarge", 0.517, 0.517),
    ("db.m5.large", 0.178, 0.171),
    ("db.m5.xlarge", 0.356, 0.342),
    ("db.m5.2xlarge", 0.712, 0.684),
    ("db.m5.4xlarge", 1.424, 1.368),
    ("db.m6g.large", 0.159, 0.152),
    ("db.m6g.xlarge", 0.318, 0.304),
    ("db.m6g.2xlarge", 0.636, 0.608),
    ("db.m6g.4xlarge", 1.272, 1.216),
    ("db.m6i.large", 0.178, 0.171),
    ("db.m6i.xlarge", 0.356, 0.342),
    ("db.m6i.2xlarge", 0.712, 0.684),
    ("db.m6i.4xlarge", 1.424, 1.368),
    ("db.r5.large", 0.250, 0.240),
    ("db.r5.xlarge", 0.500, 0.480),
    ("db.r5.2xlarge", 1.000, 0.960),
    ("db.r5.4xlarge", 2.000, 1.920),
    ("db.r6g.large", 0.225, 0.215),
    ("db.r6g.xlarge", 0.450, 0.430),
    ("db.r6g.2xlarge", 0.900, 0.860),
    ("db.r6g.4xlarge", 1.800, 1.720),
];

/// ElastiCache for Redis OSS on-demand, USD per node-hour. us-east-1; us-west-2 the same.
const REDIS_NODES_US: &[(&str, f64)] = &[
    ("cache.t3.micro", 0.017),
    ("cache.t3.small", 0.034),
    ("cache.t3.medium", 0.068),
    ("cache.t4g.micro", 0.016),
    ("cache.t4g.small", 0.032),
    ("cache.t4g.medium", 0.065),
    ("cache.m5.large", 0.156),
    ("cache.m5.xlarge", 0.311),
    ("cache.m5.2xlarge", 0.623),
    ("cache.m6g.large", 0.149),
    ("cache.m6g.xlarge", 0.298),
    ("cache.m6g.2xlarge", 0.596),
    ("cache.r5.large", 0.216),
    ("cache.r5.xlarge", 0.431),
    ("cache.r5.2xlarge", 0.862),
    ("cache.r6g.large", 0.206),
    ("cache.r6g.xlarge", 0.411),
    ("cache.r6g.2xlarge", 0.822),
];

const US_EAST_1: PriceTable = PriceTable {
    region: "us-east-1",
    fargate_x86_64: FargateRates {
        vcpu_hour: 0.04048,
        gb_hour: 0.004445,
    },
    fargate_arm64: FargateRates {
        vcpu_hour: 0.03238,
        gb_hour: 0.00356,
    },
    alb_hour: 0.0225,
    alb_lcu_hour: 0.008,
    logs_ingest_gb: 0.50,
    alarm_metric_month: 0.10,
    rds_gp2: StorageRates {
        gb_month: 0.115,
        iops_month: 0.0,
    },
    rds_gp3: StorageRates {
        gb_month: 0.115,
        iops_month: 0.02,
    },
    rds_io1: StorageRates {
        gb_month: 0.125,
        iops_month: 0.10,
    },
    rds_io2: StorageRates {
        gb_month: 0.125,
        iops_month: 0.10,
    },
    rds_instances: RDS_INSTANCES_US,
    redis_nodes: REDIS_NODES_US,
    sqs_standard_million: 0.40,
    sqs_fifo_million: 0.50,
};

/// Regions with a table. Oregon lists the same prices as N. Virginia for everything
/// here. eu-west-1 is deliberately absent (its prices are 5–10 % higher and were not
/// verified): it falls back to us-east-1 and the estimate says so.
static TABLES: [PriceTable; 2] = [
    US_EAST_1,
    PriceTable {
        region: "us-west-2",
        ..US_EAST_1
    },
];

/// The table for `region` and, when it is another region's, why.
fn table_for(region: &str) -> (&'static PriceTable, Option<String>) {
    match TABLES.iter().find(|t| t.region == region) {
        Some(table) => (table, None),
        None => {
            let fallback = &TABLES[0];
            let why = if region.is_empty() {
                format!("the stack names no region; {} prices used", fallback.region)
            } else {
                format!(
                    "no price table for {region}; {} prices used",
                    fallback.region
                )
            };
            (fallback, Some(why))
        }
    }
}

// ---------------------------------------------------------------- results

/// A price the table does not have: the component cannot be priced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("no price for {what} `{name}` in {region} (price table of {as_of})")]
pub struct UnknownPrice {
    /// What was looked up, e.g. `RDS instance class`.
    pub what: &'static str,
    /// The value that has no price, e.g. `db.x2g.large`.
    pub name: String,
    /// The region whose table was searched.
    pub region: &'static str,
    pub as_of: &'static str,
}

impl UnknownPrice {
    pub(crate) fn new(what: &'static str, name: &str, table: &PriceTable) -> Self {
        UnknownPrice {
            what,
            name: name.to_string(),
            region: table.region,
            as_of: PRICES_AS_OF,
        }
    }
}

/// One priced item of a component: `quantity` `unit`s a month at `unit_usd` each.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostLine {
    pub item: String,
    pub quantity: f64,
    pub unit: &'static str,
    pub unit_usd: f64,
    /// `quantity × unit_usd`, rounded to the cent.
    pub monthly_usd: f64,
}

/// A component's monthly cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cost {
    /// The baseline: the sum of `lines`, in USD.
    pub monthly_usd: f64,
    /// The most it can reach from its own settings (autoscaling at `maxReplicas`,
    /// storage grown to `maxAllocatedGB`); equal to `monthly_usd` otherwise.
    pub max_monthly_usd: f64,
    /// The region whose prices were used.
    pub price_region: &'static str,
    pub lines: Vec<CostLine>,
    /// What the baseline assumes and what is usage-based and therefore not estimated.
    pub notes: Vec<String>,
    /// Set when another region's prices were used.
    pub approximated: Option<String>,
}

/// A priced component of a stack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComponentCost {
    pub component: ComponentId,
    pub kind: ComponentKind,
    pub cost: Cost,
}

/// A component that could not be priced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unpriced {
    pub component: ComponentId,
    pub kind: ComponentKind,
    pub reason: UnknownPrice,
}

/// A stack's monthly cost for one environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The stack's region, as written.
    pub region: String,
    /// The region whose prices were used.
    pub price_region: &'static str,
    pub prices_as_of: &'static str,
    /// Sum of the priced components' baselines, USD.
    pub monthly_usd: f64,
    /// Sum of the priced components' maxima, USD.
    pub max_monthly_usd: f64,
    pub components: Vec<ComponentCost>,
    /// Components left out of the totals because a price is missing.
    pub unknown: Vec<Unpriced>,
    /// Prices that were approximated (another region's table).
    pub approximated: Vec<String>,
    /// Costs of the stack that no component line covers.
    pub notes: Vec<String>,
}

impl Estimate {
    /// True when the totals are not the table's exact answer: a price was approximated
    /// or a component is missing from them.
    pub fn is_approximate(&self) -> bool {
        !self.approximated.is_empty() || !self.unknown.is_empty()
    }

    /// One line for the plan, in whole dollars: `$69/month`, `≈ $69/month`, with the
    /// autoscaling maximum and what could not be priced when there is any.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{}${:.0}/month",
            if self.is_approximate() { "≈ " } else { "" },
            self.monthly_usd
        );
        if self.max_monthly_usd >= self.monthly_usd + 0.5 {
            out.push_str(&format!(
                " (up to ${:.0} at maximum scale)",
                self.max_monthly_usd
            ));
        }
        if !self.unknown.is_empty() {
            let names: Vec<String> = self
                .unknown
                .iter()
                .map(|u| format!("{} ({} `{}`)", u.component, u.reason.what, u.reason.name))
                .collect();
            out.push_str(&format!("; not priced: {}", names.join(", ")));
        }
        out
    }
}

// ---------------------------------------------------------------- the model

pub(crate) fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

pub(crate) fn line(
    item: impl Into<String>,
    quantity: f64,
    unit: &'static str,
    unit_usd: f64,
) -> CostLine {
    CostLine {
        item: item.into(),
        quantity,
        unit,
        unit_usd,
        monthly_usd: cents(quantity * unit_usd),
    }
}

pub(crate) fn sum(lines: &[CostLine]) -> f64 {
    cents(lines.iter().map(|l| l.monthly_usd).sum())
}

/// The monthly cost of one component in `region`, at the table's on-demand prices.
/// A region without a table is priced with us-east-1's and marked `approximated`; a
/// class or node type the table lacks is an [`UnknownPrice`].
pub fn component_monthly_cost(spec: &ComponentSpec, region: &str) -> Result<Cost, UnknownPrice> {
    let (table, approximated) = table_for(region);
    let mut cost = spec.monthly_cost(table)?;
    cost.approximated = approximated;
    Ok(cost)
}

/// Costs no component line covers, stated once per estimate.
const STACK_NOTES: [&str; 3] = [
    "data transfer (internet egress, cross-AZ) is not estimated",
    "NAT gateways, public IPv4 addresses and VPC endpoints of the network are not estimated",
    "Secrets Manager secrets and ECR images are created outside panka and not estimated",
];

/// The cost lines of a MicroService's load balancer.
pub(crate) const ALB_LINE: &str = "Application Load Balancer";
pub(crate) const ALB_CAPACITY_LINE: &str = "ALB capacity,";
/// A MicroService's error-rate alarm: 3 metrics on its own load balancer (target and
/// load balancer 5xx counts, requests), 2 on the shared one.
pub(crate) const ERROR_RATE_ALARM_LINE: &str = "CloudWatch alarm (error rate), metrics";
pub(crate) const ALB_CAPACITY_NOTE: &str =
    "ALB capacity beyond 1 LCU (traffic-based) is not estimated";

fn is_load_balancer_line(line: &CostLine) -> bool {
    line.item == ALB_LINE || line.item.starts_with(ALB_CAPACITY_LINE)
}

/// On a domain, the MicroServices with an internet-facing load balancer share one
/// (`<stack>-<env>`): it is priced once, with the first of them, and taken out of the
/// others' lines and of the totals.
fn price_shared_load_balancer_once(stack: &ResolvedStack, estimate: &mut Estimate) {
    if stack
        .environment_spec
        .as_ref()
        .and_then(|e| e.domain.as_ref())
        .is_none()
    {
        return;
    }
    let sharing: Vec<&ComponentId> = stack
        .components
        .iter()
        .filter(|c| {
            matches!(&c.spec, ComponentSpec::MicroService(ms)
                if ms.load_balancer.enabled && !ms.load_balancer.internal)
        })
        .map(|c| &c.id)
        .collect();
    let Some(first) = sharing.first().map(|id| id.to_string()) else {
        return;
    };
    let count = sharing.len();
    for priced in estimate
        .components
        .iter_mut()
        .filter(|c| sharing.contains(&&c.component))
    {
        let cost = &mut priced.cost;
        if priced.component.to_string() == first {
            cost.notes.push(format!(
                "the load balancer is the environment's, shared on its domain by {count}                  service(s): priced here once"
            ));
            continue;
        }
        let removed: f64 = cost
            .lines
            .iter()
            .filter(|l| is_load_balancer_line(l))
            .map(|l| l.monthly_usd)
            .sum();
        cost.lines.retain(|l| !is_load_balancer_line(l));
        // Its error-rate alarm cannot watch the shared load balancer's own 5xx count.
        for alarm in cost
            .lines
            .iter_mut()
            .filter(|l| l.item == ERROR_RATE_ALARM_LINE)
        {
            let saved = alarm.monthly_usd;
            *alarm = line(
                ERROR_RATE_ALARM_LINE,
                alarm.quantity - 1.0,
                alarm.unit,
                alarm.unit_usd,
            );
            let saved = saved - alarm.monthly_usd;
            cost.monthly_usd -= saved;
            cost.max_monthly_usd -= saved;
            estimate.monthly_usd -= saved;
            estimate.max_monthly_usd -= saved;
        }
        cost.notes.retain(|n| n != ALB_CAPACITY_NOTE);
        cost.notes.push(format!(
            "its load balancer is the environment's, shared on its domain: priced with {first}"
        ));
        cost.monthly_usd = cents(cost.monthly_usd - removed);
        cost.max_monthly_usd = cents(cost.max_monthly_usd - removed);
        estimate.monthly_usd -= removed;
        estimate.max_monthly_usd -= removed;
    }
}

/// The monthly cost of a resolved stack: every component priced in the stack's region,
/// totals over those that could be priced, and what was approximated or unknown.
pub fn stack_monthly_cost(stack: &ResolvedStack) -> Estimate {
    let region = stack.spec.region.as_str();
    let (table, approximated) = table_for(region);
    let mut estimate = Estimate {
        region: region.to_string(),
        price_region: table.region,
        prices_as_of: PRICES_AS_OF,
        monthly_usd: 0.0,
        max_monthly_usd: 0.0,
        components: Vec::new(),
        unknown: Vec::new(),
        approximated: approximated.into_iter().collect(),
        notes: STACK_NOTES.iter().map(ToString::to_string).collect(),
    };
    for component in &stack.components {
        match component_monthly_cost(&component.spec, region) {
            Ok(cost) => {
                estimate.monthly_usd += cost.monthly_usd;
                estimate.max_monthly_usd += cost.max_monthly_usd;
                estimate.components.push(ComponentCost {
                    component: component.id.clone(),
                    kind: component.kind(),
                    cost,
                });
            }
            Err(reason) => estimate.unknown.push(Unpriced {
                component: component.id.clone(),
                kind: component.kind(),
                reason,
            }),
        }
    }
    price_shared_load_balancer_once(stack, &mut estimate);
    estimate.monthly_usd = cents(estimate.monthly_usd);
    estimate.max_monthly_usd = cents(estimate.max_monthly_usd);
    estimate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Diagnostics, Severity};
    use crate::interp::Variables;
    use crate::loader::{ResolveOptions, read_stack_files, resolve};
    use crate::model::{CpuArchitecture, Engine, RdsSpec, RedisMode, RedisSpec, StorageType};
    use crate::source::Sources;
    use std::path::PathBuf;

    fn walkthrough(environment: &str) -> ResolvedStack {
        let root =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/notification-platform");
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let files = read_stack_files(&root, &mut sources, &mut diags);
        let mut variables = Variables::new();
        variables.push_layer([("VERSION".to_string(), "v1.0.0".to_string())].into());
        let stack = resolve(
            &files,
            &ResolveOptions {
                environment: Some(environment),
                variables: &variables,
                undefined_variables: Severity::Error,
            },
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        stack
    }

    fn spec<'a>(stack: &'a ResolvedStack, id: &str) -> &'a ComponentSpec {
        &stack
            .components
            .iter()
            .find(|c| c.id.to_string() == id)
            .unwrap_or_else(|| panic!("{id} missing"))
            .spec
    }

    fn component<'a>(estimate: &'a Estimate, id: &str) -> &'a Cost {
        &estimate
            .components
            .iter()
            .find(|c| c.component.to_string() == id)
            .unwrap_or_else(|| panic!("{id} not priced"))
            .cost
    }

    fn amounts(cost: &Cost) -> Vec<f64> {
        cost.lines.iter().map(|l| l.monthly_usd).collect()
    }

    #[test]
    fn services_on_a_domain_pay_for_one_load_balancer() {
        use crate::loader::Component;
        let alone = stack_monthly_cost(&walkthrough("development"));
        let mut stack = walkthrough("development");
        let api = stack
            .components
            .iter()
            .find(|c| c.id.to_string() == "email-service/api")
            .expect("the api")
            .clone();
        stack.components.push(Component {
            id: ComponentId::new("email-service", "admin"),
            ..api
        });
        let two_balancers = stack_monthly_cost(&stack);
        let per_balancer = 16.43 + 5.84 + 0.1;
        assert_eq!(
            cents(two_balancers.monthly_usd - alone.monthly_usd),
            40.59,
            "without a domain each service has its own"
        );
        if let Some(environment) = stack.environment_spec.as_mut() {
            environment.domain = Some(crate::model::Domain {
                name: "company.com".into(),
                hosted_zone_id: None,
                certificate_arn: None,
                at: Default::default(),
            });
        }
        let shared = stack_monthly_cost(&stack);
        assert_eq!(
            shared.monthly_usd,
            cents(two_balancers.monthly_usd - per_balancer),
            "one load balancer for both"
        );
        assert_eq!(
            amounts(component(&shared, "email-service/api")),
            [14.78, 3.24, 16.43, 5.84, 0.3]
        );
        let admin = component(&shared, "email-service/admin");
        assert_eq!(amounts(admin), [14.78, 3.24, 0.2]);
        assert_eq!(admin.monthly_usd, 18.22);
        assert!(
            admin
                .notes
                .iter()
                .any(|n| n.contains("priced with email-service/api")),
            "{:?}",
            admin.notes
        );
    }

    #[test]
    fn prices_the_walkthroughs_development_stack() {
        let estimate = stack_monthly_cost(&walkthrough("development"));
        assert_eq!(estimate.region, "us-east-1");
        assert_eq!(estimate.price_region, "us-east-1");
        assert!(!estimate.is_approximate(), "{estimate:?}");

        // 2 tasks × (0.25 vCPU, 0.5 GB) × 730 h, ALB hours, 1 LCU, the 3-metric error-rate alarm.
        let api = component(&estimate, "email-service/api");
        assert_eq!(amounts(api), [14.78, 3.24, 16.43, 5.84, 0.3]);
        assert_eq!(api.monthly_usd, 40.59);
        // Autoscaling to 10 tasks: 5 × the Fargate part.
        assert_eq!(api.max_monthly_usd, 112.67);
        assert!(api.notes.iter().any(|n| n.contains("between 2 and 10")));
        assert!(api.notes.iter().any(|n| n.contains("CloudWatch Logs")));

        // db.t3.small PostgreSQL, 20 GB gp3, Single-AZ.
        let db = component(&estimate, "email-service/database");
        assert_eq!(amounts(db), [26.28, 2.3]);
        assert!(db.notes.iter().any(|n| n.contains("backup")));

        let queue = component(&estimate, "email-service/queue");
        assert_eq!(queue.monthly_usd, 0.0);
        assert!(queue.notes[0].contains("requests-based"));

        assert_eq!(estimate.monthly_usd, 69.17);
        assert_eq!(estimate.max_monthly_usd, 141.25);
        assert_eq!(
            estimate.summary(),
            "$69/month (up to $141 at maximum scale)"
        );
    }

    #[test]
    fn prices_the_walkthroughs_production_overrides() {
        let estimate = stack_monthly_cost(&walkthrough("production"));
        // 3 tasks (the override's desired count; autoscaling keeps 2–10).
        let api = component(&estimate, "email-service/api");
        assert_eq!(amounts(api), [22.16, 4.87, 16.43, 5.84, 0.3]);
        // db.t3.medium, 50 GB gp3, Single-AZ (the walkthrough does not ask for Multi-AZ).
        let db = component(&estimate, "email-service/database");
        assert_eq!(amounts(db), [52.56, 5.75]);
        assert_eq!(estimate.monthly_usd, 107.91);
        assert_eq!(
            estimate.summary(),
            "$108/month (up to $171 at maximum scale)"
        );
    }

    #[test]
    fn an_unknown_instance_class_is_named() {
        let stack = walkthrough("development");
        let ComponentSpec::Rds(rds) = spec(&stack, "email-service/database") else {
            panic!("RDS")
        };
        let mut rds = rds.clone();
        rds.instance_class = "db.x2g.large".into();
        let err = component_monthly_cost(&ComponentSpec::Rds(rds.clone()), "us-east-1")
            .expect_err("unknown class");
        assert_eq!(err.what, "RDS instance class");
        assert_eq!(err.name, "db.x2g.large");
        assert_eq!(
            err.to_string(),
            format!(
                "no price for RDS instance class `db.x2g.large` in us-east-1 (price table of {PRICES_AS_OF})"
            )
        );

        // In a stack, the component is left out of the totals and named.
        let mut stack = stack;
        for c in &mut stack.components {
            if c.id.to_string() == "email-service/database" {
                c.spec = ComponentSpec::Rds(rds.clone());
            }
        }
        let estimate = stack_monthly_cost(&stack);
        assert!(estimate.is_approximate());
        assert_eq!(estimate.unknown.len(), 1);
        assert_eq!(estimate.monthly_usd, 40.59);
        assert_eq!(
            estimate.summary(),
            "≈ $41/month (up to $113 at maximum scale); not priced: \
             email-service/database (RDS instance class `db.x2g.large`)"
        );
    }

    #[test]
    fn an_unknown_node_type_is_named() {
        let redis = RedisSpec {
            engine_version: "7.0".into(),
            mode: RedisMode::ReplicationGroup,
            node_type: "cache.t3.micro".into(),
            num_nodes: 2,
            automatic_failover: true,
            port: 6379,
            snapshot_retention_days: 0,
            transit_encryption: true,
            at_rest_encryption: true,
            parameters: Default::default(),
            num_nodes_span: None,
        };
        // The walkthrough's cache: 2 × cache.t3.micro.
        let cost =
            component_monthly_cost(&ComponentSpec::ElastiCacheRedis(redis.clone()), "us-east-1")
                .expect("priced");
        assert_eq!(cost.monthly_usd, 24.82);
        let single = RedisSpec {
            mode: RedisMode::CacheCluster,
            ..redis.clone()
        };
        let cost = component_monthly_cost(&ComponentSpec::ElastiCacheRedis(single), "us-east-1")
            .expect("priced");
        assert_eq!(cost.monthly_usd, 12.41);
        let unknown = RedisSpec {
            node_type: "cache.r7g.large".into(),
            ..redis
        };
        let err = component_monthly_cost(&ComponentSpec::ElastiCacheRedis(unknown), "us-east-1")
            .expect_err("unknown node");
        assert_eq!(
            (err.what, err.name.as_str()),
            ("ElastiCache node type", "cache.r7g.large")
        );
    }

    #[test]
    fn regions_without_a_table_fall_back_and_are_flagged() {
        let mut stack = walkthrough("development");
        let api = spec(&stack, "email-service/api").clone();
        let east = component_monthly_cost(&api, "us-east-1").unwrap();
        let west = component_monthly_cost(&api, "us-west-2").unwrap();
        assert_eq!(west.price_region, "us-west-2");
        assert_eq!(
            (west.monthly_usd, west.approximated.clone()),
            (east.monthly_usd, None)
        );
        let ireland = component_monthly_cost(&api, "eu-west-1").unwrap();
        assert_eq!(ireland.price_region, "us-east-1");
        assert_eq!(
            ireland.approximated.as_deref(),
            Some("no price table for eu-west-1; us-east-1 prices used")
        );

        stack.spec.region = "ap-south-1".into();
        let estimate = stack_monthly_cost(&stack);
        assert_eq!(estimate.price_region, "us-east-1");
        assert_eq!(
            estimate.approximated,
            ["no price table for ap-south-1; us-east-1 prices used"]
        );
        assert_eq!(estimate.monthly_usd, 69.17);
        assert!(estimate.summary().starts_with("≈ $69/month"));
    }

    #[test]
    fn fargate_architecture_load_balancer_and_fixed_replicas() {
        let stack = walkthrough("development");
        let ComponentSpec::MicroService(api) = spec(&stack, "email-service/api") else {
            panic!("MicroService")
        };
        let mut ms = api.clone();
        ms.cpu_architecture = CpuArchitecture::Arm64;
        ms.load_balancer.enabled = false;
        ms.infra.autoscaling = None;
        ms.infra.cpu = 1024;
        ms.infra.memory = 2048;
        ms.infra.replicas = 1;
        let cost =
            component_monthly_cost(&ComponentSpec::MicroService(ms.clone()), "us-east-1").unwrap();
        // 730 vCPU-h × 0.03238, 1460 GB-h × 0.00356; no ALB lines, no upper bound.
        assert_eq!(amounts(&cost), [23.64, 5.2]);
        assert_eq!(cost.max_monthly_usd, cost.monthly_usd);
        assert!(cost.lines[0].item.contains("arm64"));
        ms.cpu_architecture = CpuArchitecture::X86_64;
        let x86 = component_monthly_cost(&ComponentSpec::MicroService(ms), "us-east-1").unwrap();
        assert_eq!(amounts(&x86), [29.55, 6.49]);
    }

    #[test]
    fn rds_multi_az_storage_types_and_engines() {
        let stack = walkthrough("development");
        let ComponentSpec::Rds(base) = spec(&stack, "email-service/database") else {
            panic!("RDS")
        };
        let price = |rds: &RdsSpec| {
            let cost = component_monthly_cost(&ComponentSpec::Rds(rds.clone()), "us-east-1")
                .expect("priced");
            (amounts(&cost), cost.monthly_usd, cost.max_monthly_usd)
        };
        // Multi-AZ doubles instance and storage.
        let multi = RdsSpec {
            multi_az: true,
            ..base.clone()
        };
        assert_eq!(price(&multi), (vec![52.56, 4.6], 57.16, 57.16));
        // MySQL and MariaDB share a price.
        let mysql = RdsSpec {
            engine: Engine::MySql,
            ..base.clone()
        };
        let mariadb = RdsSpec {
            engine: Engine::MariaDb,
            ..base.clone()
        };
        assert_eq!(price(&mysql).0, [24.82, 2.3]);
        assert_eq!(price(&mysql), price(&mariadb));
        // io1: every provisioned IOPS is billed.
        let io1 = RdsSpec {
            storage_type: StorageType::Io1,
            allocated_gb: 100,
            iops: Some(3000),
            ..base.clone()
        };
        assert_eq!(price(&io1).0, [26.28, 12.5, 300.0]);
        // gp3: IOPS above the included 12,000 (from 400 GB) only.
        let gp3 = RdsSpec {
            allocated_gb: 400,
            iops: Some(15000),
            ..base.clone()
        };
        assert_eq!(price(&gp3).0, [26.28, 46.0, 60.0]);
        let gp3_included = RdsSpec {
            iops: Some(3000),
            ..base.clone()
        };
        assert_eq!(price(&gp3_included).0, [26.28, 2.3]);
        // Storage autoscaling is the upper bound.
        let growing = RdsSpec {
            max_allocated_gb: Some(100),
            ..base.clone()
        };
        assert_eq!(price(&growing), (vec![26.28, 2.3], 28.58, 37.78));
    }

    #[test]
    fn sqs_is_free_at_baseline_and_says_why() {
        let stack = walkthrough("development");
        let cost =
            component_monthly_cost(spec(&stack, "email-service/queue"), "us-east-1").unwrap();
        assert!(cost.lines.is_empty());
        assert_eq!((cost.monthly_usd, cost.max_monthly_usd), (0.0, 0.0));
        assert!(cost.notes[0].contains("dead-letter queue"));
        assert!(cost.notes[0].contains("$0.40 per million standard"));
    }

    #[test]
    fn the_table_is_consistent_and_documented() {
        let doc = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/pricing.md"),
        )
        .expect("docs/pricing.md");
        assert!(doc.contains(PRICES_AS_OF), "the page states the as-of date");
        for table in &TABLES {
            assert!(doc.contains(table.region), "{} is documented", table.region);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (class, postgres, mysql) in RDS_INSTANCES_US {
            assert!(seen.insert(*class), "{class} twice");
            assert!(
                *postgres > 0.0 && *mysql > 0.0 && mysql <= postgres,
                "{class}"
            );
            let row = format!("| {class} | {postgres:.3} | {mysql:.3} |");
            assert!(doc.contains(&row), "docs/pricing.md lacks `{row}`");
        }
        for (node, hourly) in REDIS_NODES_US {
            assert!(seen.insert(*node), "{node} twice");
            let row = format!("| {node} | {hourly:.3} |");
            assert!(doc.contains(&row), "docs/pricing.md lacks `{row}`");
        }
        let t = &TABLES[0];
        for price in [
            t.fargate_x86_64.vcpu_hour,
            t.fargate_x86_64.gb_hour,
            t.fargate_arm64.vcpu_hour,
            t.fargate_arm64.gb_hour,
            t.alb_hour,
            t.alb_lcu_hour,
            t.rds_gp3.gb_month,
            t.rds_gp3.iops_month,
            t.rds_io1.gb_month,
            t.rds_io1.iops_month,
        ] {
            assert!(
                doc.contains(&format!("{price}")),
                "docs/pricing.md lacks {price}"
            );
        }
    }
}
