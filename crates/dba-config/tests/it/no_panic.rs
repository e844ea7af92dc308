//! Arbitrary input never panics: every failure is an error value.

use std::path::Path;

use dba_config::{Config, MapEnv, Resolver, redact_url};

/// Deterministic pseudo-random strings over characters that matter to the parsers.
fn inputs() -> impl Iterator<Item = String> {
    const ALPHABET: &[&str] = &[
        "postgres://",
        "https://",
        "=",
        "'",
        "\\",
        "@",
        ":",
        "/",
        "?",
        "&",
        "%",
        "%4",
        "%zz",
        "[",
        "]",
        ",",
        " ",
        "\n",
        "\"",
        "${",
        "}",
        "$",
        "é",
        "[YOUR-PASSWORD]",
        "password",
        "[profiles.a]",
        "url",
        "6543",
        "a",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..3000).map(move |_| {
        let mut s = String::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for i in 0..(state % 12) {
            let pick = (state.rotate_left(i as u32 * 5) % ALPHABET.len() as u64) as usize;
            s.push_str(ALPHABET[pick]);
        }
        s
    })
}

#[test]
fn parsers_and_redaction_never_panic() {
    let env = MapEnv::new().with("USER", "me");
    for input in inputs() {
        let _ = redact_url(&input);
        let _ = Resolver::new()
            .with_env(env.clone())
            .lock_dir("/nonexistent-dba-lock-dir")
            .url(Some(&input))
            .resolve(None);
        let _ = Config::from_str_with_env(&input, Path::new("db.toml"), &env);
        let toml = format!("[profiles.a]\nurl = {:?}\ndb_password = \"pw\"\n", input);
        if let Ok(config) = Config::from_str_with_env(&toml, Path::new("db.toml"), &env) {
            let _ = Resolver::new()
                .with_env(env.clone())
                .profile(Some("a"))
                .resolve(Some(&config));
        }
    }
}
