//! API keys: who a caller is. The key file (TOML) and `KEFU_API_KEYS` hold each key's
//! name, role, agents and the SHA-256 of its secret — never the secret — so the file may
//! be read by anyone who may read the config. A presented secret is hashed and compared
//! with every stored hash in constant time.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What a key may do; see [`super::policy`] for the RPCs of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A chat service: the Answers service only.
    Answers,
    /// An agent desktop: Routing calls for the agents the key names.
    Desk,
    /// Operators: everything.
    Admin,
}

impl Role {
    /// The name used in the key file and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Answers => "answers",
            Role::Desk => "desk",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "answers" => Some(Role::Answers),
            "desk" => Some(Role::Desk),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// One key as the server holds it: identity and the hash of its secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub name: String,
    pub role: Role,
    /// The agents a desk key acts for (empty for other roles).
    pub agents: Arc<BTreeSet<String>>,
    hash: [u8; 32],
}

/// Every key the server accepts.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<ApiKey>,
}

/// A key file or entry that cannot be used; the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read API key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("API key file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: key {name:?}: {message}")]
    Invalid {
        origin: String,
        name: String,
        message: String,
    },
    #[error(
        "KEFU_API_KEYS / --api-key entry {index}: expected NAME:ROLE:SHA256[:AGENT,AGENT…], got {fields} field(s)"
    )]
    Inline { index: usize, fields: usize },
}

/// `[[key]]` tables of the key file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    key: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: String,
    #[serde(default)]
    agents: Vec<String>,
    sha256: String,
}

/// Lowercase hex SHA-256 of a secret: what the key file stores.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl KeyRing {
    /// The keys of `file` plus inline entries (`--api-key`, `KEFU_API_KEYS`); `None` when
    /// there are none at all, which turns key checks off.
    pub fn load(file: Option<&Path>, inline: &[String]) -> Result<Option<Self>, KeyError> {
        let mut ring = KeyRing::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read {
                path: path.to_path_buf(),
                source: e,
            })?;
            // The line and the parser's message, not its excerpt of the file: a secret
            // pasted by mistake must not reach a log.
            let parsed: KeyFile = toml::from_str(&text).map_err(|e| KeyError::Parse {
                path: path.to_path_buf(),
                message: match e.span() {
                    Some(s) => format!(
                        "line {}: {}",
                        1 + text[..s.start].matches('\n').count(),
                        e.message()
                    ),
                    None => e.message().to_string(),
                },
            })?;
            for e in parsed.key {
                ring.add(&path.display().to_string(), e)?;
            }
        }
        for (i, line) in inline.iter().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            if !(3..=4).contains(&fields.len()) {
                return Err(KeyError::Inline {
                    index: i + 1,
                    fields: fields.len(),
                });
            }
            let agents = fields
                .get(3)
                .map(|a| {
                    a.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let entry = Entry {
                name: fields[0].trim().into(),
                role: fields[1].trim().into(),
                agents,
                sha256: fields[2].into(),
            };
            ring.add("KEFU_API_KEYS", entry)?;
        }
        Ok((!ring.keys.is_empty()).then_some(ring))
    }

    fn add(&mut self, source: &str, e: Entry) -> Result<(), KeyError> {
        let invalid = |message: String| KeyError::Invalid {
            origin: source.to_string(),
            name: e.name.clone(),
            message,
        };
        if e.name.trim().is_empty() {
            return Err(invalid("name is empty".into()));
        }
        if self.keys.iter().any(|k| k.name == e.name) {
            return Err(invalid(
                "the name is used twice; names identify keys in logs".into(),
            ));
        }
        let role = Role::parse(&e.role)
            .ok_or_else(|| invalid(format!("role {:?} is not answers, desk or admin", e.role)))?;
        let hash = unhex(&e.sha256).ok_or_else(|| {
            invalid(
                "sha256 must be 64 hex digits: the SHA-256 of the secret (`kefu key new` prints it)".into(),
            )
        })?;
        if self.keys.iter().any(|k| bool::from(k.hash.ct_eq(&hash))) {
            return Err(invalid(
                "its secret is another key's too; every key needs its own".into(),
            ));
        }
        match (role, e.agents.is_empty()) {
            (Role::Desk, true) => return Err(invalid("a desk key must name its agents".into())),
            (Role::Answers | Role::Admin, false) => {
                return Err(invalid(format!(
                    "agents apply only to desk keys, not {}",
                    role.name()
                )));
            }
            _ => {}
        }
        self.keys.push(ApiKey {
            name: e.name,
            role,
            agents: Arc::new(e.agents.into_iter().collect()),
            hash,
        });
        Ok(())
    }

    /// The key whose secret this is. Every stored hash is compared, each in constant time,
    /// so neither which key matched nor how much of a hash matched shows in the time taken.
    pub fn find(&self, secret: &str) -> Option<&ApiKey> {
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.hash.ct_eq(&presented)) {
                found = Some(k);
            }
        }
        found
    }

    /// How many keys there are (for the start-up log line).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys (a loaded ring never is empty).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_inline_keys_are_found_by_secret_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(
            &path,
            format!(
                "[[key]]\nname = \"web\"\nrole = \"answers\"\nsha256 = \"{}\"\n\n[[key]]\nname = \"floor\"\nrole = \"desk\"\nagents = [\"ana\", \"bo\"]\nsha256 = \"{}\"\n",
                hash_secret("s-web"),
                hash_secret("s-floor")
            ),
        )
        .unwrap();
        let inline = vec![format!("ops:admin:{}", hash_secret("s-ops"))];
        let ring = KeyRing::load(Some(&path), &inline).unwrap().unwrap();
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.find("s-web").unwrap().role, Role::Answers);
        let floor = ring.find("s-floor").unwrap();
        assert_eq!(floor.role, Role::Desk);
        assert!(floor.agents.contains("bo"));
        assert_eq!(ring.find("s-ops").unwrap().name, "ops");
        assert!(ring.find("s-web ").is_none());
        assert!(
            ring.find(&hash_secret("s-web")).is_none(),
            "the hash is not the secret"
        );
    }

    #[test]
    fn bad_entries_are_refused_by_name_without_secrets() {
        let bad = [
            (format!("a:boss:{}", hash_secret("x")), "role \"boss\""),
            ("a:admin:abc".to_string(), "64 hex digits"),
            (format!("a:desk:{}", hash_secret("x")), "must name its agents"),
            (format!("a:answers:{}:ana", hash_secret("x")), "only to desk keys"),
        ];
        for (entry, words) in bad {
            let err = KeyRing::load(None, std::slice::from_ref(&entry))
                .unwrap_err()
                .to_string();
            assert!(err.contains(words), "{entry}: {err}");
        }
        let twice = vec![
            format!("a:admin:{}", hash_secret("x")),
            format!("a:admin:{}", hash_secret("y")),
        ];
        assert!(
            KeyRing::load(None, &twice)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let err = KeyRing::load(None, &["only:two".into()]).unwrap_err();
        assert!(err.to_string().contains("entry 1"), "{err}");
        assert!(KeyRing::load(None, &[]).unwrap().is_none(), "no keys: checks off");
    }

    #[test]
    fn a_key_file_with_an_unknown_field_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(
            &path,
            "[[key]]\nname = \"a\"\nrole = \"admin\"\nsecret = \"oops\"\n",
        )
        .unwrap();
        let err = KeyRing::load(Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("keys.toml") && err.contains("line 4"), "{err}");
        assert!(!err.contains("oops"), "{err}");
    }
}
