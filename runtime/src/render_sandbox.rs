//! Renders templates in a child process, so a hostile template cannot take the service down.
//!
//! Tera has no memory limit: a few lines (`{% set s = s ~ s %}` repeated, nested loops inside
//! a `{% filter %}` block) build strings of any size before the output bound sees them, and a
//! render cannot be interrupted once it runs. So the Tera part of a render runs in a child
//! process — the running binary itself (`brokkr-broker` or `brokkr-worker`) started with the
//! hidden argument [`RENDER_ARGUMENT`] — under an address-space limit
//! ([`MEMORY_LIMIT_BYTES`]) and a CPU-time limit, and it is killed when the time limit
//! ([`RENDER_TIMEOUT`]) passes. A template that hits a limit gets a clear error; the service
//! goes on. The child reads `{content, parameters}` (parameters already checked against the
//! schema by the caller) as JSON on stdin and writes `{"yaml": ...}` or `{"error": ...}` on
//! stdout.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use brokkr_schema::manifest;
use brokkr_schema::templating::{self, RenderError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// First argument that turns `brokkr-broker` / `brokkr-worker` into a template renderer.
pub const RENDER_ARGUMENT: &str = "__render-template";
/// Longest a render may take (wall clock) before the renderer is killed.
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Address space a renderer may use.
pub const MEMORY_LIMIT_BYTES: u64 = 1024 * 1024 * 1024;
/// Largest answer read from a renderer (the output itself is bounded to 4 MiB).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

static RENDERER: OnceLock<PathBuf> = OnceLock::new();

/// Sets the executable that renders (default: the running binary). The first call wins.
pub fn set_renderer(path: PathBuf) {
    let _ = RENDERER.set(path);
}

fn renderer() -> Result<PathBuf, RenderError> {
    if let Some(path) = RENDERER.get() {
        return Ok(path.clone());
    }
    std::env::current_exe()
        .map_err(|e| RenderError::Render(format!("cannot find the template renderer: {e}")))
}

#[derive(Serialize, Deserialize)]
struct Job {
    content: String,
    parameters: Value,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Yaml(String),
    Error(String),
}

/// Compiles a stored template version and renders it with `parameters` (defaults applied,
/// schema checked, output checked to be Kubernetes objects). The parameters are checked here
/// (off the async runtime); Tera runs in a child process with memory and time limits
/// (see [`render_checked`]).
pub async fn render(
    content: String,
    parameters_schema: String,
    parameters: Value,
) -> Result<String, RenderError> {
    let checked = tokio::task::spawn_blocking(move || {
        templating::check_parameters_with(&parameters_schema, &parameters)
    })
    .await
    .map_err(|e| RenderError::Render(format!("checking the parameters stopped: {e}")))??;
    let yaml = render_checked(&content, &checked).await?;
    manifest::parse_objects(&yaml).map_err(RenderError::Manifest)?;
    Ok(yaml)
}

/// Renders `content` with already checked `parameters` in a child process.
pub async fn render_checked(content: &str, parameters: &Value) -> Result<String, RenderError> {
    let input = serde_json::to_vec(&Job {
        content: content.to_owned(),
        parameters: parameters.clone(),
    })
    .map_err(|e| RenderError::Render(format!("cannot encode the render job: {e}")))?;
    let mut command = tokio::process::Command::new(renderer()?);
    command
        .arg(RENDER_ARGUMENT)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    limit_child(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| RenderError::Render(format!("cannot start the template renderer: {e}")))?;
    let work = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A renderer that dies early closes its stdin; its exit status tells why.
            let _ = stdin.write_all(&input).await;
        }
        child.wait_with_output().await
    };
    let output = match tokio::time::timeout(RENDER_TIMEOUT, work).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(RenderError::Render(format!(
                "the template renderer failed: {e}"
            )));
        }
        // Dropping the child kills it (`kill_on_drop`).
        Err(_) => {
            return Err(RenderError::Render(format!(
                "rendering took longer than {} s",
                RENDER_TIMEOUT.as_secs()
            )));
        }
    };
    if !output.status.success() {
        return Err(RenderError::Render(format!(
            "rendering exceeded the renderer's limits ({} MiB of memory, {} s) and was stopped",
            MEMORY_LIMIT_BYTES / (1024 * 1024),
            RENDER_TIMEOUT.as_secs()
        )));
    }
    match serde_json::from_slice::<Answer>(&output.stdout) {
        Ok(Answer::Yaml(yaml)) => Ok(yaml),
        Ok(Answer::Error(e)) => Err(RenderError::Render(e)),
        Err(e) => Err(RenderError::Render(format!(
            "the template renderer answered nonsense: {e}"
        ))),
    }
}

#[cfg(unix)]
fn limit_child(command: &mut tokio::process::Command) {
    let cpu_seconds = RENDER_TIMEOUT.as_secs() + 1;
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let memory = libc::rlimit {
                rlim_cur: MEMORY_LIMIT_BYTES as libc::rlim_t,
                rlim_max: MEMORY_LIMIT_BYTES as libc::rlim_t,
            };
            let cpu = libc::rlimit {
                rlim_cur: cpu_seconds as libc::rlim_t,
                rlim_max: cpu_seconds as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &memory) != 0
                || libc::setrlimit(libc::RLIMIT_CPU, &cpu) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn limit_child(_command: &mut tokio::process::Command) {}

/// Start-up of `brokkr-broker` and `brokkr-worker`: when the process was started as a renderer
/// (first argument [`RENDER_ARGUMENT`]), renders and returns the exit code; otherwise `None`.
pub fn serve_if_renderer() -> Option<std::process::ExitCode> {
    (std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(RENDER_ARGUMENT)))
        .then(serve)
}

/// The renderer side: called by the binaries' `main` when their first argument is
/// [`RENDER_ARGUMENT`]. Reads one job from stdin, answers on stdout, exits.
pub fn serve() -> std::process::ExitCode {
    let mut input = Vec::new();
    let answer = match std::io::stdin()
        .take(MAX_ANSWER_BYTES as u64)
        .read_to_end(&mut input)
    {
        Err(e) => Answer::Error(format!("cannot read the render job: {e}")),
        Ok(_) => match serde_json::from_slice::<Job>(&input) {
            Err(e) => Answer::Error(format!("malformed render job: {e}")),
            Ok(job) => match templating::render_source(&job.content, &job.parameters) {
                Ok(yaml) => Answer::Yaml(yaml),
                Err(RenderError::Render(message)) => Answer::Error(message),
                Err(other) => Answer::Error(other.to_string()),
            },
        },
    };
    let Ok(bytes) = serde_json::to_vec(&answer) else {
        return std::process::ExitCode::FAILURE;
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
