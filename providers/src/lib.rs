//! `panka-providers`: panka's AWS side.
//!
//! Everything that talks to AWS lives in this crate, so that `panka-core` never compiles
//! an SDK crate (see `ARCHITECTURE.md`). The entry point is [`aws`]: one
//! [`SdkConfig`](aws_types::SdkConfig) per process, loaded by [`aws::load_sdk_config`], and
//! one [`aws::AwsClients`] built from it, which holds every service client.

pub mod aws;
