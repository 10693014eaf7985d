//! `propagation-bench`: how fast a change reaches the cluster, and what an idle agent costs.
//!
//! It starts the harness (fresh database, kubesim, broker, worker, agent with its default
//! settings), then posts `--changes` deployment objects to one stack, one after the other, each
//! changing a ConfigMap's value, and measures the time from the POST to the value being visible
//! in the cluster. Then it applies a stack of `--idle-objects` objects, lets the agent idle and
//! reads its resident memory (`VmRSS` of `/proc/<pid>/status`).
//!
//! ```text
//! cargo build --release --workspace --bins
//! target/release/propagation-bench            # DATABASE_URL as for the tests
//! ```
//!
//! The binaries are taken from the directory of this executable (or `$BROKKR_BIN_DIR`).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brokkr_e2e::harness::{Harness, Options};
use clap::Parser;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

#[derive(Parser, Debug)]
#[command(
    name = "propagation-bench",
    about = "Deployment-object propagation latency"
)]
struct Args {
    /// Deployment objects posted (one at a time).
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Objects applied before measuring idle memory.
    #[arg(long, default_value_t = 100)]
    idle_objects: usize,
    /// Seconds the agent idles before its memory is read.
    #[arg(long, default_value_t = 15)]
    idle_seconds: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn configmap_yaml(name: &str, value: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  value: \"{value}\"\n"
    )
}

fn rss_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let defaults = brokkr_schema::config::AgentSettings::default();
    let h = Harness::start(Options {
        worker: true,
        agent: true,
        reconcile_interval: defaults.reconcile_interval,
        polling_interval: defaults.polling_interval,
        agent_env: Vec::new(),
        log_level: "warn".into(),
        ..Options::default()
    })
    .await
    .context("starting the installation")?;
    let stack = h.create_stack("bench").await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(h.kube.clone(), "default");

    // Warm-up: the first object also waits for the agent's first pass.
    let first = h
        .post_deployment(stack, &configmap_yaml("probe", 0))
        .await?;
    h.wait_for_event(&first, "SUCCESS").await?;

    let mut latencies = Vec::with_capacity(args.changes);
    for i in 1..=args.changes {
        let started = Instant::now();
        h.post_deployment(stack, &configmap_yaml("probe", i))
            .await?;
        let deadline = started + Duration::from_secs(30);
        loop {
            let seen = configmaps
                .get_opt("probe")
                .await?
                .and_then(|cm| cm.data)
                .and_then(|d| d.get("value").cloned());
            if seen.as_deref() == Some(i.to_string().as_str()) {
                latencies.push(started.elapsed());
                break;
            }
            if Instant::now() > deadline {
                bail!("change {i} not in the cluster after 30 s (seen {seen:?})");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    latencies.sort();
    let total: Duration = latencies.iter().sum();
    println!(
        "propagation over {} changes (POST -> object in the cluster): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms, mean {:.1} ms",
        latencies.len(),
        percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        percentile(&latencies, 90.0).as_secs_f64() * 1000.0,
        percentile(&latencies, 99.0).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0 / latencies.len().max(1) as f64,
    );

    // Idle memory with N applied objects (one stack of N ConfigMaps).
    let idle = h.create_stack("idle").await?;
    let yaml: Vec<String> = (0..args.idle_objects)
        .map(|i| configmap_yaml(&format!("idle-{i}"), i))
        .collect();
    let object = h.post_deployment(idle, &yaml.join("---\n")).await?;
    h.wait_for_event(&object, "SUCCESS").await?;
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let pid = h.agent_pid().context("agent not running")?;
    let (rss, hwm) = rss_kib(pid)?;
    println!(
        "agent memory, idle with {} applied objects (+1 probe): VmRSS {:.1} MiB (peak VmHWM {:.1} MiB)",
        args.idle_objects,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    Ok(())
}
