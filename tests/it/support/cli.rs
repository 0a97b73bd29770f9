//! The `panka` binary of this package, run the way every CLI test runs it: in a folder of
//! the test's, with nothing from the host's environment that changes what panka does.
//!
//! Everything is passed to the child process; nothing here touches this process's
//! environment, which the tests running on other threads share.

use std::path::Path;
use std::process::Output;

/// `panka` in `cwd`, as a [`std::process::Command`] (for `spawn`, pipes and files): none of
/// the host's panka settings (`PANKA_CONFIG`, `PANKA_ENVIRONMENT`, any `PANKA_VAR_*`) nor
/// its AWS region or profile, and no colour.
pub fn panka_std(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_panka"));
    cmd.current_dir(cwd)
        .env_remove("PANKA_CONFIG")
        .env_remove("PANKA_ENVIRONMENT")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PANKA_VAR_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// [`panka_std`] as an [`assert_cmd::Command`] (for `assert()`).
pub fn panka(cwd: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(panka_std(cwd))
}

/// [`panka_std`] against the AWS endpoint `endpoint` (a moto server or a fault proxy in
/// front of one): `home` as `HOME`, test credentials, no AWS config or credentials file
/// (both `home/none`), and `alice` as the one who deploys.
pub fn panka_aws_std(cwd: &Path, home: &Path, endpoint: &str) -> std::process::Command {
    let mut cmd = panka_std(cwd);
    cmd.env("HOME", home)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .env("PANKA_USER", "alice");
    cmd
}

/// [`panka_aws_std`] as an [`assert_cmd::Command`].
pub fn panka_aws(cwd: &Path, home: &Path, endpoint: &str) -> assert_cmd::Command {
    assert_cmd::Command::from_std(panka_aws_std(cwd, home, endpoint))
}

/// A run's stdout, a newline, then its stderr (lossy UTF-8), for assertions and failure
/// messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
