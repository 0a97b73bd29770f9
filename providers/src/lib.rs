//! `panka-providers`: panka's AWS side.
//!
//! Everything that talks to AWS lives in this crate, so that `panka-core` never compiles
//! an SDK crate (see `ARCHITECTURE.md`). The entry point is [`aws`]: one
//! [`SdkConfig`](aws_types::SdkConfig) per process, loaded by [`aws::load_sdk_config`], and
//! one [`aws::AwsClients`] built from it, which holds every service client.
//!
//! - [`state_s3`]: the `s3` state backend ([`panka_core::state::StateStore`]);
//! - [`lock_dynamodb`]: the `dynamodb` lock ([`panka_core::state::StateLock`]);
//! - [`bootstrap`]: creates and configures the state bucket and the lock table;
//! - [`identity`]: the caller's name (STS), recorded as *Deployed by*.

pub mod aws;
pub mod bootstrap;
pub(crate) mod describe;
pub mod elasticache;
pub mod grants;
pub mod identity;
pub mod live;
pub mod lock_dynamodb;
pub mod log_events;
pub mod microservice;
pub mod naming;
pub mod network;
pub mod orphans;
pub mod rds;
pub mod reconcilers;
pub(crate) mod sdk_error;
pub mod secrets;
pub(crate) mod shared;
pub mod sqs;
pub mod state_s3;
