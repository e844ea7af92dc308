//! Secrets never printed: a matrix of failing operations (every verb, plain, `--json`, `-v` and both) with
//! distinctive passwords and API keys placed in URLs, environment variables (`password_env`, `key_env`,
//! `${VAR}`, `PGPASSWORD`, `DATABASE_URL`) and files (db.toml, .pgpass), against an unreachable port, a
//! server that asks for the password and then echoes it back in its error (the worst case: only the CLI's
//! own redaction stands between the secret and the terminal), a database and a role that do not exist, and
//! malformed configuration. No secret may appear on stdout or stderr, whole or percent-encoded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use dba_testkit::{TestDb, test_path};

use crate::support::{SCHEMA_SECTIONS, Workdir, db, run};

/// Every verb that can fail, with the arguments it needs to get as far as connecting.
const VERBS: &[&[&str]] = &[
    &["connect"],
    &["status"],
    &["profiles"],
    &["validate"],
    &["fix", "--confirm", "--no-backup"],
    &["sync", "--from", "other", "--user-id", "u1", "--confirm"],
    &["backup", "--user-id", "u1", "-o", "b.json"],
    &["restore", "good.json", "--user-id", "u1", "-y"],
];

const MODES: &[&[&str]] = &[&[], &["--json"], &["-v"], &["--json", "-vv"]];

/// A backup for restore to read before it connects.
const GOOD_BACKUP: &str = r#"{"metadata": {"user_id": "u1", "version": "1.1", "categories_count": 0, "products_count": 0},
"categories": [], "products": []}"#;

/// One placement of a secret: the db.toml text, the environment, and extra files.
struct Setup {
    name: &'static str,
    secret: String,
    toml: Option<String>,
    env: Vec<(&'static str, String)>,
    files: Vec<(&'static str, String)>,
}

/// A PostgreSQL look-alike on a local port that asks for a cleartext password and answers with an error
/// that quotes it, as a hostile or careless server might.
fn echoing_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve(stream);
            });
        }
    });
    port
}

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    loop {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len)?;
        let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
        stream.read_exact(&mut body)?;
        // SSLRequest and GSSENCRequest: refuse, the client goes on in plaintext.
        if body.len() == 4 && (body == [4, 210, 22, 47] || body == [4, 210, 22, 48]) {
            stream.write_all(b"N")?;
            continue;
        }
        break;
    }
    // AuthenticationCleartextPassword.
    stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?;
    let mut head = [0u8; 5];
    stream.read_exact(&mut head)?;
    let mut password = vec![
        0u8;
        (u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize)
            .saturating_sub(4)
    ];
    stream.read_exact(&mut password)?;
    let password = String::from_utf8_lossy(&password)
        .trim_end_matches('\0')
        .to_owned();
    let mut fields = Vec::new();
    for (code, value) in [
        (b'S', "FATAL".to_owned()),
        (b'V', "FATAL".to_owned()),
        (b'C', "28P01".to_owned()),
        (
            b'M',
            format!("password authentication failed: got \"{password}\""),
        ),
    ] {
        fields.push(code);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&u32::try_from(fields.len() + 4).unwrap().to_be_bytes());
    message.extend_from_slice(&fields);
    stream.write_all(&message)?;
    stream.flush()
}

/// The percent-encoded form of a secret, as it might appear in a URL.
fn encoded(secret: &str) -> String {
    secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn profile(name: &str, body: &str) -> String {
    format!("[profiles.{name}]\n{body}\n\n")
}

fn setups(live: &TestDb, echo: u16) -> Vec<Setup> {
    // user[:password]@host:port of the real test server, and its host:port.
    let server = live
        .url()
        .split_once("://")
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let hostport = server
        .rsplit_once('@')
        .map_or(server.as_str(), |(_, h)| h)
        .to_owned();
    let other = profile("other", "url = \"postgresql://app@127.0.0.1:1/other\"");
    let mut list = Vec::new();
    let mut add = |name: &'static str,
                   secret: &str,
                   toml: Option<String>,
                   env: Vec<(&'static str, String)>| {
        list.push(Setup {
            name,
            secret: secret.to_owned(),
            toml: toml.map(|t| format!("{t}{other}{SCHEMA_SECTIONS}")),
            env,
            files: Vec::new(),
        });
    };
    let s = "Url-Pw-7f3a9c1e";
    add(
        "url, unreachable",
        s,
        Some(profile(
            "dev",
            &format!("url = \"postgresql://app:{s}@127.0.0.1:1/app\""),
        )),
        vec![],
    );
    let s = "Url-Pw-c0ffee42/+&x";
    add(
        "encoded url, echoing server",
        s,
        Some(profile(
            "dev",
            &format!(
                "url = \"postgresql://app:{}@127.0.0.1:{echo}/app\"",
                encoded(s)
            ),
        )),
        vec![],
    );
    let s = "Env-Pw-9b8a7c6d";
    add(
        "password_env, echoing server",
        s,
        Some(profile(
            "dev",
            &format!(
                "url = \"postgresql://app:[YOUR-PASSWORD]@127.0.0.1:{echo}/app\"\npassword_env = \"DBA_SECRET_PW\""
            ),
        )),
        vec![("DBA_SECRET_PW", s.to_owned())],
    );
    let s = "Var-Pw-5e4d3c2b";
    add(
        "${VAR}, missing database",
        s,
        Some(profile(
            "dev",
            &format!(
                "url = \"postgresql://postgres:${{DBA_SECRET_VAR}}@{hostport}/no_such_db_secrets\""
            ),
        )),
        vec![("DBA_SECRET_VAR", s.to_owned())],
    );
    let s = "Pgpw-Env-1a2b3c4d";
    add(
        "PGPASSWORD, echoing server",
        s,
        Some(profile(
            "dev",
            &format!("url = \"postgresql://app@127.0.0.1:{echo}/app\""),
        )),
        vec![("PGPASSWORD", s.to_owned())],
    );
    let s = "Db-Password-Key-6f6f";
    add(
        "db_password, missing role",
        s,
        Some(profile(
            "dev",
            &format!(
                "url = \"postgresql://no_such_role_secrets:[YOUR-PASSWORD]@{hostport}/postgres\"\ndb_password = \"{s}\""
            ),
        )),
        vec![],
    );
    let s = "Dburl-Pw-3d3d3d3d";
    add(
        "DATABASE_URL, echoing server",
        s,
        None,
        vec![(
            "DATABASE_URL",
            format!("postgresql://app:{s}@127.0.0.1:{echo}/app"),
        )],
    );
    let s = "Bad-Port-Pw-8e8e8e";
    add(
        "malformed url",
        s,
        Some(profile(
            "dev",
            &format!("url = \"postgresql://app:{s}@127.0.0.1:notaport/app?sslmode=bogus\""),
        )),
        vec![],
    );
    let s = "Toml-Broken-Pw-4c4c";
    add(
        "malformed toml",
        s,
        Some(format!(
            "[profiles.dev]\nurl = \"postgresql://app:{s}@127.0.0.1:1/app\ndescription = 1\n"
        )),
        vec![],
    );
    let s = "Supa-Key-eyJhbGciOiJIUzI1NiJ9.c2VjcmV0";
    add(
        "supabase key_env, unreachable https",
        s,
        Some(profile(
            "dev",
            "provider = \"supabase\"\nurl = \"https://127.0.0.1:1\"\nkey_env = \"DBA_SECRET_KEY\"",
        )),
        vec![("DBA_SECRET_KEY", s.to_owned())],
    );
    let s = "Supa-Inline-Key-77aa77aa";
    add(
        "supabase key in db.toml, unreachable https",
        s,
        Some(profile(
            "dev",
            &format!("provider = \"supabase\"\nurl = \"https://127.0.0.1:1\"\nkey = \"{s}\""),
        )),
        vec![],
    );
    let s = "Pgpass-Pw-2f2f2f2f";
    list.push(Setup {
        name: ".pgpass, echoing server",
        secret: s.to_owned(),
        toml: Some(format!(
            "{}{other}{SCHEMA_SECTIONS}",
            profile(
                "dev",
                &format!("url = \"postgresql://app@127.0.0.1:{echo}/app\"")
            )
        )),
        env: vec![("PGPASSFILE", "pgpass".to_owned())],
        files: vec![("pgpass", format!("127.0.0.1:{echo}:*:app:{s}\n"))],
    });
    list
}

#[tokio::test]
async fn no_secret_appears_in_any_output() {
    let live = db(test_path!("secrets_live"), "empty").await;
    let echo = echoing_server();
    let mut leaks = Vec::new();
    let mut runs = 0;
    for (i, setup) in setups(&live, echo).into_iter().enumerate() {
        let dir = Workdir::with_profiles(&format!("secrets-{i}"), &[], "");
        match &setup.toml {
            Some(toml) => dir.write("db.toml", toml),
            None => std::fs::remove_file(dir.path.join("db.toml")).unwrap(),
        }
        dir.write("good.json", GOOD_BACKUP);
        for (file, text) in &setup.files {
            dir.write(file, text);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(
                    dir.path.join(file),
                    std::fs::Permissions::from_mode(0o600),
                )
                .unwrap();
            }
        }
        for verb in VERBS {
            for mode in MODES {
                let mut cmd = dir.dba();
                cmd.args(*verb).args(*mode).env("RUST_BACKTRACE", "1");
                if setup.toml.is_some() {
                    cmd.args(["--profile", "dev"]);
                }
                for (var, value) in &setup.env {
                    let value = if *var == "PGPASSFILE" {
                        dir.path.join(value).display().to_string()
                    } else {
                        value.clone()
                    };
                    cmd.env(var, value);
                }
                cmd.timeout(std::time::Duration::from_secs(60));
                let out = run(&mut cmd);
                runs += 1;
                let line = format!("{} | dba {} {}", setup.name, verb.join(" "), mode.join(" "));
                if out.code == 0 && !matches!(verb[0], "status" | "profiles") {
                    leaks.push(format!(
                        "{line}: succeeded, expected a failure\n{}",
                        out.stderr
                    ));
                }
                for secret in [setup.secret.clone(), encoded(&setup.secret)] {
                    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                        if text.contains(&secret) {
                            leaks.push(format!("{line}: {stream} shows {secret:?}:\n{text}"));
                        }
                    }
                }
                if setup.name.contains("echoing")
                    && verb[0] == "connect"
                    && mode.is_empty()
                    && !out.stderr.contains("password authentication failed: got")
                {
                    leaks.push(format!(
                        "{line}: the echoing server was not reached\n{}",
                        out.stderr
                    ));
                }
                if out.stderr.contains("panicked") || out.code == 101 {
                    leaks.push(format!("{line}: panicked\n{}", out.stderr));
                }
            }
        }
        dir.remove();
    }
    assert!(runs >= 300, "only {runs} runs");
    assert!(
        leaks.is_empty(),
        "{} problems in {runs} runs:\n\n{}",
        leaks.len(),
        leaks.join("\n\n")
    );
    live.drop_db().await;
}
