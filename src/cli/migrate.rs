//! The `ferrolb migrate` shell: reads the input, runs the pure conversion, writes the output
//! all at once (a temporary file renamed into place for `-o`), prints warnings and errors on
//! stderr. Exit status: 0 converted, 1 not converted (nothing written), 2 usage (clap).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::migrate::{self, Options};

/// Arguments of `ferrolb migrate`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Convert the MetalLB v0.9 ConfigMap into metallb.io custom resources (MetalLB >= v0.13)"
)]
pub struct MigrateArgs {
    /// The ConfigMap manifest (or with --only-data the bare `config` payload); `-` reads stdin.
    #[arg(value_name = "FILE", default_value = "-")]
    pub input: String,
    /// The input is only the ConfigMap's `config` payload, not a manifest.
    #[arg(long)]
    pub only_data: bool,
    /// Name of the ConfigMap to convert (the input may hold other objects, or a List).
    #[arg(long, value_name = "NAME", default_value = "config")]
    pub config: String,
    /// Namespace of the generated objects [default: the ConfigMap's, else metallb-system].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Decode like upstream's converter (unknown keys ignored, post-0.9 keys accepted) instead of
    /// refusing what the v0.9 parser refuses.
    #[arg(long)]
    pub lenient: bool,
    /// Put each peer password in a kubernetes.io/basic-auth Secret referenced by
    /// passwordSecret, instead of plain text in the BGPPeer.
    #[arg(long)]
    pub password_secret: bool,
    /// Name peers and advertisements after what they describe (`peer-<asn>-<address>`, the
    /// pool's name) instead of upstream's positions, so a re-run after the ConfigMap changed
    /// keeps every other object's name.
    #[arg(long)]
    pub stable_names: bool,
    /// The cluster's Services (`kubectl get services -A -o json`; `-` is not allowed, stdin
    /// is the ConfigMap's): print the `kubectl annotate` commands that keep Services whose
    /// address-pool annotation names a renamed pool from losing their IP.
    #[arg(long, value_name = "FILE")]
    pub services: Option<String>,
    /// Write the objects to FILE (replaced atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn read_input(path: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
    } else {
        bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    }
    String::from_utf8(bytes).map_err(|e| format!("cannot read {path}: not UTF-8 text ({e})"))
}

/// Writes `text` to `path` through a temporary file in the same directory, so `path` is either
/// untouched or complete.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = dir.join(format!(
        ".{file_name}.ferrolb-migrate.{}.tmp",
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// The two blocks of commands of [`migrate::services::Finding::commands`], on stderr, each
/// command on a line of its own so the block can be copied as it is.
fn print_reannotation(findings: &[migrate::services::Finding]) {
    let (before, after): (Vec<String>, Vec<String>) =
        findings.iter().filter_map(|f| f.commands()).unzip();
    if before.is_empty() {
        return;
    }
    eprintln!(
        "ferrolb migrate: {} Services name a renamed pool. Before applying the resources, while the v0.9 controller runs, run (without the annotation no controller checks the pool, so each keeps its IP):",
        before.len()
    );
    for c in &before {
        eprintln!("{c}");
    }
    eprintln!("ferrolb migrate: and once MetalLB's controller has taken over, run:");
    for c in &after {
        eprintln!("{c}");
    }
}

/// Runs `ferrolb migrate`; returns the exit status.
pub fn run(args: MigrateArgs) -> i32 {
    let input = match read_input(&args.input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferrolb migrate: error: {e}");
            return 1;
        }
    };
    let services = match args.services.as_deref() {
        Some("-") => {
            eprintln!("ferrolb migrate: error: --services needs a file (stdin is the ConfigMap)");
            return 1;
        }
        Some(path) => match read_input(path) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("ferrolb migrate: error: {e}");
                return 1;
            }
        },
        None => None,
    };
    let opts = Options {
        only_data: args.only_data,
        configmap: args.config,
        namespace: args.namespace,
        lenient: args.lenient,
        password_secrets: args.password_secret,
        stable_names: args.stable_names,
    };
    let m = match migrate::migrate(&input, &opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ferrolb migrate: error: {e}");
            eprintln!("ferrolb migrate: nothing was written");
            return 1;
        }
    };
    let findings = match services.map(|t| migrate::services::check(&t, &m.resources.pools)) {
        Some(Err(e)) => {
            eprintln!("ferrolb migrate: error: --services: {e}");
            eprintln!("ferrolb migrate: nothing was written");
            return 1;
        }
        Some(Ok(f)) => f,
        None => Vec::new(),
    };
    for w in &m.warnings {
        eprintln!("ferrolb migrate: warning: {w}");
    }
    for f in &findings {
        eprintln!("ferrolb migrate: warning: {f}");
    }
    print_reannotation(&findings);
    let written = match &args.output {
        Some(path) => write_atomically(path, &m.yaml),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(m.yaml.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write stdout: {e}"))
        }
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ferrolb migrate: error: {e}");
            1
        }
    }
}
