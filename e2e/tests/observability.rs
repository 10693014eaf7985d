//! Observability against a running stack: broker, worker and agent (with kubesim) started by the
//! harness, given some work (a deployment applied by the agent, a webhook delivered); then
//! * `promtool check metrics` passes on the live `/metrics` of all three processes;
//! * a real Prometheus scrapes them for a short window and evaluates the alert rules of
//!   `deploy/observability/prometheus/alerts.yml`: every rule evaluates without error, none of
//!   the "something is down" alerts is active on the healthy stack, and the worker-down alert
//!   becomes active once the worker is killed;
//! * every metric name that a dashboard panel or an alert rule uses (read with a PromQL parser)
//!   is on the live `/metrics` of a running process (or is `up`, which Prometheus writes for
//!   each target).
//!
//! It needs `promtool` and `prometheus` (Debian package `prometheus`), so it is ignored by a
//! plain `cargo test`: scripts/check-observability.sh installs them and runs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use brokkr_e2e::harness::{Harness, Options, eventually, free_port, requires_kubesim};
use brokkr_e2e::receiver::Receiver;
use promql_parser::parser::{self, Expr};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::Command;

/// How long Prometheus may take to scrape every target and evaluate the rules.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(60);

fn observability_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/observability")
}

/// `GET url` as text.
async fn text(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let response = http.get(url).send().await?.error_for_status()?;
    Ok(response.text().await?)
}

/// Runs `promtool check metrics` on an exposition; returns what it complained about.
async fn promtool_check_metrics(exposition: &str) -> anyhow::Result<Option<String>> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running promtool (Debian package prometheus)")?;
    let mut stdin = child.stdin.take().context("promtool stdin")?;
    stdin.write_all(exposition.as_bytes()).await?;
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .context("promtool check metrics took more than 30 s")??;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((!out.status.success() || !said.trim().is_empty()).then_some(said))
}

/// The metric names of the samples of an exposition (a histogram's `_bucket`, `_sum` and
/// `_count` series, as PromQL sees them).
fn exposed_names(exposition: &str) -> impl Iterator<Item = String> + '_ {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_owned))
}

/// Every metric name a PromQL expression selects.
fn metric_names(expr: &Expr, names: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) => names.extend(vs.name.clone()),
        Expr::MatrixSelector(ms) => names.extend(ms.vs.name.clone()),
        Expr::Aggregate(a) => {
            metric_names(&a.expr, names);
            if let Some(p) = &a.param {
                metric_names(p, names);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, names),
        Expr::Binary(b) => {
            metric_names(&b.lhs, names);
            metric_names(&b.rhs, names);
        }
        Expr::Paren(p) => metric_names(&p.expr, names),
        Expr::Subquery(s) => metric_names(&s.expr, names),
        Expr::Call(c) => c.args.args.iter().for_each(|a| metric_names(a, names)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The PromQL of every dashboard panel (Grafana's `$__rate_interval` replaced by a range), with
/// where it comes from.
fn dashboard_queries() -> anyhow::Result<Vec<(String, String)>> {
    let mut queries = Vec::new();
    let dir = observability_dir().join("grafana");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    anyhow::ensure!(
        files.len() == 4,
        "expected 4 dashboards in {}",
        dir.display()
    );
    for file in files {
        let board: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
        for panel in board["panels"].as_array().context("panels")? {
            for target in panel["targets"].as_array().context("targets")? {
                let expr = target["expr"].as_str().context("expr")?;
                queries.push((
                    format!("{} / {}", board["title"], panel["title"]),
                    expr.replace("$__rate_interval", "5m"),
                ));
            }
        }
    }
    Ok(queries)
}

/// The PromQL of every alert rule, with its name.
fn rule_queries() -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(observability_dir().join("prometheus/alerts.yml"))?;
    let rules: Value = serde_yaml_ng::from_str(&text)?;
    let mut queries = Vec::new();
    for group in rules["groups"].as_array().context("groups")? {
        for rule in group["rules"].as_array().context("rules")? {
            queries.push((
                format!("alert {}", rule["alert"].as_str().context("alert")?),
                rule["expr"].as_str().context("expr")?.to_owned(),
            ));
        }
    }
    Ok(queries)
}

/// A Prometheus server scraping the stack, with its data in a temporary directory.
struct Prometheus {
    _child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    async fn start(dir: &Path, targets: &[(&str, &str)]) -> anyhow::Result<Prometheus> {
        let port = free_port()?;
        let jobs: Vec<Value> = targets
            .iter()
            .map(|(job, base)| {
                json!({
                    "job_name": job,
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [base.trim_start_matches("http://")]}],
                })
            })
            .collect();
        let config = json!({
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [observability_dir().join("prometheus/alerts.yml")],
            "scrape_configs": jobs,
        });
        // JSON is YAML.
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, serde_json::to_string_pretty(&config)?)?;
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("running prometheus (Debian package prometheus)")?;
        let prometheus = Prometheus {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let url = format!("{}/-/ready", prometheus.base);
        let http = prometheus.http.clone();
        eventually("Prometheus ready", PROMETHEUS_DEADLINE, || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await?;
        Ok(prometheus)
    }

    /// `GET /api/v1/<path>`'s `data`.
    async fn api(&self, path: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}/api/v1/{path}", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(body.to_string());
        }
        Ok(body["data"].clone())
    }

    /// Names of the alerts pending or firing.
    async fn active_alerts(&self) -> Result<BTreeSet<String>, String> {
        let data = self.api("alerts").await?;
        Ok(data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
            .collect())
    }
}

/// Where the stack's processes serve `/metrics`, by scrape job.
fn targets(h: &Harness) -> anyhow::Result<Vec<(&'static str, String)>> {
    Ok(vec![
        ("brokkr-broker", h.base.clone()),
        (
            "brokkr-worker",
            h.worker_base.clone().context("worker running")?,
        ),
        ("brokkr-agent", h.agent_health()?.to_owned()),
    ])
}

#[tokio::test]
#[ignore = "needs promtool and prometheus: run by scripts/check-observability.sh"]
async fn prometheus_scrapes_a_running_stack_and_every_dashboard_and_rule_metric_exists() {
    if requires_kubesim("its agent reconciles in kubesim and the test kills processes") {
        return;
    }
    let env = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let mut h = Harness::start(Options {
        server_env: vec![
            env(
                "BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY",
                "5d1f0e2d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
            ),
            env("BROKKR__WEBHOOKS__ALLOWED_NETWORKS", "127.0.0.0/8"),
        ],
        ..Options::default()
    })
    .await
    .expect("harness starts");

    // Work for every process: a webhook delivered by the worker, a deployment applied by the
    // agent (kube calls, an agent report, a propagation time).
    let receiver = Receiver::start().await;
    let (status, sub) = h
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"name": "observability", "url": receiver.url(), "event_types": ["stack.created"]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{sub}");
    let stack = h.create_stack("observed").await.unwrap();
    let ns = h.ns("observed");
    let object = h
        .post_deployment(
            stack,
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        )
        .await
        .unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    receiver.wait_for("a delivered event", |_| true).await;

    // promtool check metrics on each live /metrics.
    let targets = targets(&h).unwrap();
    let mut exposed = BTreeSet::new();
    for (job, base) in &targets {
        let exposition = text(&h.http, &format!("{base}/metrics")).await.unwrap();
        exposed.extend(exposed_names(&exposition));
        assert!(
            exposition.contains("brokkr_build_info{"),
            "{job}: no brokkr_build_info"
        );
        assert!(
            exposition.contains("process_resident_memory_bytes"),
            "{job}: no process metrics"
        );
        if let Some(complaints) = promtool_check_metrics(&exposition).await.unwrap() {
            panic!("{job}: promtool check metrics:\n{complaints}");
        }
    }

    let dir = std::env::temp_dir().join(format!("brokkr-prometheus-{}", h.run_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scrape: Vec<(&str, &str)> = targets.iter().map(|(j, b)| (*j, b.as_str())).collect();
    let prometheus = Prometheus::start(&dir, &scrape).await.unwrap();

    // Every target scraped, and every rule evaluated (after that) without error.
    eventually(
        "every target up in Prometheus",
        PROMETHEUS_DEADLINE,
        || async {
            let data = prometheus.api("targets").await?;
            let health: Vec<String> = data["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| format!("{} {}", t["labels"]["job"], t["health"]))
                .collect();
            let up = health.iter().filter(|t| t.ends_with("\"up\"")).count();
            if up == targets.len() {
                Ok(())
            } else {
                Err(format!("{health:?}"))
            }
        },
    )
    .await
    .unwrap();
    // Rules evaluated on a few scrapes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rules = eventually("every rule evaluated", PROMETHEUS_DEADLINE, || async {
        let data = prometheus.api("rules").await?;
        let rules: Vec<Value> = data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let unevaluated: Vec<String> = rules
            .iter()
            .filter(|r| r["health"] != "ok")
            .map(|r| format!("{} {} {}", r["name"], r["health"], r["lastError"]))
            .collect();
        if !rules.is_empty() && unevaluated.is_empty() {
            Ok(rules.len())
        } else {
            Err(format!("{unevaluated:?}"))
        }
    })
    .await
    .unwrap();
    assert_eq!(rules, rule_queries().unwrap().len(), "rules loaded");
    let active = prometheus.active_alerts().await.unwrap();
    for healthy in [
        "BrokkrBrokerDown",
        "BrokkrWorkerDown",
        "BrokkrNotReady",
        "BrokkrAgentHeartbeatMissing",
        "BrokkrWorkOrderClaimsStale",
        "BrokkrQueueAgeGrowing",
    ] {
        assert!(
            !active.contains(healthy),
            "{healthy} active on a healthy stack: {active:?}"
        );
    }

    // Every metric a dashboard or a rule uses is one the running processes expose (`up` is
    // Prometheus' own, per target).
    let scraped: BTreeSet<String> = prometheus
        .api("label/__name__/values")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    for (source, query) in dashboard_queries()
        .unwrap()
        .into_iter()
        .chain(rule_queries().unwrap())
    {
        let expr = parser::parse(&query)
            .unwrap_or_else(|e| panic!("{source}: PromQL does not parse: {e}\n{query}"));
        let mut names = BTreeSet::new();
        metric_names(&expr, &mut names);
        assert!(!names.is_empty(), "{source}: selects no metric: {query}");
        for name in names {
            let live = exposed.contains(&name) || (name == "up" && scraped.contains("up"));
            if !live {
                missing.push(format!("{source}: {name}"));
            }
            used.insert(name);
        }
    }
    assert!(
        missing.is_empty(),
        "metrics used by dashboards or rules that no running process exposes:\n{}",
        missing.join("\n")
    );
    assert!(
        exposed.is_subset(&scraped),
        "Prometheus did not scrape {:?}",
        exposed.difference(&scraped).collect::<Vec<_>>()
    );
    eprintln!(
        "{} metric names used by dashboards and rules, all live ({} names exposed, {} in Prometheus)",
        used.len(),
        exposed.len(),
        scraped.len()
    );

    // The rules see real outages: with the worker gone, its down alert goes pending.
    if let Some(mut worker) = h.worker.take() {
        worker.kill().await.unwrap();
    }
    eventually(
        "BrokkrWorkerDown pending or firing",
        PROMETHEUS_DEADLINE,
        || async {
            let active = prometheus.active_alerts().await?;
            if active.contains("BrokkrWorkerDown") {
                Ok(())
            } else {
                Err(format!("{active:?}"))
            }
        },
    )
    .await
    .unwrap();
    assert!(
        !prometheus
            .active_alerts()
            .await
            .unwrap()
            .contains("BrokkrBrokerDown"),
        "the broker still runs"
    );
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&dir);
}
