//! Memberlist, wire-compatible with hashicorp/memberlist v0.1.7 (what MetalLB v0.9.3 pins),
//! so Go speakers and ferrolb speakers form one cluster during a rolling update (spec §4.3).
//!
//! * [`msgpack`] — msgpack exactly as go-msgpack v0.5.3 writes it (old-style raw strings and
//!   bytes, structs as maps keyed by sorted Go field names), read tolerantly.
//! * [`wire`] — the messages (ping 0 … err 13), compound, LZW `compress`, `hasCrc`, and the
//!   push/pull stream body.
//! * [`security`] — AES-128-GCM sealing (version 1, no padding), the TCP frame, MetalLB's key
//!   derivation (vectors F).
//! * [`stream`] — reading and writing one TCP stream message (frame, compress, Go's errors).
//! * [`state`] — the sans-IO SWIM core: members and incarnations, probes, suspicion timers,
//!   gossip queue, push/pull merge; time comes in, packets and events go out.
//! * [`net`] — the tokio shell: UDP and TCP on port 7946, timers, sealing, join/leave, the
//!   event channel, drop counters ([`MemberlistHandle`]).
//!
//! Malformed, truncated, wrongly encrypted or wrong-key input is a typed error, never a panic
//! (fuzzed: `fuzz/fuzz_targets/memberlist_*`).
//!
//! **Why our own code.** The only memberlist implementation on crates.io is the `memberlist`
//! crate (al8n/memberlist, 0.8.x). Its README's Q&A answers "Does Rust's memberlist
//! implementation compatible to Go's memberlist?" with *no*: it uses its own protobuf-like
//! encoding where Go uses msgpack, a different message set, and different checksum and
//! compression options. Interop would mean replacing its transport and codec, i.e. writing
//! this module anyway. The generic building blocks are crates: `rmp` (msgpack markers),
//! `weezl` (LZW, the GIF flavour Go's `compress/lzw` implements), `crc32fast`, `aes-gcm`,
//! `sha2`.

pub mod heartbeat;
pub mod meta;
pub mod metallb;
pub mod msgpack;
pub mod net;
pub mod security;
pub mod state;
pub mod stream;
pub mod wire;

pub use net::{MemberInfo, MemberlistHandle, MlConfig, NodeEvent, NodeEventKind};
pub use security::metallb_key;

pub use state::{Action, Config, Event, Member, MemberState, Memberlist};
