//! `brokkr config`: the built binary run with its config directory in a temporary folder
//! (`HOME`, or `XDG_CONFIG_HOME`). Contexts are saved, listed and switched; a PAK given with
//! `--pak`, `--pak-stdin` or `--pak-from-env` is stored in a file of mode 600 and used for
//! requests; no command ever prints it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SECRETS: [&str; 3] = [
    "brokkr_BRflagpak0_abcdefghijklmnopqrstuvwx",
    "brokkr_BRstdinpak_abcdefghijklmnopqrstuvwx",
    "brokkr_BRenvpak00_abcdefghijklmnopqrstuvwx",
];

/// A fresh, empty folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brokkr-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary folder");
    dir
}

/// Runs `brokkr` with `HOME=home` and nothing from the caller's environment that could name a
/// broker or a PAK.
fn brokkr(home: &Path, env: &[(&str, &str)], stdin: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brokkr"));
    command
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("BROKKR_URL")
        .env_remove("BROKKR_PAK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("brokkr runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("stdin written");
    }
    drop(input);
    child.wait_with_output().expect("brokkr ends")
}

/// Asserts the exit code and that no PAK appears in anything printed; returns stdout and
/// stderr.
fn expect(output: &Output, code: i32, what: &str) -> (String, String) {
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: expected exit code {code}\nstdout:\n{out}\nstderr:\n{err}"
    );
    for secret in SECRETS {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{what} printed a PAK\nstdout:\n{out}\nstderr:\n{err}"
        );
    }
    (out, err)
}

/// The rows of `get-contexts` as (current, name, url, pak).
fn contexts(stdout: &str) -> Vec<Vec<String>> {
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["CURRENT", "NAME", "URL", "PAK"], "{stdout}");
    lines
        .map(|l| {
            let mut cells: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            if !l.starts_with('*') {
                cells.insert(0, String::new());
            }
            cells
        })
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("config file")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn contexts_store_the_pak_given_in_a_private_file_and_never_print_it() {
    let home = temp_dir("contexts");
    let file = home.join(".config/brokkr/config.toml");

    // A PAK typed with --pak is stored (it used to be dropped while "saved" was printed).
    let out = brokkr(
        &home,
        &[],
        None,
        &[
            "config",
            "set-context",
            "prod",
            "--url",
            "http://prod.example:3000",
            "--pak",
            SECRETS[0],
        ],
    );
    let (stdout, _) = expect(&out, 0, "set-context --pak");
    assert!(
        stdout.contains("context 'prod' saved") && stdout.contains("PAK set"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&file).expect("the config file is written");
    assert!(text.contains(SECRETS[0]), "the PAK is stored:\n{text}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "the config file is private");

    // From stdin.
    let out = brokkr(
        &home,
        &[],
        Some(&format!("{}\n", SECRETS[1])),
        &[
            "config",
            "set-context",
            "ci",
            "--url",
            "http://ci.example:3000",
            "--pak-stdin",
        ],
    );
    expect(&out, 0, "set-context --pak-stdin");

    // BROKKR_PAK alone is not stored (it may be exported for another broker); with
    // --pak-from-env it is.
    let env = [("BROKKR_PAK", SECRETS[2])];
    let out = brokkr(
        &home,
        &env,
        None,
        &[
            "config",
            "set-context",
            "lab",
            "--url",
            "http://lab.example",
        ],
    );
    let (stdout, _) = expect(&out, 0, "set-context with BROKKR_PAK only");
    assert!(stdout.contains("PAK not set"), "{stdout}");
    assert!(!std::fs::read_to_string(&file).unwrap().contains(SECRETS[2]));
    let out = brokkr(
        &home,
        &env,
        None,
        &["config", "set-context", "lab", "--pak-from-env"],
    );
    let (stdout, _) = expect(&out, 0, "set-context --pak-from-env");
    assert!(stdout.contains("PAK set"), "{stdout}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(SECRETS.iter().all(|s| text.contains(s)), "{text}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "still private after rewrites");

    // Two ways at once is a usage error, and nothing changes.
    let out = brokkr(
        &home,
        &[],
        Some("other\n"),
        &[
            "config",
            "set-context",
            "x",
            "--pak-stdin",
            "--pak",
            "other",
        ],
    );
    expect(&out, 64, "--pak-stdin with --pak");
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains("[contexts.x]")
    );

    // get-contexts: the first context saved is the current one; PAKs show as "set".
    let out = brokkr(&home, &[], None, &["config", "get-contexts"]);
    let (stdout, _) = expect(&out, 0, "get-contexts");
    assert_eq!(
        contexts(&stdout),
        [
            vec!["", "ci", "http://ci.example:3000", "set"],
            vec!["", "lab", "http://lab.example", "set"],
            vec!["*", "prod", "http://prod.example:3000", "set"],
        ],
        "{stdout}"
    );

    // use-context switches; an unknown name is refused with a suggestion.
    let out = brokkr(&home, &[], None, &["config", "use-context", "ci"]);
    let (stdout, _) = expect(&out, 0, "use-context");
    assert!(stdout.contains("current context: ci"), "{stdout}");
    let out = brokkr(&home, &[], None, &["config", "get-contexts"]);
    let (stdout, _) = expect(&out, 0, "get-contexts after use-context");
    let current: Vec<String> = contexts(&stdout)
        .into_iter()
        .filter(|r| r[0] == "*")
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(current, ["ci"], "{stdout}");
    let out = brokkr(&home, &[], None, &["config", "use-context", "prd"]);
    let (_, stderr) = expect(&out, 1, "use-context of an unknown name");
    assert!(
        stderr.contains("context 'prd' not found; did you mean 'prod'?"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&home).ok();
}

/// A one-request HTTP server: records the request's `Authorization` header and answers 401
/// the way the broker does.
fn one_request_server() -> (String, std::thread::JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().ok()?;
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                authorization = Some(value.trim().to_owned());
            }
        }
        let body = r#"{"error":"Invalid PAK"}"#;
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        authorization
    });
    (url, handle)
}

#[test]
fn the_current_context_under_xdg_config_home_is_used_for_requests() {
    let config = temp_dir("xdg");
    let home = temp_dir("xdg-home");
    let (url, server) = one_request_server();
    let env = [("XDG_CONFIG_HOME", config.to_str().unwrap())];
    let out = brokkr(
        &home,
        &env,
        None,
        &[
            "config",
            "set-context",
            "local",
            "--url",
            &url,
            "--pak",
            SECRETS[0],
        ],
    );
    expect(&out, 0, "set-context under XDG_CONFIG_HOME");
    let file = config.join("brokkr/config.toml");
    assert!(file.is_file(), "the file is under XDG_CONFIG_HOME");
    assert!(!home.join(".config").exists(), "not under HOME");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);

    // The stored URL and PAK are used; the broker's refusal is one line without the PAK.
    let out = brokkr(&home, &env, None, &["get", "stacks"]);
    let (_, stderr) = expect(&out, 1, "a request with the context's PAK");
    assert!(
        stderr.contains("Invalid PAK") && stderr.contains("401"),
        "{stderr}"
    );
    assert_eq!(
        server.join().expect("server thread").as_deref(),
        Some(format!("Bearer {}", SECRETS[0]).as_str()),
        "the context's PAK is sent as a Bearer token"
    );
    std::fs::remove_dir_all(&config).ok();
    std::fs::remove_dir_all(&home).ok();
}
