//! What panka's core knows about each component kind, one file per kind.
//!
//! The registry (`component_kinds!` in `crate::model`) lists every kind once, with its
//! spec type; every per-kind list of the core (the kind names, outputs, statefulness,
//! the names it takes in AWS, its typical durations, its price, the plan's key
//! attributes) comes from the [`Kind`] implementation of that spec type, so adding a
//! kind is one line in the registry and one file here, and the compiler asks for
//! everything else (the spec's lowering, the reconciler in `panka-providers`).

mod microservice;
mod rds;
mod redis;
mod sqs;

pub use microservice::*;
pub use rds::*;
pub use redis::*;
pub use sqs::*;

use crate::cost::{Cost, PriceTable, UnknownPrice};
use crate::diag::Diagnostics;
use crate::model::{ComponentKind, ComponentSpec, InfraSpec, LowerContext};
use crate::naming::Namespace;
use crate::plan::Action;
use crate::read::MapReader;
use crate::reconcile::ResourceContext;
use std::time::Duration;

/// The facts about a kind that do not depend on a spec.
#[derive(Debug)]
pub struct KindInfo {
    /// The YAML `kind`, also how state and plans name it.
    pub name: &'static str,
    /// What the apply screen calls one (`Creating Database …`).
    pub noun: &'static str,
    /// Outputs other components may read through `valueFrom`.
    pub outputs: &'static [&'static str],
    /// Stateful kinds hold data: replacing or deleting one is a dangerous operation.
    pub stateful: bool,
    /// How long a change typically takes in AWS, when history has no measurement.
    pub typical: TypicalDurations,
    /// What a MicroService that references the component may do to it.
    pub client_access: ClientAccess,
}

/// How a client (a MicroService referencing the component through `valueFrom` or
/// `dependsOn`) reaches a component: least privilege, decided once per kind.
#[derive(Debug)]
pub enum ClientAccess {
    /// These IAM actions on the resource whose ARN is the output `arn_output`, granted
    /// in the client's task role.
    Iam {
        actions: &'static [&'static str],
        arn_output: &'static str,
    },
    /// No IAM grant: the client reaches it over the network (the security-group chain)
    /// or over HTTP. The reason is documentation.
    NetworkOnly { why: &'static str },
}

/// Typical AWS time per action, in seconds (AWS's own provisioning is the floor).
#[derive(Debug)]
pub struct TypicalDurations {
    pub create_s: u64,
    pub update_s: u64,
    pub delete_s: u64,
}

impl TypicalDurations {
    /// The same time for every action.
    pub const fn uniform(seconds: u64) -> Self {
        TypicalDurations {
            create_s: seconds,
            update_s: seconds,
            delete_s: seconds,
        }
    }

    pub fn of(&self, action: Action) -> Duration {
        Duration::from_secs(match action {
            Action::Noop => 0,
            Action::Create | Action::Replace => self.create_s,
            Action::Update => self.update_s,
            Action::Delete => self.delete_s,
        })
    }
}

/// One component kind, implemented by its spec type.
pub trait Kind: Sized + Clone + Send + Sync + 'static {
    const KIND: ComponentKind;
    const INFO: KindInfo;

    /// Reads the spec from its YAML tree: every field read, every problem a diagnostic
    /// at its position. `infra` is the component's merged infrastructure (only a
    /// MicroService has one); references to other components go into `ctx`.
    fn lower(
        spec: &mut MapReader,
        infra: InfraSpec,
        ctx: &mut LowerContext,
        diags: &mut Diagnostics,
    ) -> Self;

    /// The registry's enum narrowed to this kind's spec: the one place a spec is
    /// downcast (reconcilers get it through `panka-providers`' typed adapter).
    fn narrow(spec: &ComponentSpec) -> Option<&Self>;

    /// Every name the component's resources take in a namespace it shares with other
    /// components (`crate::naming`): the offline collision check runs over these, and
    /// the providers build their resource names with the same functions.
    fn physical_names(&self, ctx: &ResourceContext) -> Vec<(Namespace, String)>;

    /// Its monthly cost at `prices` (see `docs/pricing.md`).
    fn monthly_cost(&self, prices: &PriceTable) -> Result<Cost, UnknownPrice>;

    /// The lines the plan shows under a created component.
    fn key_attributes(&self) -> Vec<String>;
}

/// `enabled` or `disabled`, as the plan shows a switch.
fn enabled(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}
