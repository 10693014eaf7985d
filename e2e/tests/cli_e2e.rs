//! The `brokkr` CLI end to end, the way a CI pipeline and an operator use it: real broker,
//! worker and agent processes against PostgreSQL and kubesim, the CLI run as a process and
//! judged by its exit code and output.

use std::path::{Path, PathBuf};
use std::process::Output;

use brokkr_e2e::harness::{Harness, Options, binary, free_port};
use brokkr_e2e::receiver::Receiver;

/// Runs `brokkr` against the harness's broker with `pak` (flags, not a config file: the
/// config directory points at an empty temporary one).
async fn brokkr(h: &Harness, pak: &str, args: &[&str]) -> Output {
    brokkr_at(&h.base, pak, h.log_dir(), args).await
}

async fn brokkr_at(url: &str, pak: &str, config_dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(binary("brokkr").expect("the brokkr binary is built"))
        .args(args)
        .env("BROKKR_URL", url)
        .env("BROKKR_PAK", pak)
        .env("XDG_CONFIG_HOME", config_dir.join("cli-config"))
        .env_remove("HOME")
        .output()
        .await
        .expect("brokkr runs")
}

/// Runs `brokkr` as [`brokkr`] does, with `input` on its stdin.
async fn brokkr_with_stdin(h: &Harness, pak: &str, input: &str, args: &[&str]) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child =
        tokio::process::Command::new(binary("brokkr").expect("the brokkr binary is built"))
            .args(args)
            .env("BROKKR_URL", &h.base)
            .env("BROKKR_PAK", pak)
            .env("XDG_CONFIG_HOME", h.log_dir().join("cli-config"))
            .env_remove("HOME")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("brokkr runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("stdin written");
    drop(stdin);
    child.wait_with_output().await.expect("brokkr ends")
}

/// The words of a table's header line.
fn header(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts the exit code, showing everything the command printed when it differs.
fn expect_code(output: &Output, code: i32, what: &str) -> (String, String) {
    let (out, err) = text(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: expected exit code {code}\nstdout:\n{out}\nstderr:\n{err}"
    );
    (out, err)
}

/// A folder of manifests: a namespace and a ConfigMap (in a subfolder, read with -R).
fn folder(h: &Harness, ns: &str, color: &str) -> PathBuf {
    let dir = h.log_dir().join(format!("manifests-{color}"));
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(
        dir.join("00-namespace.yaml"),
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("config/app.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: {ns}\ndata:\n  color: {color}\n"
        ),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn a_ci_pipeline_applies_waits_and_gets_exit_codes_it_can_rely_on() {
    let mut h = Harness::start(Options::default())
        .await
        .expect("harness starts");
    let ns = h.ns("cli");
    let blue = folder(&h, &ns, "blue");
    let blue = blue.to_str().unwrap();

    // The pipeline (generator PAK) applies the folder; the stack is created on the way.
    let out = brokkr(
        &h,
        &h.generator_pak,
        &[
            "apply", "-f", blue, "-R", "--stack", "cli-web", "--label", "ci:e2e",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "first apply");
    assert!(stdout.contains("stack 'cli-web' created"), "{stdout}");
    assert!(
        stdout.contains("applied: stack 'cli-web' version"),
        "{stdout}"
    );

    // The admin targets the stack at the agent, by names.
    let out = brokkr(&h, &h.admin, &["target", "add", &h.agent_name, "cli-web"]).await;
    expect_code(&out, 0, "target add");

    // rollout status --wait with the pipeline's own generator PAK: every agent applied it
    // (plain lines: stdout is not a terminal).
    let out = brokkr(
        &h,
        &h.generator_pak,
        &["rollout", "status", "cli-web", "--wait", "--timeout", "60s"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "rollout status --wait");
    assert!(
        stdout.contains(&format!(
            "agent {}/{}: applied",
            h.agent_name, h.cluster_name
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 applied, 0 failed, 0 pending"),
        "{stdout}"
    );

    // Re-applying the unchanged folder makes no new version.
    let out = brokkr(
        &h,
        &h.generator_pak,
        &["apply", "-f", blue, "-R", "--stack", "cli-web"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "unchanged apply");
    assert!(stdout.contains("unchanged"), "{stdout}");
    let out = brokkr(
        &h,
        &h.generator_pak,
        &["get", "deployments", "--stack", "cli-web", "-o", "json"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get deployments -o json");
    let versions: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output parses");
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");

    // The change to come: diff shows it object by object, --dry-run sends nothing.
    let green = folder(&h, &ns, "green");
    let out = brokkr(
        &h,
        &h.generator_pak,
        &[
            "diff",
            "-f",
            green.to_str().unwrap(),
            "-R",
            "--stack",
            "cli-web",
            "--exit-code",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 1, "diff --exit-code with a change");
    assert!(
        stdout.contains(&format!("a/ConfigMap/{ns}/app"))
            && stdout.contains("-  color: blue")
            && stdout.contains("+  color: green"),
        "{stdout}"
    );
    let out = brokkr(
        &h,
        &h.generator_pak,
        &[
            "apply",
            "-f",
            green.to_str().unwrap(),
            "-R",
            "--stack",
            "cli-web",
            "--dry-run",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "apply --dry-run");
    assert!(
        stdout.contains(&format!("ConfigMap/{ns}/app would be changed")),
        "{stdout}"
    );
    // describe stack: the rollout of the newest version on each agent, health, the agents'
    // events about the stack.
    let out = brokkr(&h, &h.admin, &["describe", "stack", "cli-web"]).await;
    let (stdout, _) = expect_code(&out, 0, "describe stack");
    assert!(
        stdout.contains("ci:e2e") && stdout.contains("version 1"),
        "{stdout}"
    );
    let agent_line = format!("{}/{}  applied  health: ", h.agent_name, h.cluster_name);
    assert!(
        stdout.contains("Rollout of version 1: applied")
            && stdout.contains(&agent_line)
            && stdout.contains("Health:"),
        "the rollout and health are shown: {stdout}"
    );
    let events = stdout
        .split("Recent events:")
        .nth(1)
        .unwrap_or_default()
        .split("Deployment objects")
        .next()
        .unwrap_or_default();
    assert!(
        events.contains("deployment object") && !events.contains("<none>"),
        "the agent's events about the stack are shown: {stdout}"
    );
    // describe agent: each stack's newest version on it, and its health.
    let out = brokkr(&h, &h.admin, &["describe", "agent", &h.agent_name]).await;
    let (stdout, _) = expect_code(&out, 0, "describe agent");
    assert!(
        stdout.contains("version 1: applied  health: ") && stdout.contains("Health:"),
        "{stdout}"
    );

    // A change, applied and awaited in one command (the admin may also follow the rollout).
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "apply",
            "-f",
            green.to_str().unwrap(),
            "-R",
            "--stack",
            "cli-web",
            "--wait",
            "--timeout",
            "60s",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "apply --wait");
    assert!(stdout.contains("version 2"), "{stdout}");

    // YAML output parses and carries the stack.
    let out = brokkr(&h, &h.admin, &["get", "stacks", "-o", "yaml"]).await;
    let (stdout, _) = expect_code(&out, 0, "get stacks -o yaml");
    let stacks: serde_json::Value = serde_yaml_ng::from_str(&stdout).expect("YAML output parses");
    assert!(
        stacks
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["name"] == "cli-web")),
        "{stdout}"
    );
    let out = brokkr(&h, &h.admin, &["get", "stacks", "-l", "ci:e2e"]).await;
    let (stdout, _) = expect_code(&out, 0, "get stacks -l");
    assert!(
        stdout.starts_with("NAME") && stdout.contains("cli-web"),
        "{stdout}"
    );

    // A manifest of a kind the cluster does not serve: exit 1 with the agent's message.
    let broken = h.log_dir().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("widget.yaml"),
        format!("apiVersion: example.com/v1\nkind: NoSuchWidget\nmetadata:\n  name: w\n  namespace: {ns}\n"),
    )
    .unwrap();
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "apply",
            "-f",
            broken.to_str().unwrap(),
            "--stack",
            "cli-web",
            "--wait",
            "--timeout",
            "60s",
        ],
    )
    .await;
    let (stdout, stderr) = expect_code(&out, 1, "apply --wait of an unknown kind");
    assert!(
        stdout.contains("failed:") && stdout.contains("NoSuchWidget"),
        "the agent's message is shown\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The pipeline sees the same failure with its generator PAK.
    let out = brokkr(&h, &h.generator_pak, &["rollout", "status", "cli-web"]).await;
    let (stdout, _) = expect_code(&out, 1, "rollout status of a failed version");
    assert!(stdout.contains("NoSuchWidget"), "{stdout}");

    // Without the agent nothing answers: the wait times out with 2.
    h.stop_agent().await.expect("agent stops");
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "apply",
            "-f",
            blue,
            "-R",
            "--stack",
            "cli-web",
            "--wait",
            "--timeout",
            "2s",
        ],
    )
    .await;
    let (_, stderr) = expect_code(&out, 2, "apply --wait with no agent answering");
    assert!(stderr.contains("timed out"), "{stderr}");
}

#[tokio::test]
async fn mistakes_get_one_line_errors_and_non_zero_codes() {
    let h = Harness::start(Options {
        agent: false,
        worker: false,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    let one_line = |stderr: &str| {
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    };

    // A PAK the broker does not know.
    let out = brokkr(
        &h,
        "brokkr_BRnotakeyx_abcdefghijklmnopqrstuvwx",
        &["get", "stacks"],
    )
    .await;
    let (_, stderr) = expect_code(&out, 1, "wrong PAK");
    one_line(&stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(
        !stderr.contains("notakey"),
        "the PAK is not echoed: {stderr}"
    );

    // A stack that does not exist, with a suggestion when one is close.
    h.create_stack("web-app").await.expect("stack");
    let out = brokkr(&h, &h.admin, &["rollout", "status", "web"]).await;
    let (_, stderr) = expect_code(&out, 1, "unknown stack");
    one_line(&stderr);
    assert!(
        stderr.contains("stack 'web' not found; did you mean 'web-app'?"),
        "{stderr}"
    );

    // Invalid manifests are refused locally, naming the file and the document.
    let dir = h.log_dir().join("invalid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\n").unwrap();
    let out = brokkr(
        &h,
        &h.generator_pak,
        &["apply", "-f", dir.to_str().unwrap(), "--stack", "x"],
    )
    .await;
    let (_, stderr) = expect_code(&out, 1, "invalid manifest");
    one_line(&stderr);
    assert!(
        stderr.contains("cm.yaml") && stderr.contains("document 0"),
        "{stderr}"
    );

    // A broker nobody listens on.
    let nobody = format!("http://127.0.0.1:{}", free_port().unwrap());
    let out = brokkr_at(&nobody, &h.admin, h.log_dir(), &["get", "agents"]).await;
    let (_, stderr) = expect_code(&out, 3, "unreachable broker");
    one_line(&stderr);
    assert!(stderr.contains("cannot reach the broker"), "{stderr}");

    // A usage error.
    let out = brokkr(&h, &h.admin, &["get", "nothing"]).await;
    expect_code(&out, 64, "usage error");

    // A named get of nothing by that name: one line, exit 1, a suggestion when one is close.
    let out = brokkr(&h, &h.admin, &["get", "stacks", "web"]).await;
    let (stdout, stderr) = expect_code(&out, 1, "get stacks of an unknown name");
    one_line(&stderr);
    assert!(
        stderr.contains("stack 'web' not found; did you mean 'web-app'?") && stdout.is_empty(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let out = brokkr(&h, &h.admin, &["get", "agents", "nobody-here"]).await;
    let (_, stderr) = expect_code(&out, 1, "get agents of an unknown name");
    assert!(stderr.contains("agent 'nobody-here' not found"), "{stderr}");
    let missing = uuid::Uuid::new_v4().to_string();
    let out = brokkr(&h, &h.admin, &["get", "work-orders", &missing]).await;
    let (_, stderr) = expect_code(&out, 1, "get work-orders of an unknown id");
    assert!(
        stderr.contains(&format!("work order '{missing}' not found")),
        "{stderr}"
    );

    // Flags that do not apply to the kind are refused (exit 64), naming the kinds that take them.
    for (args, expected) in [
        (vec!["get", "audit", "x"], "takes no NAME"),
        (
            vec!["get", "stacks", "--status", "dead"],
            "--status applies to deliveries and work-orders only",
        ),
        (
            vec!["get", "agents", "--stack", "web-app"],
            "--stack applies to deployments only",
        ),
        (
            vec!["get", "stacks", "--limit", "3"],
            "--limit applies to audit and deliveries only",
        ),
        (
            vec!["get", "audit", "--webhook", "x"],
            "--webhook applies to deliveries only",
        ),
    ] {
        let out = brokkr(&h, &h.admin, &args).await;
        let (_, stderr) = expect_code(&out, 64, &args.join(" "));
        one_line(&stderr);
        assert!(stderr.contains(expected), "{}: {stderr}", args.join(" "));
    }
}

#[tokio::test]
async fn a_template_is_created_from_files_and_rendered_into_a_stack_by_names() {
    let h = Harness::start(Options {
        agent: false,
        worker: false,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    h.create_stack("web-app").await.expect("stack");
    // A template, created and rendered into the stack by name.
    let dir = h.log_dir().join("template");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("cfg.yaml.tera"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("cfg.schema.json"),
        r#"{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}"#,
    )
    .unwrap();
    let (file, schema) = (dir.join("cfg.yaml.tera"), dir.join("cfg.schema.json"));
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "template",
            "create",
            "cfg",
            "-f",
            file.to_str().unwrap(),
            "--schema",
            schema.to_str().unwrap(),
        ],
    )
    .await;
    expect_code(&out, 0, "template create");
    let out = brokkr(
        &h,
        &h.generator_pak,
        &[
            "template",
            "instantiate",
            "cfg",
            "--stack",
            "web-app",
            "--param",
            "name=settings",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "template instantiate");
    assert!(stdout.contains("stack 'web-app' version 1"), "{stdout}");

    // The next version of the template, labelled and selected by its label.
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "template",
            "update",
            "cfg",
            "-f",
            file.to_str().unwrap(),
            "--schema",
            schema.to_str().unwrap(),
            "--description",
            "v2",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "template update");
    assert!(stdout.contains("template 'cfg' version 2"), "{stdout}");
    let out = brokkr(&h, &h.admin, &["template", "rollout", "cfg"]).await;
    let (stdout, _) = expect_code(&out, 0, "template rollout");
    assert!(
        stdout.contains("of template 'cfg' version 2"),
        "the newest version is rolled out: {stdout}"
    );
    let out = brokkr(&h, &h.admin, &["label", "template", "cfg", "tier:config"]).await;
    expect_code(&out, 0, "label template");
    let out = brokkr(&h, &h.admin, &["annotate", "template", "cfg", "team=infra"]).await;
    expect_code(&out, 0, "annotate template");
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "get",
            "templates",
            "-l",
            "tier:config,team=infra",
            "-o",
            "json",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get templates -l");
    let templates: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(templates.as_array().map(Vec::len), Some(1), "{stdout}");
    assert_eq!(templates[0]["version"], 2, "{stdout}");
    let out = brokkr(&h, &h.admin, &["get", "templates", "cfg", "-o", "wide"]).await;
    let (stdout, _) = expect_code(&out, 0, "get templates -o wide");
    assert_eq!(
        header(&stdout),
        [
            "NAME",
            "VERSION",
            "OWNER",
            "CREATED",
            "LABELS",
            "CHECKSUM",
            "DESCRIPTION",
            "ID"
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("tier:config") && stdout.contains("v2"),
        "labels and description are shown: {stdout}"
    );
    let out = brokkr(&h, &h.admin, &["delete", "template", "cfg"]).await;
    expect_code(&out, 0, "delete template");
}

#[tokio::test]
async fn an_operator_creates_a_generator_an_agent_and_a_webhook_by_names() {
    // Webhook secrets are encrypted at rest: the broker needs a key (any 64 hex digits here).
    let key = "5a".repeat(32);
    let h = Harness::start(Options {
        agent: false,
        worker: false,
        server_env: vec![
            ("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY".into(), key),
            // The test deliveries go to receivers on loopback.
            (
                "BROKKR__WEBHOOKS__ALLOWED_NETWORKS".into(),
                "127.0.0.0/8".into(),
            ),
        ],
        ..Options::default()
    })
    .await
    .expect("harness starts");

    // The new PAK is alone on the last line, and it works.
    let out = brokkr(
        &h,
        &h.admin,
        &["generator", "create", "nightly", "--description", "builds"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "generator create");
    let generator_pak = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(generator_pak.starts_with("brokkr_BR"), "{stdout}");
    let out = brokkr(&h, &generator_pak, &["get", "stacks", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "the new generator PAK works");
    assert_eq!(stdout.trim(), "[]");

    let out = brokkr(
        &h,
        &h.admin,
        &[
            "agent",
            "register",
            "edge-01",
            "--cluster",
            "edge-1",
            "--generator",
            "nightly",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "agent register");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("brokkr_BR"),
        "{stdout}"
    );
    let out = brokkr(&h, &h.admin, &["agent", "deactivate", "edge-01"]).await;
    let (stdout, _) = expect_code(&out, 0, "agent deactivate");
    assert!(stdout.contains("INACTIVE"), "{stdout}");
    let out = brokkr(&h, &h.admin, &["agent", "activate", "edge-01/edge-1"]).await;
    let (stdout, _) = expect_code(&out, 0, "agent activate");
    assert!(stdout.contains("ACTIVE"), "{stdout}");
    let out = brokkr(&h, &h.admin, &["get", "agents", "edge-01", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get agents NAME");
    let agents: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(agents[0]["cluster_name"], "edge-1", "{stdout}");
    let out = brokkr(&h, &h.admin, &["describe", "agent", "edge-01"]).await;
    let (stdout, _) = expect_code(&out, 0, "describe agent");
    assert!(
        stdout.contains("nightly"),
        "registrations are shown: {stdout}"
    );

    // A webhook whose secret comes from the environment; the table never shows it.
    let out = tokio::process::Command::new(binary("brokkr").unwrap())
        .args([
            "webhook",
            "create",
            "alerts",
            "--destination",
            "https://hooks.example.com/brokkr",
            "--event",
            "deployment.*",
            "--secret-env",
            "HOOK_SECRET",
        ])
        .env("BROKKR_URL", &h.base)
        .env("BROKKR_PAK", &h.admin)
        .env("HOOK_SECRET", "a-secret-of-enough-length")
        .env("XDG_CONFIG_HOME", h.log_dir().join("cli-config"))
        .output()
        .await
        .unwrap();
    expect_code(&out, 0, "webhook create");
    let out = brokkr(&h, &h.admin, &["get", "webhooks", "-o", "wide"]).await;
    let (stdout, _) = expect_code(&out, 0, "get webhooks -o wide");
    assert_eq!(
        header(&stdout),
        [
            "NAME", "ENABLED", "EVENTS", "SIGNED", "AGENT", "LABELS", "ID"
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("alerts") && !stdout.contains("a-secret"),
        "{stdout}"
    );
    let out = brokkr(&h, &h.admin, &["webhook", "ping", "alerts"]).await;
    expect_code(&out, 0, "webhook ping");
    let out = brokkr(
        &h,
        &h.admin,
        &["get", "deliveries", "--webhook", "alerts", "-o", "json"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get deliveries");
    let deliveries: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(deliveries[0]["event_type"], "ping", "{stdout}");
    let delivery = deliveries[0]["id"].as_str().unwrap_or_default().to_owned();
    let out = brokkr(&h, &h.admin, &["get", "deliveries", "alerts", "-o", "wide"]).await;
    let (stdout, _) = expect_code(&out, 0, "get deliveries -o wide");
    assert_eq!(
        header(&stdout),
        [
            "EVENT",
            "STATUS",
            "ATTEMPTS",
            "CREATED",
            "LAST",
            "ERROR",
            "LAST",
            "ATTEMPT",
            "NEXT",
            "RETRY",
            "COMPLETED",
            "AGENT",
            "LABELS",
            "ID"
        ],
        "{stdout}"
    );
    // webhook deliveries: the same list, filtered and limited.
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "webhook",
            "deliveries",
            "alerts",
            "--status",
            "PENDING",
            "--limit",
            "1",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "webhook deliveries");
    assert!(
        stdout.starts_with("EVENT") && stdout.contains("ping") && stdout.contains(&delivery),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 2, "--limit 1: {stdout}");
    let out = brokkr(
        &h,
        &h.admin,
        &["webhook", "deliveries", "alerts", "--status", "dead"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "webhook deliveries --status dead");
    assert_eq!(stdout.lines().count(), 1, "only the header: {stdout}");
    // webhook redeliver: the delivery is queued again.
    let out = brokkr(&h, &h.admin, &["webhook", "redeliver", &delivery]).await;
    let (stdout, _) = expect_code(&out, 0, "webhook redeliver");
    assert!(
        stdout.contains(&format!("delivery {delivery} queued again")),
        "{stdout}"
    );
    let out = brokkr(
        &h,
        &h.admin,
        &["webhook", "redeliver", &uuid::Uuid::new_v4().to_string()],
    )
    .await;
    expect_code(&out, 1, "webhook redeliver of an unknown delivery");

    // webhook test: a receiver that accepts (exit 0), and one nobody listens on (exit 1, the
    // failure shown: the broker's 400 carries the result).
    let receiver = Receiver::start().await;
    let nobody = format!("http://127.0.0.1:{}/hook", free_port().unwrap());
    for (name, destination) in [("receiver", receiver.url()), ("nobody", nobody)] {
        let out = brokkr(
            &h,
            &h.admin,
            &[
                "webhook",
                "create",
                name,
                "--destination",
                &destination,
                "--event",
                "agent.*",
            ],
        )
        .await;
        expect_code(&out, 0, "webhook create of a loopback receiver");
    }
    let out = brokkr(&h, &h.admin, &["webhook", "test", "receiver"]).await;
    let (stdout, _) = expect_code(&out, 0, "webhook test of a receiver that accepts");
    assert!(
        stdout.contains("webhook 'receiver': test delivery accepted (HTTP 200)"),
        "{stdout}"
    );
    receiver
        .wait_for("the test delivery", |r| {
            r.body["event_type"] == "webhook.test"
        })
        .await;
    let out = brokkr(&h, &h.admin, &["webhook", "test", "nobody"]).await;
    let (stdout, _) = expect_code(&out, 1, "webhook test of a receiver nobody runs");
    assert!(
        stdout.contains("webhook 'nobody': test delivery failed (no answer): "),
        "{stdout}"
    );
    let out = brokkr(&h, &h.admin, &["webhook", "test", "nobody", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 1, "webhook test -o json of a failure");
    let result: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(result["success"], false, "{stdout}");
    assert!(result["status_code"].is_null(), "{stdout}");
    assert!(
        result["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{stdout}"
    );
    for name in ["receiver", "nobody"] {
        let out = brokkr(&h, &h.admin, &["delete", "webhook", name]).await;
        expect_code(&out, 0, "delete webhook");
    }

    let out = brokkr(&h, &h.admin, &["describe", "webhook", "alerts"]).await;
    let (stdout, _) = expect_code(&out, 0, "describe webhook");
    assert!(
        stdout.contains("alerts") && stdout.contains("ping") && !stdout.contains("a-secret"),
        "{stdout}"
    );

    // The webhook changed, then deleted, by name.
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "webhook",
            "update",
            "alerts",
            "--disable",
            "--event",
            "agent.*",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "webhook update");
    assert!(stdout.contains("disabled, events agent.*"), "{stdout}");
    let out = brokkr(&h, &h.admin, &["get", "webhooks", "alerts", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get webhooks NAME");
    let webhooks: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(webhooks[0]["enabled"], false, "{stdout}");
    assert_eq!(
        webhooks[0]["event_types"],
        serde_json::json!(["agent.*"]),
        "{stdout}"
    );
    let out = brokkr(&h, &h.admin, &["delete", "webhook", "alerts"]).await;
    expect_code(&out, 0, "delete webhook");
    let out = brokkr(&h, &h.admin, &["get", "webhooks", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get webhooks");
    assert_eq!(stdout.trim(), "[]");

    // Labels and annotations of agents and stacks, and -l selecting by either.
    for args in [
        vec!["label", "agent", "edge-01", "env:edge"],
        vec!["annotate", "agent", "edge-01", "region=eu"],
    ] {
        let out = brokkr(&h, &h.admin, &args).await;
        expect_code(&out, 0, &args.join(" "));
    }
    let selected = |stdout: &str| -> Vec<String> {
        let items: serde_json::Value = serde_json::from_str(stdout).expect("JSON");
        items
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["name"].as_str().map(str::to_owned))
            .collect()
    };
    for (selector, expected) in [
        ("env:edge", vec!["edge-01"]),
        ("region=eu", vec!["edge-01"]),
        ("env:edge,region=eu", vec!["edge-01"]),
        ("region=us", vec![]),
    ] {
        let out = brokkr(
            &h,
            &h.admin,
            &["get", "agents", "-l", selector, "-o", "json"],
        )
        .await;
        let (stdout, _) = expect_code(&out, 0, "get agents -l");
        assert_eq!(selected(&stdout), expected, "-l {selector}: {stdout}");
    }
    h.create_stack("edge-apps").await.expect("stack");
    for args in [
        vec!["label", "stack", "edge-apps", "env:edge", "tier:web"],
        vec!["label", "stack", "edge-apps", "tier:web", "--remove"],
        vec!["annotate", "stack", "edge-apps", "region=eu"],
        vec!["annotate", "stack", "edge-apps", "region=us"],
    ] {
        let out = brokkr(&h, &h.admin, &args).await;
        expect_code(&out, 0, &args.join(" "));
    }
    for (selector, expected) in [
        ("env:edge,region=us", vec!["edge-apps"]),
        ("region=eu", vec![]),
        ("tier:web", vec![]),
    ] {
        let out = brokkr(
            &h,
            &h.admin,
            &["get", "stacks", "-l", selector, "-o", "json"],
        )
        .await;
        let (stdout, _) = expect_code(&out, 0, "get stacks -l");
        assert_eq!(selected(&stdout), expected, "-l {selector}: {stdout}");
    }
    let out = brokkr(&h, &h.admin, &["get", "deliveries", "-l", "env:edge"]).await;
    expect_code(&out, 64, "-l on a kind without labels");

    // apply from stdin, for the admin on behalf of a generator, with an annotation.
    let manifest =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: piped\n  namespace: default\n";
    let out = brokkr_with_stdin(
        &h,
        &h.admin,
        manifest,
        &[
            "apply",
            "-f",
            "-",
            "--stack",
            "piped",
            "--generator",
            "nightly",
            "--description",
            "from a pipe",
            "--annotation",
            "commit=abc123",
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "apply -f - --generator --annotation");
    assert!(
        stdout.contains("stack 'piped' created")
            && stdout.contains("annotation commit=abc123 set")
            && stdout.contains("applied: stack 'piped' version 1")
            && stdout.contains("1 object(s) from 1 file(s)"),
        "{stdout}"
    );
    let out = brokkr(
        &h,
        &h.admin,
        &["get", "generators", "nightly", "-o", "json"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get generators NAME");
    let nightly: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let out = brokkr(&h, &h.admin, &["get", "stacks", "piped", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get stacks NAME");
    let piped: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        piped[0]["generator_id"], nightly[0]["id"],
        "--generator owns the stack: {stdout}"
    );
    assert_eq!(piped[0]["description"], "from a pipe", "{stdout}");
    let out = brokkr(&h, &h.admin, &["describe", "stack", "piped"]).await;
    let (stdout, _) = expect_code(&out, 0, "describe stack");
    assert!(stdout.contains("commit=abc123"), "{stdout}");
    // The same content again: unchanged. A different --description is reported, not applied.
    let out = brokkr_with_stdin(
        &h,
        &h.admin,
        manifest,
        &[
            "apply",
            "-f",
            "-",
            "--stack",
            "piped",
            "--generator",
            "nightly",
            "--description",
            "other",
        ],
    )
    .await;
    let (stdout, stderr) = expect_code(&out, 0, "apply with another --description");
    assert!(stdout.contains("unchanged"), "{stdout}");
    assert!(
        stderr.contains("warning: stack 'piped' exists with description 'from a pipe'"),
        "{stderr}"
    );
    // Another owner is refused before anything changes.
    let out = brokkr(&h, &h.admin, &["generator", "create", "other-team"]).await;
    expect_code(&out, 0, "generator create");
    let out = brokkr_with_stdin(
        &h,
        &h.admin,
        &manifest.replace("piped", "changed"),
        &[
            "apply",
            "-f",
            "-",
            "--stack",
            "piped",
            "--generator",
            "other-team",
        ],
    )
    .await;
    let (_, stderr) = expect_code(&out, 1, "apply with another --generator");
    assert!(
        stderr
            .contains("stack 'piped' exists and belongs to generator 'nightly', not 'other-team'"),
        "{stderr}"
    );
    let out = brokkr(&h, &h.admin, &["get", "deployments", "piped", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get deployments");
    let versions: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        versions.as_array().map(Vec::len),
        Some(1),
        "nothing applied: {stdout}"
    );

    // An existing agent registered with a generator, and the registration withdrawn.
    let out = brokkr(
        &h,
        &h.admin,
        &["generator", "register", "nightly", &h.agent_name],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "generator register");
    assert!(
        stdout.contains("registered with generator 'nightly'"),
        "{stdout}"
    );
    let out = brokkr(&h, &h.admin, &["describe", "agent", &h.agent_name]).await;
    let (stdout, _) = expect_code(&out, 0, "describe agent");
    assert!(stdout.contains("nightly"), "{stdout}");
    let out = brokkr(
        &h,
        &h.admin,
        &["generator", "deregister", "nightly", &h.agent_name],
    )
    .await;
    expect_code(&out, 0, "generator deregister");
    let out = brokkr(&h, &h.admin, &["describe", "agent", &h.agent_name]).await;
    let (stdout, _) = expect_code(&out, 0, "describe agent");
    assert!(!stdout.contains("nightly"), "{stdout}");

    // Deleting by name.
    let out = brokkr(&h, &h.admin, &["delete", "stack", "edge-apps"]).await;
    expect_code(&out, 0, "delete stack");
    let out = brokkr(&h, &h.admin, &["delete", "agent", "edge-01"]).await;
    expect_code(&out, 0, "delete agent");
    let out = brokkr(&h, &h.admin, &["get", "agents", "edge-01"]).await;
    let (stdout, stderr) = expect_code(&out, 1, "get agents NAME of a deleted agent");
    assert!(
        stdout.is_empty() && stderr.contains("agent 'edge-01' not found"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

/// How many explicit targets the harness's agent has.
async fn target_count(h: &Harness) -> usize {
    let path = format!("/api/v1/agents/{}/targets", h.agent_id);
    let (_, v) = h.api(reqwest::Method::GET, &path, None).await.unwrap();
    v.as_array().map(Vec::len).unwrap_or_default()
}

#[tokio::test]
async fn the_other_operations_work_by_names() {
    let h = Harness::start(Options {
        agent: false,
        worker: false,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    let last_line = |stdout: &str| stdout.lines().last().unwrap_or_default().to_owned();

    // A rotated agent PAK: the new one works, the old one stops at once.
    let out = brokkr(&h, &h.admin, &["agent", "rotate-pak", &h.agent_name]).await;
    let (stdout, _) = expect_code(&out, 0, "agent rotate-pak");
    let new_pak = last_line(&stdout);
    assert!(new_pak.starts_with("brokkr_BR"), "{stdout}");
    let agent_path = format!("/api/v1/agents/{}", h.agent_id);
    let (status, _) = h
        .call(&h.agent_pak, reqwest::Method::GET, &agent_path, None)
        .await
        .unwrap();
    assert_eq!(status, 401, "the old agent PAK");
    let (status, _) = h
        .call(&new_pak, reqwest::Method::GET, &agent_path, None)
        .await
        .unwrap();
    assert_eq!(status, 200, "the new agent PAK");

    // A rotated generator PAK.
    let out = brokkr(&h, &h.admin, &["generator", "create", "nightly"]).await;
    let (stdout, _) = expect_code(&out, 0, "generator create");
    let old = last_line(&stdout);
    let out = brokkr(&h, &h.admin, &["generator", "rotate-pak", "nightly"]).await;
    let (stdout, _) = expect_code(&out, 0, "generator rotate-pak");
    let new = last_line(&stdout);
    let out = brokkr(&h, &old, &["get", "stacks"]).await;
    let (_, stderr) = expect_code(&out, 1, "the old generator PAK");
    assert!(stderr.contains("401"), "{stderr}");
    let out = brokkr(&h, &new, &["get", "stacks"]).await;
    expect_code(&out, 0, "the new generator PAK");

    // Targets removed and added again, by names.
    h.create_stack("targeted").await.expect("stack");
    let out = brokkr(
        &h,
        &h.admin,
        &["target", "remove", &h.agent_name, "targeted"],
    )
    .await;
    expect_code(&out, 0, "target remove");
    assert_eq!(target_count(&h).await, 0);
    let out = brokkr(&h, &h.admin, &["target", "add", &h.agent_name, "targeted"]).await;
    expect_code(&out, 0, "target add");
    assert_eq!(target_count(&h).await, 1);

    // A work order: queued for the agent by name, listed, described, not finished, cancelled.
    let file = h.log_dir().join("order.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w, namespace: default}\n",
    )
    .unwrap();
    let out = brokkr(
        &h,
        &h.admin,
        &[
            "work-order",
            "create",
            "--type",
            "custom",
            "-f",
            file.to_str().unwrap(),
            "--agent",
            &h.agent_name,
        ],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "work-order create");
    let id = stdout
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_owned();
    let out = brokkr(&h, &h.admin, &["get", "work-orders", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get work-orders");
    assert!(stdout.contains(&id), "{stdout}");
    // By id: that one order.
    let out = brokkr(&h, &h.admin, &["get", "work-orders", &id, "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get work-orders ID");
    let one: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{stdout}");
    assert_eq!(one[0]["id"], id.as_str(), "{stdout}");
    let out = brokkr(
        &h,
        &h.admin,
        &["get", "work-orders", "--status", "claimed", "-o", "json"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get work-orders --status");
    assert_eq!(stdout.trim(), "[]", "no order is claimed: {stdout}");
    let out = brokkr(
        &h,
        &h.admin,
        &["get", "work-orders", "--status", "pending", "-o", "json"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get work-orders --status pending");
    assert!(
        stdout.contains(&id),
        "the pending order is listed: {stdout}"
    );
    let out = brokkr(&h, &h.admin, &["get", "work-orders", "-o", "wide"]).await;
    let (stdout, _) = expect_code(&out, 0, "get work-orders -o wide");
    assert_eq!(
        header(&stdout),
        [
            "TYPE", "STATUS", "RETRIES", "CREATED", "CLAIMED", "BY", "CLAIMED", "AT", "NEXT",
            "RETRY", "LAST", "ERROR", "ID"
        ],
        "{stdout}"
    );
    assert!(stdout.contains(&id), "{stdout}");
    let out = brokkr(&h, &h.admin, &["describe", "work-order", &id]).await;
    let (stdout, _) = expect_code(&out, 0, "describe work-order");
    assert!(stdout.contains("custom"), "{stdout}");
    let out = brokkr(&h, &h.admin, &["work-order", "logs", &id]).await;
    let (stdout, _) = expect_code(&out, 0, "work-order logs of a pending order");
    assert!(stdout.contains("not finished"), "{stdout}");
    let out = brokkr(&h, &h.admin, &["work-order", "cancel", &id]).await;
    expect_code(&out, 0, "work-order cancel");
    let out = brokkr(&h, &h.admin, &["get", "work-orders", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "get work-orders");
    assert!(!stdout.contains(&id), "{stdout}");

    // The audit log records what was done, as JSON.
    let out = brokkr(
        &h,
        &h.admin,
        &["get", "audit", "--limit", "5", "-o", "json"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get audit");
    let audit: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(
        audit
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.len() <= 5),
        "{stdout}"
    );

    let out = brokkr(
        &h,
        &h.admin,
        &["get", "audit", "--limit", "3", "-o", "wide"],
    )
    .await;
    let (stdout, _) = expect_code(&out, 0, "get audit -o wide");
    assert_eq!(
        header(&stdout),
        [
            "TIME", "ACTOR", "ACTION", "RESOURCE", "CLIENT", "USER", "AGENT", "DETAILS", "ID"
        ],
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 4, "--limit 3: {stdout}");
    assert!(
        stdout.contains("brokkr-cli/"),
        "the CLI's user agent: {stdout}"
    );

    // The broker's configuration, reloaded by the admin (and refused to anyone else).
    let out = brokkr(&h, &h.admin, &["admin", "reload-config"]).await;
    let (stdout, _) = expect_code(&out, 0, "admin reload-config");
    assert!(stdout.starts_with("configuration reloaded at "), "{stdout}");
    let out = brokkr(&h, &h.admin, &["admin", "reload-config", "-o", "json"]).await;
    let (stdout, _) = expect_code(&out, 0, "admin reload-config -o json");
    let reloaded: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(reloaded["success"], true, "{stdout}");
    assert!(reloaded["changes"].is_array(), "{stdout}");
    let out = brokkr(&h, &new, &["admin", "reload-config"]).await;
    let (_, stderr) = expect_code(&out, 1, "admin reload-config with a generator PAK");
    assert!(stderr.contains("403"), "{stderr}");

    // Shell completion.
    let out = brokkr(&h, &h.admin, &["completion", "bash"]).await;
    let (stdout, _) = expect_code(&out, 0, "completion bash");
    assert!(
        stdout.contains("rollout") && stdout.contains("annotate"),
        "{stdout:.200}"
    );
    let out = brokkr(&h, &h.admin, &["completion", "zsh"]).await;
    let (stdout, _) = expect_code(&out, 0, "completion zsh");
    assert!(
        stdout.starts_with("#compdef brokkr") && stdout.contains("reload-config"),
        "{stdout:.200}"
    );
    let out = brokkr(&h, &h.admin, &["completion", "fish"]).await;
    let (stdout, _) = expect_code(&out, 0, "completion fish");
    assert!(
        stdout.contains("complete -c brokkr") && stdout.contains("rollout"),
        "{stdout:.200}"
    );
}
