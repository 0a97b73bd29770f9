//! The fault-injection proxy of `tests/it/support/proxy.rs` as a standalone program, for
//! scripts (`scripts/bench-apply`) and for trying panka against a flaky AWS by hand.
//!
//! ```text
//! cargo run --example fault_proxy -- --upstream http://127.0.0.1:5000 \
//!     [--port 0] [--latency-ms 100] [--fault-rate 0.2] [--seed 1] [--after-forward 0.5] \
//!     [--account-id 123456789013]
//! ```
//!
//! It prints `listening on http://127.0.0.1:PORT` on stdout once ready and serves until it
//! is killed. `curl http://127.0.0.1:PORT/__proxy/stats` shows the calls per service and
//! action and the faults injected; `curl -X POST …/__proxy/reset` zeroes them.

// The tests use more of the proxy than this program does.
#[allow(dead_code)]
#[path = "../tests/it/support/proxy.rs"]
mod proxy;

use proxy::{FaultConfig, FaultProxy};
use std::io::Write;
use std::time::Duration;

const USAGE: &str = "usage: fault_proxy --upstream http://HOST:PORT [--port N] [--latency-ms N] \
[--fault-rate F] [--seed N] [--after-forward F] [--account-id ID]";

fn main() {
    match run() {
        Ok(()) => {}
        Err(message) => {
            eprintln!("fault_proxy: {message}\n{USAGE}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<(), String> {
    let mut upstream = None;
    let mut port = 0_u16;
    let mut latency_ms = 0_u64;
    let mut rate = 0.0_f64;
    let mut seed = 1_u64;
    let mut after_forward = 0.5_f64;
    let mut account_id = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--upstream" => upstream = Some(value()?),
            "--port" => port = parse(&flag, &value()?)?,
            "--latency-ms" => latency_ms = parse(&flag, &value()?)?,
            "--fault-rate" => rate = parse(&flag, &value()?)?,
            "--seed" => seed = parse(&flag, &value()?)?,
            "--after-forward" => after_forward = parse(&flag, &value()?)?,
            "--account-id" => account_id = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let upstream = upstream.ok_or("--upstream is required")?;
    if !(0.0..=1.0).contains(&rate) || !(0.0..=1.0).contains(&after_forward) {
        return Err("rates are fractions between 0 and 1".into());
    }
    let mut config =
        FaultConfig::uniform(rate, seed).with_latency(Duration::from_millis(latency_ms));
    config.after_forward = after_forward;
    config.account_id = account_id;
    let proxy = FaultProxy::start_on(&upstream, config, port)
        .map_err(|err| format!("cannot start: {err}"))?;
    println!("listening on {}", proxy.endpoint());
    // Scripts read the line above to learn the port; make sure it is not left buffered.
    std::io::stdout()
        .flush()
        .map_err(|err| format!("stdout: {err}"))?;
    loop {
        std::thread::park();
    }
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: cannot read {value:?}"))
}
