//! Filling [`Config`] from its sources: clap reads flags and `KEFU_*` variables (and knows
//! which one gave each value), the TOML file fills what neither set, clap's defaults the
//! rest. Each value's [`Source`] is kept for error messages and `--print-config`.

use super::Config;
use clap::parser::ValueSource;
use clap::{Args as _, CommandFactory, FromArgMatches};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// `kefu-server` command line: the settings plus what is not a setting.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "kefu-server",
    version,
    about = "kefu gRPC server: answer lookup over a memory-mapped index, and routing to agents",
    after_help = "Every setting can also come from its KEFU_* variable or from the TOML file \
                  (--config; key = the flag's name with `_`). Precedence: flag > environment > file > default."
)]
pub struct Cli {
    /// TOML file with any of the settings (flags and environment win over it).
    #[arg(long, env = "KEFU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective settings as TOML, each with where it came from, and exit.
    #[arg(long)]
    pub print_config: bool,
    #[command(flatten)]
    pub settings: Config,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(String),
    Env(String),
    File(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag --{flag}"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File(path) => write!(f, "config file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A configuration that cannot run; every message names the setting and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: unknown setting `{key}` (kefu-server --help lists them)")]
    UnknownKey { path: PathBuf, key: String },
    #[error("{setting} from {from}: {message}")]
    Value {
        setting: String,
        from: Source,
        message: String,
    },
    #[error("{setting} = {value} (from {from}) {rule}")]
    Invalid {
        setting: &'static str,
        value: String,
        from: Source,
        rule: String,
    },
    #[error("no index given: pass --index DIR, set KEFU_INDEX, or put `index = \"DIR\"` in the config file")]
    NoIndex,
    #[error("{0}")]
    Cli(#[from] clap::Error),
}

/// The merged, validated settings and where each came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub cli: Cli,
    pub sources: BTreeMap<String, Source>,
}

impl Loaded {
    /// The settings the server runs with.
    pub fn config(&self) -> &Config {
        &self.cli.settings
    }

    /// Where `setting` came from (the default for names it does not know).
    pub fn source(&self, setting: &str) -> Source {
        self.sources.get(setting).cloned().unwrap_or(Source::Default)
    }

    /// The effective settings as TOML, each line with its source as a comment; unset
    /// optional settings appear commented out.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        let table = to_table(self.config())?;
        let mut out =
            String::from("# kefu-server effective settings (flag > environment > file > default)\n");
        for name in setting_names() {
            match table.get(&name) {
                Some(v) => out.push_str(&format!("{name} = {v}  # {}\n", self.source(&name))),
                None => out.push_str(&format!("# {name} is unset  # {}\n", self.source(&name))),
            }
        }
        Ok(out)
    }
}

/// Prints a clap error and exits as clap does, adding which environment variable a bad
/// value came from (clap names only the flag).
pub fn exit_with(e: clap::Error) -> ! {
    match env_source(&e) {
        Some(var) => {
            let _ = e.print();
            eprintln!("(the value came from environment variable {var})");
            std::process::exit(e.exit_code())
        }
        None => e.exit(),
    }
}

fn env_source(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(e.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.trim_start_matches("--").split([' ', '=']).next()?;
    let cmd = Cli::command();
    let var = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?;
    let flag = format!("--{long}");
    let in_argv = std::env::args().any(|x| x == flag || x.starts_with(&format!("{flag}=")));
    (!in_argv && std::env::var_os(var).is_some()).then(|| var.to_string_lossy().into_owned())
}

/// The names of all settings in declaration order: clap's argument ids are the field names.
fn setting_names() -> Vec<String> {
    Config::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect()
}

fn to_table(c: &Config) -> Result<toml::Table, ConfigError> {
    toml::Table::try_from(c).map_err(|e| ConfigError::Value {
        setting: "(all)".into(),
        from: Source::Default,
        message: e.to_string(),
    })
}

/// The defaults alone: no flags, no environment, no file.
pub(crate) fn defaults() -> Config {
    let cmd = Cli::command().mut_args(|a| a.env(None));
    let m = cmd
        .try_get_matches_from(["kefu-server"])
        .expect("the defaults parse");
    Config::from_arg_matches(&m).expect("the defaults parse")
}

/// Reads flags and environment from `argv` and the process, then the TOML file they name,
/// and validates the result.
pub fn load_from<I, T>(argv: I) -> Result<Loaded, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cmd = Cli::command();
    let matches = cmd.clone().try_get_matches_from(argv)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let mut sources = BTreeMap::new();
    for arg in Config::augment_args(clap::Command::new("settings")).get_arguments() {
        let id = arg.get_id().as_str();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => Source::Flag(arg.get_long().unwrap_or(id).to_string()),
            Some(ValueSource::EnvVariable) => Source::Env(
                arg.get_env()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            _ => Source::Default,
        };
        sources.insert(id.to_string(), source);
    }
    if let Some(path) = cli.config.clone() {
        cli.settings = apply_file(&cli.settings, &path, &mut sources)?;
    }
    let loaded = Loaded { cli, sources };
    loaded.config().validate(&|s| loaded.source(s))?;
    Ok(loaded)
}

/// The file's values for every setting still at its default; every key in the file must be
/// a setting and every value must parse as its type (even one a flag overrides).
fn apply_file(
    base: &Config,
    path: &PathBuf,
    sources: &mut BTreeMap<String, Source>,
) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.clone(),
        source: e,
    })?;
    let file: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let known = setting_names();
    let mut merged = to_table(base)?;
    for (key, value) in file {
        if !known.contains(&key) {
            return Err(ConfigError::UnknownKey {
                path: path.clone(),
                key,
            });
        }
        // Try the value in place of the current one: the error then names this key and file.
        let mut trial = merged.clone();
        trial.insert(key.clone(), value.clone());
        let message = match trial.try_into::<Config>() {
            Ok(_) => None,
            Err(e) => Some(e.message().to_string()),
        };
        if let Some(message) = message {
            return Err(ConfigError::Value {
                setting: key,
                from: Source::File(path.clone()),
                message: format!("{message} (the value is {value})"),
            });
        }
        if sources.get(&key).is_none_or(|s| *s == Source::Default) {
            merged.insert(key.clone(), value);
            sources.insert(key, Source::File(path.clone()));
        }
    }
    merged.try_into::<Config>().map_err(|e| ConfigError::Value {
        setting: "(file)".into(),
        from: Source::File(path.clone()),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
