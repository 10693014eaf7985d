//! `kubesim`: runs the Kubernetes API simulator as a process.
//!
//! ```text
//! kubesim --listen 127.0.0.1:6443 --kubeconfig-out /tmp/kubesim.kubeconfig
//! KUBECONFIG=/tmp/kubesim.kubeconfig kubectl get ns
//! ```
//!
//! It writes a kubeconfig pointing at itself (plain HTTP; with `--token`, requests must carry
//! that bearer token), then serves until SIGINT or SIGTERM. See `brokkr_e2e::kubesim` for what
//! it simulates and the README for the fault-injection API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use brokkr_e2e::kubesim::{ControllerOptions, KubeSim, Options};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "kubesim",
    about = "Kubernetes API simulator for Brokkr's tests"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6443", env = "KUBESIM_LISTEN")]
    listen: SocketAddr,
    /// Where to write a kubeconfig that points at this simulator.
    #[arg(long, env = "KUBESIM_KUBECONFIG_OUT")]
    kubeconfig_out: PathBuf,
    /// Require this bearer token on API requests (written into the kubeconfig).
    #[arg(long, env = "KUBESIM_TOKEN")]
    token: Option<String>,
    /// Install the Shipwright Build and BuildRun CRDs at start.
    #[arg(long, env = "KUBESIM_SHIPWRIGHT")]
    shipwright: bool,
    /// Milliseconds from pod creation to Running.
    #[arg(long, default_value_t = 150)]
    pod_start_ms: u64,
    /// Milliseconds a Job pod runs before it succeeds.
    #[arg(long, default_value_t = 300)]
    job_duration_ms: u64,
    /// Milliseconds a Shipwright BuildRun runs before it finishes.
    #[arg(long, default_value_t = 500)]
    build_duration_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let options = Options {
        listen: args.listen,
        kubeconfig_out: Some(args.kubeconfig_out.clone()),
        token: args.token,
        shipwright: args.shipwright,
        controller: ControllerOptions {
            pod_start: Duration::from_millis(args.pod_start_ms),
            job_duration: Duration::from_millis(args.job_duration_ms),
            build_duration: Duration::from_millis(args.build_duration_ms),
            ..ControllerOptions::default()
        },
    };
    let mut sim = KubeSim::start_with(options).await?;
    tracing::info!(
        url = %sim.url(),
        kubeconfig = %args.kubeconfig_out.display(),
        "kubesim serving (a simulated Kubernetes cluster)"
    );
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
    }
    tracing::info!("kubesim stopping");
    sim.shutdown();
    Ok(())
}
