//! The contract between the engine and the AWS side: one [`Reconciler`] per component
//! kind (implemented in `panka-providers`), dispatched by kind with a `match`.
//!
//! Guarantees every reconciler gives:
//! - **Idempotent and resumable**: `create` on a component whose resources already exist
//!   with panka's tags for this component adopts them (an apply that died after the AWS
//!   call and before the state write resumes without duplicates); resources with other
//!   tags, or none, are an [`ErrorKind::Foreign`] error and nothing is changed.
//! - `delete` tolerates resources that are already gone or were never finished.
//! - `read` returns `None` when the component's primary resource does not exist, and
//!   otherwise the managed fields normalised exactly like [`Reconciler::normalise`]
//!   normalises the desired spec, so that reading back what was just created shows no
//!   change.
//! - Waiting belongs to the caller: `poll_ready` is one probe; the engine owns deadlines,
//!   backoff and progress so that every kind waits alike.

use crate::drift::{Owner, TaggedResource};
use crate::model::{ComponentId, ComponentKind, ComponentSpec, Domain, Kind, Network};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fmt;

/// The ownership tags of product.md: who a resource belongs to, read back by the
/// ownership checks of `create` and by `drift`'s orphan search.
pub const STACK_TAG: &str = "panka:stack";
pub const ENVIRONMENT_TAG: &str = "panka:environment";
pub const COMPONENT_TAG: &str = "panka:component";
pub const MANAGED_BY_TAG: &str = "panka:managed-by";

/// Where a component's resources live and who owns them.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceContext {
    pub stack: String,
    pub environment: String,
    pub id: ComponentId,
    pub region: String,
    /// Production rules: deletion protection on, RDS changes in the maintenance window.
    pub production: bool,
    /// The environment's network; `None` means the account's default VPC.
    pub network: Option<Network>,
    /// The environment's domain; `None`: services answer on their load balancer's name.
    pub domain: Option<Domain>,
}

impl ResourceContext {
    /// The ownership tags of product.md, put on every resource that takes tags.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (STACK_TAG.to_string(), self.stack.clone()),
            (ENVIRONMENT_TAG.to_string(), self.environment.clone()),
            (COMPONENT_TAG.to_string(), self.id.to_string()),
            (MANAGED_BY_TAG.to_string(), "panka".to_string()),
        ])
    }

    /// `<stack>-<env>-<service>-<component>`, before any cut to an AWS limit.
    pub fn base_name(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.stack, self.environment, self.id.service, self.id.component
        )
    }
}

/// What a component needs besides its spec, resolved by the engine before the call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs {
    /// `valueFrom` environment variables, already resolved from dependency outputs.
    pub resolved_env: BTreeMap<String, String>,
    /// Outputs of the components this one depends on (including internal ones such as
    /// the client security group of a database), by component id.
    pub dependencies: BTreeMap<ComponentId, BTreeMap<String, String>>,
    /// The kind of each dependency recorded in state, for the grants a client of it
    /// gets (a dependency not created yet has no kind here, and no outputs either).
    pub dependency_kinds: BTreeMap<ComponentId, ComponentKind>,
    /// Contents of `configs` files by name (MicroService).
    pub config_files: BTreeMap<String, String>,
}

/// The component's live resources as a reconciler sees them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// AWS identifiers by role (`queue_url`, `db_instance_identifier`, …).
    pub physical_ids: BTreeMap<String, String>,
    /// Managed fields, normalised (see [`Reconciler::normalise`]).
    pub fields: serde_json::Value,
    /// Declared outputs (and internal ones the dependents need).
    pub outputs: BTreeMap<String, String>,
}

/// One readiness probe's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Readiness {
    Ready,
    /// Still converging; `progress` in percent when the kind can tell.
    Waiting {
        detail: String,
        progress: Option<u8>,
    },
    /// It will not become ready (e.g. an ECS circuit-breaker rollback).
    Failed {
        reason: String,
    },
}

/// What `panka status` shows of a live component.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LiveStatus {
    pub status: String,
    pub healthy: bool,
    pub detail: String,
}

impl LiveStatus {
    /// The component's primary resource is gone (deleted outside panka?).
    pub fn missing(what: &str, name: &str) -> Self {
        LiveStatus {
            status: "missing".into(),
            healthy: false,
            detail: format!("{what} {name} does not exist (deleted outside panka?)"),
        }
    }
}

/// How a provider failure is classified; the engine decides retries and messages by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    Conflict,
    Throttled,
    Transient,
    /// A wait ran out of time (the resource is still changing in AWS): trying the step
    /// again would only wait as long again; the next run resumes where it stopped.
    TimedOut,
    AccessDenied,
    Invalid,
    /// A resource with panka's name exists but belongs to something else.
    Foreign,
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// The whole cause chain.
    pub message: String,
    pub hint: Option<String>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProviderError {}

/// Physical ids recorded in state for a component (empty when unknown): reconcilers
/// use them first and fall back to the deterministic names.
pub type KnownIds = BTreeMap<String, String>;

/// What `delete` may do to stateful resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Take a final snapshot of databases and caches before deleting them.
    pub final_snapshot: bool,
    /// Turn deletion protection off first (only with `--allow-dangerous`).
    pub disable_deletion_protection: bool,
}

/// How a changed field is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldChange {
    InPlace,
    /// The resource must be replaced (delete and create).
    Replace,
}

/// Read, create, update, delete and probe the resources of one component kind.
#[async_trait]
pub trait Reconciler: Send + Sync {
    fn kind(&self) -> ComponentKind;

    /// The managed fields of `spec` in the same normalised form `read` returns.
    fn normalise(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> serde_json::Value;

    /// How a change of the normalised field at `path` (dotted) is applied.
    fn field_change(&self, path: &str) -> FieldChange;

    /// The live resources, or `None` when the component does not exist.
    async fn read(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError>;

    /// Creates (or adopts) the resources; returns them as `read` would.
    async fn create(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError>;

    /// Changes the in-place fields to match `spec`.
    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError>;

    /// Deletes the resources; gone already is success.
    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        options: DeleteOptions,
    ) -> Result<(), ProviderError>;

    /// One readiness probe.
    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError>;

    /// What `status` shows: one read of the live resources. A resource that is gone is
    /// a `missing` status, not an error; errors are AWS failures (credentials, network,
    /// permissions).
    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError>;

    /// Every resource of this kind carrying `owner`'s tags, whatever state says: the
    /// primary resource a component is recognised by, and any resource that outlives a
    /// half-finished delete and still costs or grants something. `drift` reports those
    /// state does not name as orphans. A resource that vanishes between its listing and
    /// its tag read is left out.
    async fn tagged(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError>;
}

/// A [`Reconciler`] written against its kind's spec type: every reconciler in
/// `panka-providers` implements this, and the blanket [`Reconciler`] implementation
/// below narrows the registry's `ComponentSpec` once, so no reconciler downcasts.
#[async_trait]
pub trait KindReconciler: Send + Sync {
    type Spec: Kind;

    /// See [`Reconciler::normalise`].
    fn normalise(
        &self,
        ctx: &ResourceContext,
        spec: &Self::Spec,
        inputs: &Inputs,
    ) -> serde_json::Value;

    /// See [`Reconciler::field_change`].
    fn field_change(&self, path: &str) -> FieldChange;

    /// See [`Reconciler::read`].
    async fn read(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError>;

    /// See [`Reconciler::create`].
    async fn create(
        &self,
        ctx: &ResourceContext,
        spec: &Self::Spec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError>;

    /// See [`Reconciler::update`].
    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &Self::Spec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError>;

    /// See [`Reconciler::delete`].
    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        options: DeleteOptions,
    ) -> Result<(), ProviderError>;

    /// See [`Reconciler::poll_ready`].
    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError>;

    /// See [`Reconciler::live_status`].
    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError>;

    /// See [`Reconciler::tagged`].
    async fn tagged(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError>;
}

/// A spec of another kind reached this kind's reconciler: a bug in the dispatch, said
/// as such rather than as a panic.
fn wrong_kind<S: Kind>(spec: &ComponentSpec) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!(
            "the {} reconciler was given a {} spec",
            S::INFO.name,
            spec.kind()
        ),
    )
}

#[async_trait]
impl<R: KindReconciler> Reconciler for R {
    fn kind(&self) -> ComponentKind {
        <R::Spec as Kind>::KIND
    }

    /// `Null` for a spec of another kind.
    fn normalise(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> serde_json::Value {
        R::Spec::narrow(spec).map_or(serde_json::Value::Null, |spec| {
            KindReconciler::normalise(self, ctx, spec, inputs)
        })
    }

    fn field_change(&self, path: &str) -> FieldChange {
        KindReconciler::field_change(self, path)
    }

    async fn read(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        KindReconciler::read(self, ctx, known).await
    }

    async fn create(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let typed = R::Spec::narrow(spec).ok_or_else(|| wrong_kind::<R::Spec>(spec))?;
        KindReconciler::create(self, ctx, typed, inputs).await
    }

    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let typed = R::Spec::narrow(spec).ok_or_else(|| wrong_kind::<R::Spec>(spec))?;
        KindReconciler::update(self, ctx, typed, inputs).await
    }

    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        KindReconciler::delete(self, ctx, known, options).await
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        KindReconciler::poll_ready(self, ctx, known).await
    }

    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        KindReconciler::live_status(self, ctx, known).await
    }

    async fn tagged(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        KindReconciler::tagged(self, owner).await
    }
}
