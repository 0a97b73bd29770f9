//! panka's integration tests, as one test binary: the CLI (`cli_*`), the reconcilers and
//! backends on moto (`e2e_*`), faults, kills and lock races (`reliability_*`), and the
//! secret canary. One binary links the AWS SDK once instead of once per file (issue 14);
//! `cargo test --test it MODULE` runs one former file, e.g. `cargo test --test it cli_plan`.
//!
//! Tests run on parallel threads of this one process: none may set process-wide state
//! (environment variables, the current directory); each passes what it needs to the
//! `panka` processes it starts and to the SDK clients it builds (see `support`).

mod support;

mod cli_apply;
mod cli_aws;
mod cli_domain;
mod cli_drift;
mod cli_history;
mod cli_init;
mod cli_logs;
mod cli_plan;
mod cli_preflight;
mod cli_production;
mod cli_rollback_destroy;
mod cli_state;
mod cli_status;
mod cli_target;
mod cli_validate;
mod cli_walkthrough;
mod e2e_elasticache;
mod e2e_https;
mod e2e_microservice;
mod e2e_moto;
mod e2e_network;
mod e2e_orphans;
mod e2e_rds;
mod e2e_rollback;
mod e2e_shared_lb;
mod e2e_sqs;
mod e2e_state;
mod reliability_faults;
mod reliability_kill;
mod reliability_locks;
mod secrets_canary;
