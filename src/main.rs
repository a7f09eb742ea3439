//! The `ferrolb` binary: `controller`, `speaker`, `check`, `migrate`.
//!
//! The daemons take v0.9's flags with Go `flag` semantics (see `cli::goflag`). An image may
//! also install the binary as `controller` or `speaker`: the name it is started under then
//! selects the subcommand, so the v0.9 manifest's `args: [--port=7472, --config=config]`
//! start the right daemon unchanged.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferrolb::cli::check::CheckArgs;
use ferrolb::cli::daemon::{ControllerArgs, SpeakerArgs};
use ferrolb::cli::goflag;
use ferrolb::cli::migrate::MigrateArgs;
use ferrolb::log_json;

#[derive(Parser)]
#[command(name = "ferrolb", version, about = "A drop-in replacement for MetalLB v0.9")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (replaces metallb/controller:v0.9.x).
    Controller(ControllerArgs),
    /// Run the speaker (replaces metallb/speaker:v0.9.x).
    Speaker(SpeakerArgs),
    /// Validate a legacy MetalLB ConfigMap.
    Check(CheckArgs),
    /// Convert the legacy ConfigMap into metallb.io custom resources (MetalLB >= v0.13).
    Migrate(MigrateArgs),
}

/// argv with the daemon subcommand's flags rewritten from Go `flag` style.
fn normalized_args() -> Result<Vec<String>, (String, String)> {
    let mut args: Vec<String> = std::env::args().collect();
    let invoked_as = args.first().and_then(|a| a.rsplit('/').next()).unwrap_or("ferrolb").to_string();
    if invoked_as == "controller" || invoked_as == "speaker" {
        args.insert(1, invoked_as);
    }
    let value_flags = match args.get(1).map(String::as_str) {
        Some("controller") => ControllerArgs::VALUE_FLAGS,
        Some("speaker") => SpeakerArgs::VALUE_FLAGS,
        _ => return Ok(args),
    };
    let rest = goflag::normalize(&args[2..], value_flags).map_err(|e| (args[1].clone(), e))?;
    Ok(args[..2].iter().cloned().chain(rest).collect())
}

fn main() -> ExitCode {
    let args = match normalized_args() {
        Ok(a) => a,
        Err((sub, e)) => {
            eprintln!("{e}\nUsage: ferrolb {sub} [flags]; see 'ferrolb {sub} --help'");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let code = match cli.command {
        Command::Controller(a) => run_controller(&a),
        Command::Speaker(a) => run_speaker(&a),
        Command::Check(a) => {
            restore_sigpipe();
            ferrolb::cli::check::run(&a)
        }
        Command::Migrate(a) => {
            restore_sigpipe();
            ferrolb::cli::migrate::run(a)
        }
    };
    ExitCode::from(code as u8)
}

/// The CLI tools end quietly, as `cat` does, when their reader goes away (`ferrolb check | head`):
/// Rust ignores SIGPIPE, which turns the closed pipe into a panic inside `print!`. The daemons
/// keep ignoring it (their sockets report EPIPE as an error to handle).
fn restore_sigpipe() {
    // SAFETY: sets the disposition of one signal before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run_controller(args: &ControllerArgs) -> i32 {
    log_json!(
        "msg" => format!("ferrolb controller starting version {} (MetalLB v0.9 compatible)", env!("CARGO_PKG_VERSION")),
        "version" => env!("CARGO_PKG_VERSION"),
        "port" => args.port,
        "configmap" => &args.config,
    );
    ferrolb::controller::shell::run(args)
}

fn run_speaker(args: &SpeakerArgs) -> i32 {
    let s = args.resolve(|k| std::env::var(k).ok());
    log_json!(
        "msg" => format!("ferrolb speaker starting version {} (MetalLB v0.9 compatible)", env!("CARGO_PKG_VERSION")),
        "version" => env!("CARGO_PKG_VERSION"),
        "port" => s.port,
        "host" => &s.host,
        "node" => &s.node_name,
        "configmap" => &s.config,
        "memberlist" => s.memberlist_enabled(),
    );
    if s.node_name.is_empty() {
        log_json!("op" => "startup", "error" => "must specify --node-name or METALLB_NODE_NAME", "msg" => "missing configuration");
        return 1;
    }
    ferrolb::speaker::shell::run(&s)
}
