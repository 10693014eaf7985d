//! kubesim: a Kubernetes API simulator for tests.
//!
//! No real cluster can run on our machines, so tests (and the local stack) point the real
//! kube-rs client at kubesim through an ordinary kubeconfig. It speaks the API server's HTTP
//! API: discovery (also aggregated), get/list/watch/create/replace/patch/delete for built-in
//! kinds and for custom resources once their CRD is applied, server-side apply with field
//! ownership, label and field selectors, dryRun, Status errors. A small controller makes
//! Deployments, StatefulSets, DaemonSets and Jobs run pods, pods become ready (or fail on
//! request, see [`controller::FAIL_ANNOTATION`]), Shipwright BuildRuns finish. Faults (error
//! statuses, latency, refused connections) are injected through `/_kubesim/faults`.
//!
//! How the modules fit together:
//!
//! * [`server`]: HTTP accept loop, routing, watch streams, admin endpoints;
//! * [`discovery`]: discovery documents; [`kinds`]: the served resource types;
//! * [`objects`]: the API verbs, on top of [`store`] (objects, resourceVersion, cascades);
//! * [`apply`] + [`fields`]: server-side apply and managedFields; [`patch`]: other patches;
//! * [`selectors`]: label/field selectors; [`controller`]: the simulated control plane;
//! * [`faults`]: fault injection and request counts; [`error`]: `Status` errors.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use brokkr_e2e::kubesim::KubeSim;
//! let sim = KubeSim::start().await?;
//! let client = sim.client().await?;           // kube::Client through the kubeconfig
//! println!("{} {}", sim.url(), sim.kubeconfig_path().display());
//! # Ok(()) }
//! ```

pub mod apply;
pub mod controller;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod fields;
pub mod kinds;
pub mod objects;
pub mod patch;
pub mod selectors;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use controller::{ControllerOptions, FAIL_ANNOTATION};
pub use faults::{FaultSpec, Faults};

/// The shared state of one simulated cluster.
pub struct Cluster {
    store: Mutex<store::Store>,
    /// Fault settings and request counters.
    pub faults: Faults,
    /// Wakes the controller after writes.
    pub changed: Notify,
    /// Bearer token required on API requests, if any.
    pub token: Option<String>,
    /// `host:port` the server reports in discovery.
    pub address: String,
}

impl Cluster {
    /// Locks the store (a poisoned lock is still usable: every write is all-or-nothing).
    pub fn store(&self) -> MutexGuard<'_, store::Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Where to write the kubeconfig; a fresh temporary file (removed on drop) when `None`.
    pub kubeconfig_out: Option<PathBuf>,
    /// Require this bearer token (it is written into the kubeconfig).
    pub token: Option<String>,
    /// Install the Shipwright Build/BuildRun CRDs at start.
    pub shipwright: bool,
    /// Controller timings.
    pub controller: ControllerOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig_out: None,
            token: None,
            shipwright: false,
            controller: ControllerOptions::default(),
        }
    }
}

/// A running simulator: HTTP server plus controller; both stop when it is dropped.
pub struct KubeSim {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    temp_dir: Option<PathBuf>,
    cluster: Arc<Cluster>,
    tasks: Vec<JoinHandle<()>>,
}

/// Installs rustls' ring crypto provider as the process default (once; later calls are no-ops).
///
/// The workspace enables both rustls providers (sqlx uses ring, reqwest aws-lc-rs), so rustls
/// cannot pick one by itself and kube's client would panic building its TLS connector.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The kubeconfig text for a simulator at `url`.
pub fn kubeconfig_yaml(url: &str, token: Option<&str>) -> String {
    let user = match token {
        Some(token) => format!("{{\"token\": {}}}", serde_json::Value::String(token.into())),
        None => "{}".to_string(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: {url}\ncontexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim\n    namespace: default\ncurrent-context: kubesim\nusers:\n- name: kubesim\n  user: {user}\npreferences: {{}}\n"
    )
}

impl KubeSim {
    /// Starts a simulator on a free loopback port with default options.
    pub async fn start() -> anyhow::Result<KubeSim> {
        Self::start_with(Options::default()).await
    }

    /// Starts a simulator.
    pub async fn start_with(options: Options) -> anyhow::Result<KubeSim> {
        let listener = TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("kubesim: cannot listen on {}", options.listen))?;
        let addr = listener.local_addr()?;
        let mut store = store::Store::new();
        if options.shipwright {
            let crd_type = store
                .resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .context("CRD kind missing")?;
            for crd in controller::shipwright_crds() {
                let name = crd["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                store
                    .commit(&crd_type, "", &name, None, crd, false)
                    .map_err(|e| anyhow::anyhow!("installing {name}: {e}"))?;
            }
        }
        let cluster = Arc::new(Cluster {
            store: Mutex::new(store),
            faults: Faults::default(),
            changed: Notify::new(),
            token: options.token.clone(),
            address: addr.to_string(),
        });
        let url = format!("http://{addr}");
        let (kubeconfig, temp_dir) = match &options.kubeconfig_out {
            Some(path) => (path.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "kubesim-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::create_dir_all(&dir)?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        std::fs::write(&kubeconfig, kubeconfig_yaml(&url, options.token.as_deref()))
            .with_context(|| format!("kubesim: cannot write {}", kubeconfig.display()))?;
        let tasks = vec![
            tokio::spawn(server::serve(listener, cluster.clone())),
            tokio::spawn(controller::run(cluster.clone(), options.controller.clone())),
        ];
        Ok(KubeSim {
            addr,
            kubeconfig,
            temp_dir,
            cluster,
            tasks,
        })
    }

    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The kubeconfig file pointing at this simulator.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube-rs `Config` loaded from the kubeconfig file.
    pub async fn config(&self) -> anyhow::Result<kube::Config> {
        install_crypto_provider();
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?)
    }

    /// A kube-rs `Client` for this simulator.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(kube::Client::try_from(self.config().await?)?)
    }

    /// The shared cluster state (faults, store) for in-process tests.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Fault injection and request counts.
    pub fn faults(&self) -> &Faults {
        &self.cluster.faults
    }

    /// Stops the server and the controller.
    pub fn shutdown(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(dir) = &self.temp_dir {
            // Best effort: a leftover temp file is harmless.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
