//! The `ferrolb` binary: one function per subcommand.

// Temporary dispatch for `ferrolb migrate` (the lead rewrites main.rs with all subcommands).
#[derive(clap::Parser)]
#[command(name = "ferrolb", version)]
enum Cli {
    /// Convert the legacy ConfigMap into metallb.io custom resources.
    Migrate(ferrolb::cli::migrate::MigrateArgs),
}

fn main() {
    let Cli::Migrate(args) = <Cli as clap::Parser>::parse();
    std::process::exit(ferrolb::cli::migrate::run(args));
}
