//! The `ferrolb` binary: one function per subcommand.

fn main() {
    println!("ferrolb {}", env!("CARGO_PKG_VERSION"));
}
