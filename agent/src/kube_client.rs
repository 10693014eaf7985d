//! The Kubernetes client: `agent.kubeconfig_path` when set, else `KUBECONFIG` or
//! `~/.kube/config`, else the in-cluster service account (kube's inference order).

use std::time::Duration;

use anyhow::Context;

/// Installs rustls' ring provider as the process default (the workspace enables two providers,
/// so rustls cannot choose by itself). Later calls are no-ops.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the client. kube's retry layer is off: [`crate::kube_retry`] retries instead, with a
/// bound and metrics.
pub async fn connect(kubeconfig_path: Option<&str>) -> anyhow::Result<kube::Client> {
    install_crypto_provider();
    let mut config = match kubeconfig_path.filter(|p| !p.trim().is_empty()) {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("agent.kubeconfig_path: cannot read {path}"))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("agent.kubeconfig_path: invalid kubeconfig {path}"))?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster)")?,
    };
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    config.write_timeout = Some(Duration::from_secs(60));
    kube::Client::try_from(config).context("cannot build the Kubernetes client")
}
