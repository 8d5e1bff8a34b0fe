//! [`ContractFiles`]: the generated files of a set of contracts, written or checked.

use std::path::{Path, PathBuf};

use super::asyncapi::{document, ListedContract};
use super::{typescript, AsyncApiInfo, Contract, ContractError, Events, TypeScriptOptions};

struct Entry {
    file: String,
    typescript: fn(&TypeScriptOptions) -> Result<String, ContractError>,
    list: fn() -> Result<ListedContract, ContractError>,
}

fn list<C: Contract>() -> Result<ListedContract, ContractError> {
    Ok(ListedContract {
        name: C::name(),
        namespace: C::NAMESPACE,
        events: Events::of::<C>()?,
    })
}

/// A generated file whose committed copy differs from what the contracts produce now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFile {
    /// The file.
    pub path: PathBuf,
    /// Whether it is missing (rather than different).
    pub missing: bool,
}

/// The files generated from a set of contracts: one TypeScript module per contract
/// (namespace) and, optionally, one AsyncAPI document for all.
///
/// ```no_run
/// # use sockgate::typed::{Contract, Events, ContractFiles, AsyncApiInfo};
/// # struct Chat;
/// # impl Contract for Chat { const NAMESPACE: &'static str = "/"; fn events(_: &mut Events) {} }
/// // src/bin/contract.rs: `cargo run --bin contract` writes, `-- --check` checks.
/// fn main() -> std::process::ExitCode {
///     ContractFiles::new()
///         .contract::<Chat>("chat.d.ts")
///         .asyncapi("asyncapi.json", AsyncApiInfo::default())
///         .main(concat!(env!("CARGO_MANIFEST_DIR"), "/contract"))
/// }
/// ```
#[derive(Default)]
pub struct ContractFiles {
    entries: Vec<Entry>,
    asyncapi: Option<(String, AsyncApiInfo)>,
    options: TypeScriptOptions,
}

impl std::fmt::Debug for ContractFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractFiles")
            .field(
                "typescript",
                &self.entries.iter().map(|e| &e.file).collect::<Vec<_>>(),
            )
            .field("asyncapi", &self.asyncapi.as_ref().map(|(file, _)| file))
            .finish()
    }
}

impl ContractFiles {
    /// No files yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Contract `C`'s TypeScript, in `file` (relative to the output directory).
    pub fn contract<C: Contract>(mut self, file: impl Into<String>) -> Self {
        self.entries.push(Entry {
            file: file.into(),
            typescript: typescript::<C>,
            list: list::<C>,
        });
        self
    }

    /// The AsyncAPI document of every contract, in `file`.
    pub fn asyncapi(mut self, file: impl Into<String>, info: AsyncApiInfo) -> Self {
        self.asyncapi = Some((file.into(), info));
        self
    }

    /// How the TypeScript files are written.
    pub fn typescript_options(mut self, options: TypeScriptOptions) -> Self {
        self.options = options;
        self
    }

    pub(crate) fn listed(&self) -> Result<Vec<ListedContract>, ContractError> {
        self.entries.iter().map(|entry| (entry.list)()).collect()
    }

    /// Every file and its content, paths relative to the output directory.
    ///
    /// # Errors
    ///
    /// A [`ContractError`] when a contract is invalid.
    pub fn render(&self) -> Result<Vec<(String, String)>, ContractError> {
        let mut files = Vec::new();
        for entry in &self.entries {
            files.push((entry.file.clone(), (entry.typescript)(&self.options)?));
        }
        if let Some((file, info)) = &self.asyncapi {
            let document = document(info, self.listed()?)?;
            let mut text = serde_json::to_string_pretty(&document)
                .map_err(|e| ContractError::Io(file.into(), e.into()))?;
            text.push('\n');
            files.push((file.clone(), text));
        }
        Ok(files)
    }

    /// Writes every file under `dir` (created when missing); returns their paths.
    ///
    /// # Errors
    ///
    /// A [`ContractError`]: an invalid contract, or a file that could not be written.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, ContractError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| ContractError::Io(dir.to_owned(), e))?;
        let mut written = Vec::new();
        for (file, text) in self.render()? {
            let path = dir.join(file);
            std::fs::write(&path, text).map_err(|e| ContractError::Io(path.clone(), e))?;
            written.push(path);
        }
        Ok(written)
    }

    /// The files under `dir` that are missing or differ from what the contracts produce now
    /// (empty: everything is up to date).
    ///
    /// # Errors
    ///
    /// A [`ContractError`]: an invalid contract, or a file that exists but cannot be read.
    pub fn check(&self, dir: impl AsRef<Path>) -> Result<Vec<StaleFile>, ContractError> {
        let dir = dir.as_ref();
        let mut stale = Vec::new();
        for (file, text) in self.render()? {
            let path = dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(committed) if committed == text => {}
                Ok(_) => stale.push(StaleFile {
                    path,
                    missing: false,
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => stale.push(StaleFile {
                    path,
                    missing: true,
                }),
                Err(e) => return Err(ContractError::Io(path, e)),
            }
        }
        Ok(stale)
    }

    /// A command line for a generator binary: writes the files under `dir`, or with `--check`
    /// lists the stale ones and exits with status 1 when there are any (status 2: an invalid
    /// contract or an I/O error, with the reason on stderr).
    pub fn main(self, dir: impl AsRef<Path>) -> std::process::ExitCode {
        let dir = dir.as_ref();
        let check = std::env::args().skip(1).any(|arg| arg == "--check");
        let result = if check {
            self.check(dir).map(|stale| {
                for file in &stale {
                    let what = if file.missing { "missing" } else { "stale" };
                    eprintln!("{what}: {} (regenerate it)", file.path.display());
                }
                stale.is_empty()
            })
        } else {
            self.write(dir).map(|written| {
                for path in written {
                    println!("wrote {}", path.display());
                }
                true
            })
        };
        match result {
            Ok(true) => std::process::ExitCode::SUCCESS,
            Ok(false) => std::process::ExitCode::from(1),
            Err(error) => {
                eprintln!("error: {error}");
                std::process::ExitCode::from(2)
            }
        }
    }
}
