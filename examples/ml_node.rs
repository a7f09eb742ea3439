//! One memberlist node on ferrolb's network shell, for interop tests and benchmarks.
//!
//! ```text
//! ml_node --name N --bind IP [--port 7946] [--secret S] [--join a,b]
//! ```
//! Prints JSON lines on stdout: `{"members":[{"name":..,"addr":"ip:port"}]}` at start and after
//! every membership event (sorted by name, as the Go peer `tests/peers/memberlist-go` prints
//! them), `{"event":"NodeJoin","node":..,"addr":..,"state":"alive","t":<unix seconds>}` per event, `{"join":{"nb joigned":n,
//! "error ?":..}}` after the join, `{"stats":{..}}` each second the counters changed. On SIGTERM
//! (or, with `--exit-on-stdin-eof`, when stdin closes) it leaves with MetalLB's 1 s timeout, prints `{"leave":{..}}` and
//! exits 0. memberlist's own log lines come as `{"component":"MemberList","msg":..}`, as
//! MetalLB re-emits them.

use std::time::{Duration, Instant};

use clap::Parser;
use ferrolb::memberlist::net::{MemberlistHandle, MlConfig, Stats};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

/// One JSON line on stdout; a closed stdout (the reader went away) is not worth a panic.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

#[derive(Parser)]
struct Args {
    #[arg(long)]
    name: String,
    #[arg(long)]
    bind: std::net::IpAddr,
    #[arg(long, default_value_t = 7946)]
    port: u16,
    #[arg(long, default_value = "")]
    secret: String,
    /// Comma-separated addresses (`ip` or `ip:port`) joined once at start.
    #[arg(long, default_value = "")]
    join: String,
    /// Leave and exit when stdin closes (tests: a crashed test run takes its nodes along).
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// v0.1.7's failure detection only: no node meta, no watch connections, no heartbeats.
    #[arg(long)]
    no_fast_failure_detection: bool,
}

fn print_members(h: &MemberlistHandle) {
    let mut ms: Vec<_> = h
        .members()
        .into_iter()
        .map(|m| {
            let addr = m
                .addr
                .map(|a| std::net::SocketAddr::new(a, m.port).to_string());
            (m.name, addr)
        })
        .collect();
    ms.sort();
    let ms: Vec<_> = ms
        .into_iter()
        .map(|(n, a)| json!({"name": n, "addr": a}))
        .collect();
    say!("{}", json!({ "members": ms }));
}

fn stats_json(s: Stats) -> serde_json::Value {
    json!({
        "packets_received": s.packets_received,
        "packets_malformed": s.packets_malformed,
        "packets_undecryptable": s.packets_undecryptable,
        "streams_accepted": s.streams_accepted,
        "streams_refused": s.streams_refused,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let cfg = MlConfig {
        bind_port: args.port,
        secret: (!args.secret.is_empty()).then(|| args.secret.clone().into_bytes()),
        fast_failure_detection: !args.no_fast_failure_detection,
        ..MlConfig::new(&args.name, args.bind)
    };
    let (log_tx, mut logs) = tokio::sync::mpsc::unbounded_channel();
    let (h, mut events) = match MemberlistHandle::start_with_log(cfg, Some(log_tx)).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("start: {e}");
            std::process::exit(1);
        }
    };
    print_members(&h);
    let joins: Vec<String> = args
        .join
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !joins.is_empty() {
        let out = h.join(&joins).await;
        say!(
            "{}",
            json!({"join": {"nb joigned": out.joined, "error ?": out.error()}})
        );
    }
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    let (eof_tx, mut eof_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    if args.exit_on_stdin_eof {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = eof_tx.send(());
        });
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = Stats::default();
    loop {
        tokio::select! {
            Some(e) = events.recv() => {
                let addr = e.node.addr.map(|a| a.to_string());
                let state = format!("{:?}", e.node.state).to_lowercase();
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                say!("{}", json!({"event": e.kind.as_str(), "node": e.node.name, "addr": addr, "state": state, "t": t}));
                print_members(&h);
            }
            Some(line) = logs.recv() => say!("{}", json!({"component": "MemberList", "msg": line})),
            _ = term.recv() => break,
            Some(()) = eof_rx.recv() => break,
            _ = tick.tick() => {
                let s = h.stats();
                if s != last {
                    say!("{}", json!({"stats": stats_json(s)}));
                    last = s;
                }
            }
        }
    }
    let start = Instant::now();
    let r = h.leave(Duration::from_secs(1)).await;
    say!(
        "{}",
        json!({"leave": {"ms": start.elapsed().as_millis() as u64, "error": r.err().map(|e| e.to_string())}})
    );
    h.shutdown().await;
}
