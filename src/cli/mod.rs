//! The command line: arguments, global settings, and the one place where
//! outcomes become exit codes.
//!
//! Exit codes: 0 ok · 1 failure · 2 invalid input · 3 lock held ·
//! 4 checks failed (nothing switched, or rolled back).

mod completions;
mod cost;
mod deploy;
mod dev;
mod export;
mod init;
mod invoke;
mod local;
mod logs;
mod package;
mod plan;
mod releases;
mod remove;
mod rollback;
mod schema;
mod status;
mod switch;
mod unlock;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::diag::Diagnostic;
use crate::manifest::{self, Loaded};
use crate::release::EngineError;
use crate::state::{LockError, LockGuard, State};
use crate::ui::{ColorChoice, OutputFormat, Printer, Verbosity};

/// Deploy serverless functions to AWS, Google Cloud, Azure and an embedded
/// local cloud from one manifest, with atomic releases and instant rollback.
#[derive(Debug, Parser)]
#[command(
    name = "nubo",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The manifest to use
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH", default_value = manifest::FILE_NAME, env = "NUBO_FILE")]
    pub file: PathBuf,
    /// The target to act on (default: the manifest's first target)
    #[arg(
        short = 't',
        long = "target",
        global = true,
        value_name = "NAME",
        env = "NUBO_TARGET"
    )]
    pub target: Option<String>,
    /// Output format: `human`, or `json` for JSON Lines ending in one `result` object
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human, value_name = "FORMAT")]
    pub output: OutputFormat,
    /// Answer yes to every confirmation
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Say more about what is happening
    #[arg(short = 'v', long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print only errors
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// When to colour output (`NO_COLOR` is honoured)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new service from a template
    Init(init::Args),
    /// Check the manifest and its portability to each target
    Validate(validate::Args),
    /// Build one deterministic artifact per function
    Package(package::Args),
    /// Show what a deploy would change
    Plan(plan::Args),
    /// Make a release of the whole service and switch traffic to it
    Deploy(deploy::Args),
    /// List the target's releases
    Releases(releases::Args),
    /// Move traffic to a release
    Switch(switch::Args),
    /// Move traffic back to a previous release
    Rollback(rollback::Args),
    /// Show what is serving, and any drift from the recorded state
    Status(status::Args),
    /// Invoke a function of a release
    Invoke(invoke::Args),
    /// Show function logs
    Logs(logs::Args),
    /// Run the service on the local cloud and redeploy on change
    Dev(dev::Args),
    /// Remove everything nubo created for the target
    Remove(remove::Args),
    /// Break a target's lock left by a writer that is gone
    Unlock(unlock::Args),
    /// Export the service as CloudFormation or Terraform
    Export(export::Args),
    /// Estimate what the service costs on each target
    Cost(cost::Args),
    /// Manage the embedded local cloud
    Local(local::Args),
    /// Print the JSON Schema of nubo.yaml
    Schema(schema::Args),
    /// Print a shell completion script
    Completions(completions::Args),
}

/// What a command hands to its `exec`.
pub struct Ctx {
    pub global: Global,
    pub printer: Printer,
}

impl Ctx {
    /// Load the manifest named by `-f`, printing its diagnostics on failure.
    pub fn load(&self) -> Result<Loaded, Failure> {
        self.load_from(&self.global.file)
    }

    pub fn load_from(&self, path: &Path) -> Result<Loaded, Failure> {
        manifest::load(path).map_err(|diags| {
            self.report(&diags);
            Failure::Invalid(summary(&self.global.file, &diags))
        })
    }

    /// Load the manifest, validate it for the selected target and resolve it:
    /// the start of every command that works on a target.
    pub fn validated(&self) -> Result<(Loaded, crate::resolve::Resolved), Failure> {
        let loaded = self.load()?;
        let target = match &self.global.target {
            Some(t) => t.clone(),
            None => match loaded.manifest.targets.keys().next() {
                Some(t) => t.clone(),
                None => {
                    return Err(Failure::Invalid(
                        "the manifest declares no targets".to_owned(),
                    ));
                }
            },
        };
        if !loaded.manifest.targets.contains_key(&target) {
            let d = crate::resolve::resolve(&loaded, &target, &crate::resolve::ProcessEnv)
                .err()
                .unwrap_or_default();
            self.report(&d);
            return Err(Failure::Invalid(summary(&self.global.file, &d)));
        }
        let outcome = crate::validate::validate(
            &loaded,
            std::slice::from_ref(&target),
            &crate::resolve::ProcessEnv,
        );
        self.report(&outcome.diagnostics);
        if outcome.errors() > 0 {
            return Err(Failure::Invalid(summary(
                &self.global.file,
                &outcome.diagnostics,
            )));
        }
        let resolved = outcome
            .resolved
            .into_iter()
            .next()
            .ok_or_else(|| Failure::Invalid(summary(&self.global.file, &[])))?;
        Ok((loaded, resolved))
    }

    /// Everything a release command works with: the validated service, its
    /// state and its provider backend.
    pub fn open_target(&self) -> Result<Opened, Failure> {
        let (loaded, resolved) = self.validated()?;
        let store =
            crate::provider::open_state(&resolved, &loaded.dir, &crate::resolve::ProcessEnv)
                .map_err(|e| Failure::Other(anyhow::anyhow!(e)))?;
        let provider = crate::provider::open(&resolved, &loaded.dir, &crate::resolve::ProcessEnv)
            .map_err(|e| match e {
            crate::provider::OpenError::NotYet { .. } => Failure::Other(anyhow::anyhow!("{e}")),
            other => Failure::Other(anyhow::Error::new(other)),
        })?;
        let state = State::new(store);
        Ok(Opened {
            loaded,
            resolved,
            state,
            provider,
        })
    }

    /// Take the target's lock for `command`, waiting up to `wait`.
    pub fn lock<'s>(
        &self,
        state: &'s State,
        target: &str,
        command: &str,
        wait: Option<Duration>,
    ) -> Result<LockGuard<'s>, Failure> {
        match state.lock(command, wait) {
            Ok(guard) => {
                if let Some(dead) = &guard.took_over {
                    self.printer.status(
                        "Unlocked",
                        format!(
                            "took over the lock of pid {} on {}, which is gone",
                            dead.pid, dead.host
                        ),
                    );
                }
                Ok(guard)
            }
            Err(LockError::Held { holder, waited }) => {
                let stale = if holder.is_expired() {
                    " (expired)"
                } else {
                    ""
                };
                let hint = if holder.is_expired() {
                    "the lock has expired: `nubo unlock` breaks it".to_owned()
                } else if waited.is_some() {
                    "it was still held when the wait ran out; `nubo unlock` breaks it if that process is gone".to_owned()
                } else {
                    "wait for it to finish, pass `--lock-timeout 60s` to wait, or `nubo unlock` if that process is gone".to_owned()
                };
                if self.printer.is_json() {
                    self.printer.event(serde_json::json!({
                        "type": "lock",
                        "target": target,
                        "holder": holder,
                    }));
                } else {
                    self.printer.error(
                        format!(
                            "target `{target}` is locked by {}{stale}",
                            holder.describe()
                        ),
                        Some(&hint),
                    );
                }
                Err(Failure::LockHeld(format!("target `{target}` is locked")))
            }
            Err(LockError::State(e)) => Err(Failure::Other(anyhow::Error::new(e))),
        }
    }

    pub fn report(&self, diags: &[Diagnostic]) {
        for d in diags {
            self.printer.diagnostic(d);
        }
    }
}

/// A target opened for a release command.
pub struct Opened {
    pub loaded: Loaded,
    pub resolved: crate::resolve::Resolved,
    pub state: State,
    pub provider: Box<dyn crate::provider::Provider>,
}

impl Opened {
    /// The release engine over this target, reporting to `observer`.
    pub fn engine<'a>(
        &'a self,
        observer: &'a dyn crate::release::Observer,
    ) -> crate::release::Engine<'a> {
        crate::release::Engine {
            provider: self.provider.as_ref(),
            state: &self.state,
            observer,
        }
    }
}

/// How an engine error ends the command.
pub fn engine_failure(ctx: &Ctx, e: EngineError) -> Failure {
    match e {
        EngineError::ChecksFailed {
            ref release,
            ref failures,
            ref rolled_back_to,
        } => {
            for f in failures {
                if !ctx.printer.is_json() {
                    ctx.printer.error(f, None);
                }
            }
            let what = match rolled_back_to {
                Some(back) => format!(
                    "release `{release}` failed its canary checks; traffic is back on `{back}`"
                ),
                None => format!("release `{release}` failed its checks; nothing was switched"),
            };
            Failure::ChecksFailed(what)
        }
        EngineError::UnknownRelease { ref id, ref known } => {
            let names: Vec<&str> = known.iter().map(String::as_str).collect();
            let hint = crate::suggest::help_or(id, &names, "the releases are");
            if !ctx.printer.is_json() {
                ctx.printer.error(format!("no release `{id}`"), Some(&hint));
                return Failure::Exit(2);
            }
            Failure::Invalid(format!("no release `{id}`"))
        }
        other => Failure::Other(anyhow::Error::new(other)),
    }
}

pub(crate) fn summary(path: &Path, diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    format!(
        "`{}` has {errors} error{}",
        crate::diag::display_path(path),
        if errors == 1 { "" } else { "s" }
    )
}

/// How a command failed; decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The input is invalid; diagnostics were already printed.
    #[error("{0}")]
    Invalid(String),
    /// The target's lock is held by another writer.
    #[error("{0}")]
    LockHeld(String),
    /// Release checks failed; nothing was switched.
    #[error("{0}")]
    ChecksFailed(String),
    /// The command exists but this version of nubo cannot do it yet.
    #[error("`nubo {command}` is not available yet in nubo {version}")]
    NotAvailable {
        command: &'static str,
        version: &'static str,
    },
    /// Exit with this code, having already said everything.
    #[error("")]
    Exit(u8),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Failure {
    pub fn not_available(command: &'static str) -> Failure {
        Failure::NotAvailable {
            command,
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Invalid(_) => 2,
            Failure::LockHeld(_) => 3,
            Failure::ChecksFailed(_) => 4,
            Failure::Exit(code) => *code,
            Failure::NotAvailable { .. } | Failure::Other(_) => 1,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Failure::NotAvailable { .. } => Some(
                "available now: `init`, `validate`, `schema`, `completions`; see `nubo --help`"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

pub type CmdResult = Result<(), Failure>;

/// Parse arguments, run the command, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let verbosity = if cli.global.quiet {
        Verbosity::Quiet
    } else if cli.global.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let printer = Printer::new(cli.global.output, verbosity, cli.global.color);
    let ctx = Ctx {
        global: cli.global,
        printer,
    };
    let result = run(cli.command, &ctx);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Exit(code)) => ExitCode::from(code),
        Err(failure) => {
            let code = failure.exit_code();
            let message = match &failure {
                Failure::Other(e) => format!("{e:#}"),
                other => other.to_string(),
            };
            if ctx.printer.is_json() {
                ctx.printer.event(serde_json::json!({
                    "type": "result",
                    "ok": false,
                    "exit_code": code,
                    "error": message,
                }));
            } else {
                ctx.printer.error(&message, failure.hint().as_deref());
            }
            ExitCode::from(code)
        }
    }
}

fn run(command: Command, ctx: &Ctx) -> CmdResult {
    match command {
        Command::Init(a) => init::exec(a, ctx),
        Command::Validate(a) => validate::exec(a, ctx),
        Command::Package(a) => package::exec(a, ctx),
        Command::Plan(a) => plan::exec(a, ctx),
        Command::Deploy(a) => deploy::exec(a, ctx),
        Command::Releases(a) => releases::exec(a, ctx),
        Command::Switch(a) => switch::exec(a, ctx),
        Command::Rollback(a) => rollback::exec(a, ctx),
        Command::Status(a) => status::exec(a, ctx),
        Command::Invoke(a) => invoke::exec(a, ctx),
        Command::Logs(a) => logs::exec(a, ctx),
        Command::Dev(a) => dev::exec(a, ctx),
        Command::Remove(a) => remove::exec(a, ctx),
        Command::Unlock(a) => unlock::exec(a, ctx),
        Command::Export(a) => export::exec(a, ctx),
        Command::Cost(a) => cost::exec(a, ctx),
        Command::Local(a) => local::exec(a, ctx),
        Command::Schema(a) => schema::exec(a, ctx),
        Command::Completions(a) => completions::exec(a, ctx),
    }
}

/// The clap command, for completions and docs.
pub fn command() -> clap::Command {
    Cli::command()
}
