//! memberlist v0.1.7 messages: one type byte followed by a msgpack map (see `msgpack`), and
//! the envelopes around them — compound, LZW `compress`, the `hasCrc` checksum — plus the
//! push/pull stream body (header, node states, user state).

use super::msgpack::{GoWriter, MsgpackError, Reader};

/// Message type bytes of memberlist v0.1.7 (`messageType` in net.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    Ping = 0,
    IndirectPing = 1,
    Ack = 2,
    Suspect = 3,
    Alive = 4,
    Dead = 5,
    PushPull = 6,
    Compound = 7,
    User = 8,
    Compress = 9,
    Encrypt = 10,
    Nack = 11,
    HasCrc = 12,
    Err = 13,
}

impl MessageType {
    pub fn from_u8(b: u8) -> Option<Self> {
        use MessageType::*;
        Some(match b {
            0 => Ping,
            1 => IndirectPing,
            2 => Ack,
            3 => Suspect,
            4 => Alive,
            5 => Dead,
            6 => PushPull,
            7 => Compound,
            8 => User,
            9 => Compress,
            10 => Encrypt,
            11 => Nack,
            12 => HasCrc,
            13 => Err,
            _ => return None,
        })
    }
}

/// Why bytes from the network are not a memberlist message. The shell counts these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty message")]
    Empty,
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("message type {0:?} is not valid here")]
    UnexpectedType(MessageType),
    #[error(transparent)]
    Msgpack(#[from] MsgpackError),
    #[error("missing compound length byte")]
    CompoundEmpty,
    #[error("truncated len slice")]
    CompoundTruncatedLengths,
    #[error("Cannot decompress unknown algorithm {0}")]
    UnknownCompression(u64),
    #[error("lzw: {0}")]
    Lzw(String),
    #[error("decompressed payload larger than {0} bytes")]
    DecompressedTooLarge(usize),
    #[error("invalid checksum: computed {computed:#010x}, expected {expected:#010x}")]
    BadChecksum { computed: u32, expected: u32 },
    #[error("messages nested deeper than {0}")]
    TooDeep(usize),
    #[error("invalid protocol versions {0:?}")]
    BadVersions(Vec<u8>),
    #[error("node count {0} out of range")]
    BadNodeCount(i64),
    #[error("truncated user state")]
    TruncatedUserState,
}

/// `ping`: direct probe. `node` lets the target check it is the intended recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ping {
    pub seq_no: u32,
    pub node: String,
}

/// `indirectPingReq`: ask a peer to probe `target:port` for us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndirectPing {
    pub seq_no: u32,
    pub target: Vec<u8>,
    pub port: u16,
    pub node: String,
    pub nack: bool,
}

/// `ackResp`. `payload: None` is Go's nil slice (what v0.1.7 sends without a ping delegate).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ack {
    pub seq_no: u32,
    pub payload: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nack {
    pub seq_no: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrResp {
    pub error: String,
}

/// `suspect` and `dead` share a shape: incarnation, node, who accuses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accusation {
    pub incarnation: u32,
    pub node: String,
    pub from: String,
}

/// `alive`. `addr` is the raw IP (4 bytes for IPv4); `vsn` is pmin, pmax, pcur, dmin, dmax,
/// dcur; `meta: None` is Go's nil slice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alive {
    pub incarnation: u32,
    pub node: String,
    pub addr: Vec<u8>,
    pub port: u16,
    pub meta: Option<Vec<u8>>,
    pub vsn: Vec<u8>,
}

/// A single (non-envelope) message carried by a UDP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Ping(Ping),
    IndirectPing(IndirectPing),
    Ack(Ack),
    Nack(Nack),
    Suspect(Accusation),
    Alive(Alive),
    Dead(Accusation),
    User(Vec<u8>),
    Err(ErrResp),
}

/// Node state numbers as `nodeStateType` (an `int`) puts them on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireState {
    Alive = 0,
    Suspect = 1,
    Dead = 2,
    Left = 3,
}

/// `pushPullHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushPullHeader {
    pub nodes: i64,
    pub user_state_len: i64,
    pub join: bool,
}

/// `pushNodeState`: one member in a push/pull exchange. `state` is the raw number; values
/// other than 0..=3 are kept and ignored by the merge, as Go ignores them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushNodeState {
    pub name: String,
    pub addr: Vec<u8>,
    pub port: u16,
    pub meta: Option<Vec<u8>>,
    pub incarnation: u32,
    pub state: i64,
    pub vsn: Vec<u8>,
}

/// The body of a push/pull stream message after its type byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushPull {
    pub join: bool,
    pub nodes: Vec<PushNodeState>,
    pub user_state: Option<Vec<u8>>,
}

fn opt_bytes(b: Option<&[u8]>) -> Option<Vec<u8>> {
    b.map(<[u8]>::to_vec)
}

fn write_accusation(w: &mut GoWriter, a: &Accusation) {
    w.map_len(3);
    w.key("From");
    w.str(&a.from);
    w.key("Incarnation");
    w.uint(a.incarnation.into());
    w.key("Node");
    w.str(&a.node);
}

/// Writes `alive` fields in go-msgpack's order (field names sorted).
fn write_alive(w: &mut GoWriter, a: &Alive) {
    w.map_len(6);
    w.key("Addr");
    w.bytes(Some(&a.addr));
    w.key("Incarnation");
    w.uint(a.incarnation.into());
    w.key("Meta");
    w.bytes(a.meta.as_deref());
    w.key("Node");
    w.str(&a.node);
    w.key("Port");
    w.uint(a.port.into());
    w.key("Vsn");
    w.bytes(Some(&a.vsn));
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Ping(_) => MessageType::Ping,
            Message::IndirectPing(_) => MessageType::IndirectPing,
            Message::Ack(_) => MessageType::Ack,
            Message::Nack(_) => MessageType::Nack,
            Message::Suspect(_) => MessageType::Suspect,
            Message::Alive(_) => MessageType::Alive,
            Message::Dead(_) => MessageType::Dead,
            Message::User(_) => MessageType::User,
            Message::Err(_) => MessageType::Err,
        }
    }

    /// The type byte followed by the msgpack body, as memberlist's `encode` produces.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = GoWriter::new();
        w.buf.push(self.message_type() as u8);
        match self {
            Message::Ping(p) => {
                w.map_len(2);
                w.key("Node");
                w.str(&p.node);
                w.key("SeqNo");
                w.uint(p.seq_no.into());
            }
            Message::IndirectPing(p) => {
                w.map_len(5);
                w.key("Nack");
                w.bool(p.nack);
                w.key("Node");
                w.str(&p.node);
                w.key("Port");
                w.uint(p.port.into());
                w.key("SeqNo");
                w.uint(p.seq_no.into());
                w.key("Target");
                w.bytes(Some(&p.target));
            }
            Message::Ack(a) => {
                w.map_len(2);
                w.key("Payload");
                w.bytes(a.payload.as_deref());
                w.key("SeqNo");
                w.uint(a.seq_no.into());
            }
            Message::Nack(n) => {
                w.map_len(1);
                w.key("SeqNo");
                w.uint(n.seq_no.into());
            }
            Message::Err(e) => {
                w.map_len(1);
                w.key("Error");
                w.str(&e.error);
            }
            Message::Suspect(a) | Message::Dead(a) => write_accusation(&mut w, a),
            Message::Alive(a) => write_alive(&mut w, a),
            Message::User(b) => w.buf.extend_from_slice(b),
        }
        w.buf
    }

    /// Decodes one message (type byte + body). Envelope types are errors here; see
    /// [`unpack_packet`] for those.
    pub fn decode(buf: &[u8]) -> Result<Message, WireError> {
        let (&t, body) = buf.split_first().ok_or(WireError::Empty)?;
        let ty = MessageType::from_u8(t).ok_or(WireError::UnknownType(t))?;
        let mut r = Reader::new(body);
        Ok(match ty {
            MessageType::Ping => {
                let mut p = Ping::default();
                for _ in 0..r.map_len("ping")? {
                    match r.key()? {
                        b"SeqNo" => p.seq_no = r.uint("SeqNo")?,
                        b"Node" => p.node = r.string("Node")?,
                        _ => r.skip()?,
                    }
                }
                Message::Ping(p)
            }
            MessageType::IndirectPing => {
                let mut p = IndirectPing::default();
                for _ in 0..r.map_len("indirectPingReq")? {
                    match r.key()? {
                        b"SeqNo" => p.seq_no = r.uint("SeqNo")?,
                        b"Target" => p.target = r.bytes("Target")?.unwrap_or_default().to_vec(),
                        b"Port" => p.port = r.uint("Port")?,
                        b"Node" => p.node = r.string("Node")?,
                        b"Nack" => p.nack = r.bool("Nack")?,
                        _ => r.skip()?,
                    }
                }
                Message::IndirectPing(p)
            }
            MessageType::Ack => {
                let mut a = Ack::default();
                for _ in 0..r.map_len("ackResp")? {
                    match r.key()? {
                        b"SeqNo" => a.seq_no = r.uint("SeqNo")?,
                        b"Payload" => a.payload = opt_bytes(r.bytes("Payload")?),
                        _ => r.skip()?,
                    }
                }
                Message::Ack(a)
            }
            MessageType::Nack => {
                let mut n = Nack::default();
                for _ in 0..r.map_len("nackResp")? {
                    match r.key()? {
                        b"SeqNo" => n.seq_no = r.uint("SeqNo")?,
                        _ => r.skip()?,
                    }
                }
                Message::Nack(n)
            }
            MessageType::Err => {
                let mut e = ErrResp::default();
                for _ in 0..r.map_len("errResp")? {
                    match r.key()? {
                        b"Error" => e.error = r.string("Error")?,
                        _ => r.skip()?,
                    }
                }
                Message::Err(e)
            }
            MessageType::Suspect => Message::Suspect(read_accusation(&mut r)?),
            MessageType::Dead => Message::Dead(read_accusation(&mut r)?),
            MessageType::Alive => Message::Alive(read_alive(&mut r)?),
            MessageType::User => Message::User(body.to_vec()),
            other => return Err(WireError::UnexpectedType(other)),
        })
    }
}

fn read_accusation(r: &mut Reader<'_>) -> Result<Accusation, WireError> {
    let mut a = Accusation::default();
    for _ in 0..r.map_len("suspect/dead")? {
        match r.key()? {
            b"Incarnation" => a.incarnation = r.uint("Incarnation")?,
            b"Node" => a.node = r.string("Node")?,
            b"From" => a.from = r.string("From")?,
            _ => r.skip()?,
        }
    }
    Ok(a)
}

fn read_alive(r: &mut Reader<'_>) -> Result<Alive, WireError> {
    let mut a = Alive::default();
    for _ in 0..r.map_len("alive")? {
        match r.key()? {
            b"Incarnation" => a.incarnation = r.uint("Incarnation")?,
            b"Node" => a.node = r.string("Node")?,
            b"Addr" => a.addr = r.bytes("Addr")?.unwrap_or_default().to_vec(),
            b"Port" => a.port = r.uint("Port")?,
            b"Meta" => a.meta = opt_bytes(r.bytes("Meta")?),
            b"Vsn" => a.vsn = r.bytes("Vsn")?.unwrap_or_default().to_vec(),
            _ => r.skip()?,
        }
    }
    Ok(a)
}

fn read_push_node_state(r: &mut Reader<'_>) -> Result<PushNodeState, WireError> {
    let mut s = PushNodeState::default();
    for _ in 0..r.map_len("pushNodeState")? {
        match r.key()? {
            b"Name" => s.name = r.string("Name")?,
            b"Addr" => s.addr = r.bytes("Addr")?.unwrap_or_default().to_vec(),
            b"Port" => s.port = r.uint("Port")?,
            b"Meta" => s.meta = opt_bytes(r.bytes("Meta")?),
            b"Incarnation" => s.incarnation = r.uint("Incarnation")?,
            b"State" => s.state = r.uint("State")?,
            b"Vsn" => s.vsn = r.bytes("Vsn")?.unwrap_or_default().to_vec(),
            _ => r.skip()?,
        }
    }
    Ok(s)
}

fn read_push_pull_header(r: &mut Reader<'_>) -> Result<PushPullHeader, WireError> {
    let mut h = PushPullHeader::default();
    for _ in 0..r.map_len("pushPullHeader")? {
        match r.key()? {
            b"Nodes" => h.nodes = r.uint("Nodes")?,
            b"UserStateLen" => h.user_state_len = r.uint("UserStateLen")?,
            b"Join" => h.join = r.bool("Join")?,
            _ => r.skip()?,
        }
    }
    Ok(h)
}

/// Largest node count we accept in one push/pull (each state takes > 40 bytes, and Go caps
/// the whole stream at 20 MiB).
const MAX_PUSH_NODES: i64 = 1 << 19;

impl PushPull {
    /// `[6]` + header + node states + user state, as `sendLocalState` writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = GoWriter::new();
        w.buf.push(MessageType::PushPull as u8);
        let user_len = self.user_state.as_ref().map_or(0, Vec::len);
        w.map_len(3);
        w.key("Join");
        w.bool(self.join);
        w.key("Nodes");
        w.int(self.nodes.len() as i64);
        w.key("UserStateLen");
        w.int(user_len as i64);
        for n in &self.nodes {
            w.map_len(7);
            w.key("Addr");
            w.bytes(Some(&n.addr));
            w.key("Incarnation");
            w.uint(n.incarnation.into());
            w.key("Meta");
            w.bytes(n.meta.as_deref());
            w.key("Name");
            w.str(&n.name);
            w.key("Port");
            w.uint(n.port.into());
            w.key("State");
            w.int(n.state);
            w.key("Vsn");
            w.bytes(Some(&n.vsn));
        }
        if let Some(u) = &self.user_state {
            w.buf.extend_from_slice(u);
        }
        w.buf
    }

    /// Decodes the body after the `[6]` type byte. `Truncated` (inside `Msgpack`) or
    /// `TruncatedUserState` mean more stream bytes are needed.
    pub fn decode_body(body: &[u8]) -> Result<(PushPull, usize), WireError> {
        let mut r = Reader::new(body);
        let h = read_push_pull_header(&mut r)?;
        if !(0..=MAX_PUSH_NODES).contains(&h.nodes) {
            return Err(WireError::BadNodeCount(h.nodes));
        }
        let mut nodes = Vec::new();
        for _ in 0..h.nodes {
            nodes.push(read_push_node_state(&mut r)?);
        }
        let mut used = r.position();
        let user_state = if h.user_state_len > 0 {
            let n = h.user_state_len as usize;
            let u = body
                .get(used..used.saturating_add(n))
                .ok_or(WireError::TruncatedUserState)?;
            used += n;
            Some(u.to_vec())
        } else {
            None
        };
        Ok((
            PushPull {
                join: h.join,
                nodes,
                user_state,
            },
            used,
        ))
    }
}

/// `[7][count][u16 BE lengths…][messages…]` (`makeCompoundMessage`). At most 255 parts.
pub fn make_compound(msgs: &[Vec<u8>]) -> Vec<u8> {
    let msgs = &msgs[..msgs.len().min(255)];
    let mut out = vec![MessageType::Compound as u8, msgs.len() as u8];
    for m in msgs {
        out.extend_from_slice(&(m.len() as u16).to_be_bytes());
    }
    for m in msgs {
        out.extend_from_slice(m);
    }
    out
}

/// Splits a compound body (after the type byte). Returns the parts and how many were
/// truncated; like Go, truncated trailing parts are dropped, not an error.
pub fn split_compound(buf: &[u8]) -> Result<(Vec<&[u8]>, usize), WireError> {
    let (&n, rest) = buf.split_first().ok_or(WireError::CompoundEmpty)?;
    let n = usize::from(n);
    if rest.len() < n * 2 {
        return Err(WireError::CompoundTruncatedLengths);
    }
    let (lens, mut body) = rest.split_at(n * 2);
    let mut parts = Vec::with_capacity(n);
    for (i, l) in lens.chunks_exact(2).enumerate() {
        let l = usize::from(u16::from_be_bytes([l[0], l[1]]));
        if body.len() < l {
            return Ok((parts, n - i));
        }
        let (part, next) = body.split_at(l);
        parts.push(part);
        body = next;
    }
    Ok((parts, 0))
}

/// Go's `compress/lzw` with LSB order and literal width 8 (GIF flavour, no early change).
/// Short inputs come out byte-identical to Go's writer; on long ones (hundreds of codes and
/// more) weezl's code stream differs from Go's, both being valid: each side's reader decodes
/// the other's output (tests/memberlist_wire_vectors.rs checks 200 kB both ways).
pub fn lzw_compress(data: &[u8]) -> Vec<u8> {
    weezl::encode::Encoder::new(weezl::BitOrder::Lsb, 8)
        .encode(data)
        .expect("LZW encoding into a Vec cannot fail")
}

/// Ceiling on decompressed size: a UDP packet or a push/pull stream (Go's 20 MiB limit).
pub const MAX_DECOMPRESSED: usize = 20 * 1024 * 1024;

pub fn lzw_decompress(data: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut dec = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, 8);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut input = data;
    loop {
        let res = dec.decode_bytes(input, &mut chunk);
        input = &input[res.consumed_in..];
        out.extend_from_slice(&chunk[..res.consumed_out]);
        if out.len() > MAX_DECOMPRESSED {
            return Err(WireError::DecompressedTooLarge(MAX_DECOMPRESSED));
        }
        match res.status {
            Ok(weezl::LzwStatus::Done) => return Ok(out),
            Ok(weezl::LzwStatus::Ok) => {
                if res.consumed_in == 0 && res.consumed_out == 0 {
                    // Go's reader fails on input that ends without the EOF code.
                    return Err(WireError::Lzw("unexpected EOF".into()));
                }
            }
            Ok(weezl::LzwStatus::NoProgress) => {
                return Err(WireError::Lzw("unexpected EOF".into()));
            }
            Err(e) => return Err(WireError::Lzw(e.to_string())),
        }
    }
}

/// `[9]` + msgpack `compress{Algo: 0, Buf: lzw(data)}`.
pub fn compress_payload(data: &[u8]) -> Vec<u8> {
    let mut w = GoWriter::new();
    w.buf.push(MessageType::Compress as u8);
    w.map_len(2);
    w.key("Algo");
    w.uint(0);
    w.key("Buf");
    w.bytes(Some(&lzw_compress(data)));
    w.buf
}

/// Decodes a `compress` body (after the type byte); returns the payload and the bytes used.
pub fn decompress_payload(body: &[u8]) -> Result<(Vec<u8>, usize), WireError> {
    let mut r = Reader::new(body);
    let mut algo = 0u64;
    let mut buf: &[u8] = &[];
    for _ in 0..r.map_len("compress")? {
        match r.key()? {
            b"Algo" => algo = r.uint("Algo")?,
            b"Buf" => buf = r.bytes("Buf")?.unwrap_or_default(),
            _ => r.skip()?,
        }
    }
    if algo != 0 {
        return Err(WireError::UnknownCompression(algo));
    }
    Ok((lzw_decompress(buf)?, r.position()))
}

/// `[12][crc32 IEEE BE of msg][msg]`.
pub fn add_crc(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 5);
    out.push(MessageType::HasCrc as u8);
    out.extend_from_slice(&crc32fast::hash(msg).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// Deepest nesting of compound/compress envelopes we follow (Go recurses without limit).
pub const MAX_NESTING: usize = 4;

/// A decrypted UDP packet → its messages, following the CRC wrapper (only at the start, as
/// `ingestPacket` does), compound and compress envelopes. A malformed part makes the whole
/// packet an error (the shell counts it); Go drops just that part, which differs only for
/// packets no conforming peer sends.
pub fn unpack_packet(buf: &[u8]) -> Result<Vec<Message>, WireError> {
    let buf = if buf.len() >= 5 && buf[0] == MessageType::HasCrc as u8 {
        let expected = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
        let computed = crc32fast::hash(&buf[5..]);
        if computed != expected {
            return Err(WireError::BadChecksum { computed, expected });
        }
        &buf[5..]
    } else {
        buf
    };
    let mut out = Vec::new();
    unpack_into(buf, 0, &mut out)?;
    Ok(out)
}

fn unpack_into(buf: &[u8], depth: usize, out: &mut Vec<Message>) -> Result<(), WireError> {
    if depth > MAX_NESTING {
        return Err(WireError::TooDeep(MAX_NESTING));
    }
    let (&t, body) = buf.split_first().ok_or(WireError::Empty)?;
    match MessageType::from_u8(t) {
        Some(MessageType::Compound) => {
            let (parts, _truncated) = split_compound(body)?;
            for p in parts {
                unpack_into(p, depth + 1, out)?;
            }
        }
        Some(MessageType::Compress) => {
            let (plain, _) = decompress_payload(body)?;
            unpack_into(&plain, depth + 1, out)?;
        }
        _ => out.push(Message::decode(buf)?),
    }
    Ok(())
}

/// A message read from a TCP stream (after decryption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMessage {
    PushPull(PushPull),
    Ping(Ping),
    Ack(Ack),
    Err(ErrResp),
    /// `userMsg` over TCP: header then the bytes.
    User(Vec<u8>),
    /// ferrolb's watch request ([`WATCH_MSG`]): hold this connection open while alive.
    Watch(Ping),
}

/// The type byte of ferrolb's watch request, a stream message only ferrolb speakers send, and
/// only to peers whose node meta offers it (`memberlist::meta`); v0.1.7 has no type above 13.
/// Its body is a `ping`'s: the node the watcher means (a node at a reused address refuses).
pub const WATCH_MSG: u8 = 208;

/// The plaintext watch request for `node`.
pub fn encode_watch(node: &str) -> Vec<u8> {
    let mut b = Message::Ping(Ping {
        seq_no: 0,
        node: node.to_string(),
    })
    .encode();
    b[0] = WATCH_MSG;
    b
}

/// Decodes a plaintext stream message, possibly wrapped in `compress`. `Ok(None)` means the
/// bytes so far are a valid prefix: read more.
pub fn decode_stream(buf: &[u8]) -> Result<Option<StreamMessage>, WireError> {
    match decode_stream_inner(buf) {
        Err(WireError::Msgpack(MsgpackError::Truncated)) | Err(WireError::TruncatedUserState) => {
            Ok(None)
        }
        Err(WireError::Empty) => Ok(None),
        other => other.map(Some),
    }
}

fn decode_stream_inner(buf: &[u8]) -> Result<StreamMessage, WireError> {
    let (&t, body) = buf.split_first().ok_or(WireError::Empty)?;
    if t == WATCH_MSG {
        let mut ping = vec![MessageType::Ping as u8];
        ping.extend_from_slice(body);
        return match Message::decode(&ping)? {
            Message::Ping(p) => Ok(StreamMessage::Watch(p)),
            _ => unreachable!("type byte was ping"),
        };
    }
    let ty = MessageType::from_u8(t).ok_or(WireError::UnknownType(t))?;
    if ty == MessageType::Compress {
        let (plain, _) = decompress_payload(body)?;
        // A truncated body inside a complete compress message is malformed, not "more".
        return match decode_stream_inner(&plain) {
            Err(WireError::Msgpack(MsgpackError::Truncated)) | Err(WireError::Empty) => Err(
                WireError::Lzw("truncated stream message inside compress".into()),
            ),
            other => other,
        };
    }
    Ok(match ty {
        MessageType::PushPull => StreamMessage::PushPull(PushPull::decode_body(body)?.0),
        MessageType::Ping => match Message::decode(buf)? {
            Message::Ping(p) => StreamMessage::Ping(p),
            _ => unreachable!("type byte was ping"),
        },
        MessageType::Ack => match Message::decode(buf)? {
            Message::Ack(a) => StreamMessage::Ack(a),
            _ => unreachable!("type byte was ack"),
        },
        MessageType::Err => match Message::decode(buf)? {
            Message::Err(e) => StreamMessage::Err(e),
            _ => unreachable!("type byte was err"),
        },
        MessageType::User => {
            let mut r = Reader::new(body);
            let mut len: i64 = 0;
            for _ in 0..r.map_len("userMsgHeader")? {
                match r.key()? {
                    b"UserMsgLen" => len = r.uint("UserMsgLen")?,
                    _ => r.skip()?,
                }
            }
            let start = r.position();
            let len = usize::try_from(len.max(0)).unwrap_or(0);
            let data = body
                .get(start..start.saturating_add(len))
                .ok_or(WireError::TruncatedUserState)?;
            StreamMessage::User(data.to_vec())
        }
        other => return Err(WireError::UnexpectedType(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_request_decodes_from_the_stream_and_is_unknown_as_a_datagram() {
        let w = encode_watch("node7");
        assert_eq!(
            decode_stream(&w).unwrap(),
            Some(StreamMessage::Watch(Ping {
                seq_no: 0,
                node: "node7".into()
            }))
        );
        assert_eq!(decode_stream(&w[..w.len() - 1]).unwrap(), None, "a prefix: read more");
        assert!(matches!(Message::decode(&w), Err(WireError::UnknownType(WATCH_MSG))));
    }

    fn alive() -> Alive {
        Alive {
            incarnation: 1,
            node: "node1".into(),
            addr: vec![127, 0, 0, 1],
            port: 7946,
            meta: None,
            vsn: vec![1, 5, 2, 0, 0, 0],
        }
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = vec![
            Message::Ping(Ping {
                seq_no: 70000,
                node: "x".repeat(40),
            }),
            Message::IndirectPing(IndirectPing {
                seq_no: 9,
                target: vec![192, 0, 2, 7],
                port: 7946,
                node: "n".into(),
                nack: true,
            }),
            Message::Ack(Ack {
                seq_no: 1,
                payload: Some(b"p".to_vec()),
            }),
            Message::Ack(Ack {
                seq_no: 1,
                payload: None,
            }),
            Message::Nack(Nack { seq_no: u32::MAX }),
            Message::Err(ErrResp {
                error: "boom".into(),
            }),
            Message::Suspect(Accusation {
                incarnation: 3,
                node: "a".into(),
                from: "b".into(),
            }),
            Message::Dead(Accusation {
                incarnation: 3,
                node: "a".into(),
                from: "a".into(),
            }),
            Message::Alive(alive()),
            Message::User(b"data".to_vec()),
        ];
        for m in msgs {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn compound_with_a_truncated_part_keeps_the_complete_ones() {
        let a = Message::Ping(Ping {
            seq_no: 1,
            node: "a".into(),
        })
        .encode();
        let b = Message::Alive(alive()).encode();
        let mut c = make_compound(&[a.clone(), b]);
        c.truncate(c.len() - 1);
        let (parts, trunc) = split_compound(&c[1..]).unwrap();
        assert_eq!(parts, vec![&a[..]]);
        assert_eq!(trunc, 1);
    }

    #[test]
    fn compressed_compound_with_crc_unpacks_to_its_messages() {
        let a = Message::Ping(Ping {
            seq_no: 1,
            node: "a".into(),
        });
        let b = Message::Alive(alive());
        let pkt = add_crc(&compress_payload(&make_compound(&[a.encode(), b.encode()])));
        assert_eq!(unpack_packet(&pkt).unwrap(), vec![a, b]);
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let mut pkt = add_crc(&Message::Ping(Ping::default()).encode());
        let last = pkt.len() - 1;
        pkt[last] ^= 1;
        assert!(matches!(
            unpack_packet(&pkt),
            Err(WireError::BadChecksum { .. })
        ));
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error() {
        let mut m = Message::Ping(Ping::default()).encode();
        for _ in 0..=MAX_NESTING {
            m = make_compound(&[m]);
        }
        assert_eq!(unpack_packet(&m), Err(WireError::TooDeep(MAX_NESTING)));
    }

    #[test]
    fn lzw_round_trips_and_rejects_a_stream_without_end_code() {
        let data = b"memberlist memberlist memberlist".repeat(10);
        let c = lzw_compress(&data);
        assert_eq!(lzw_decompress(&c).unwrap(), data);
        assert!(lzw_decompress(&c[..c.len() / 2]).is_err());
    }

    #[test]
    fn push_pull_stream_asks_for_more_until_complete() {
        let pp = PushPull {
            join: true,
            nodes: vec![PushNodeState {
                name: "node1".into(),
                addr: vec![127, 0, 0, 1],
                port: 7946,
                meta: None,
                incarnation: 1,
                state: 0,
                vsn: vec![1, 5, 2, 0, 0, 0],
            }],
            user_state: Some(b"abc".to_vec()),
        };
        let bytes = pp.encode();
        for cut in 0..bytes.len() {
            assert_eq!(decode_stream(&bytes[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(
            decode_stream(&bytes).unwrap(),
            Some(StreamMessage::PushPull(pp))
        );
    }

    #[test]
    fn negative_node_count_is_rejected() {
        let mut w = GoWriter::new();
        w.buf.push(6);
        w.map_len(1);
        w.key("Nodes");
        w.int(-1);
        assert_eq!(decode_stream(&w.buf), Err(WireError::BadNodeCount(-1)));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Walks a go-msgpack map of scalars/raws and returns every type byte used for a raw.
        fn raw_markers(body: &[u8]) -> Vec<u8> {
            let mut r = Reader::new(body);
            let mut out = Vec::new();
            let n = r.map_len("m").unwrap();
            for _ in 0..n {
                out.push(r.rest()[0]);
                r.key().unwrap();
                let b = r.rest()[0];
                if (0xa0..=0xbf).contains(&b) || matches!(b, 0xd9..=0xdb | 0xc4..=0xc6) {
                    out.push(b);
                }
                r.skip().unwrap();
            }
            out
        }

        proptest! {
            #[test]
            fn alive_round_trips_and_never_uses_str8_or_bin(
                incarnation in any::<u32>(),
                node in "[a-z0-9.-]{0,300}",
                addr in prop::collection::vec(any::<u8>(), 4..=16),
                port in any::<u16>(),
                meta in prop::option::of(prop::collection::vec(any::<u8>(), 0..600)),
            ) {
                let m = Message::Alive(Alive { incarnation, node, addr, port, meta, vsn: VSN_METALLB.to_vec() });
                let bytes = m.encode();
                prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
                for b in raw_markers(&bytes[1..]) {
                    prop_assert!(!matches!(b, 0xd9 | 0xc4..=0xc6), "marker {:#x}", b);
                }
            }

            #[test]
            fn push_pull_round_trips(
                names in prop::collection::vec("[a-z]{1,40}", 0..20),
                join in any::<bool>(),
                user in prop::option::of(prop::collection::vec(any::<u8>(), 1..100)),
            ) {
                let nodes = names.into_iter().enumerate().map(|(i, name)| PushNodeState {
                    name, addr: vec![192, 0, 2, i as u8], port: 7946, meta: None,
                    incarnation: i as u32, state: (i % 4) as i64, vsn: VSN_METALLB.to_vec(),
                }).collect();
                let pp = PushPull { join, nodes, user_state: user };
                let c = compress_payload(&pp.encode());
                prop_assert_eq!(decode_stream(&c).unwrap(), Some(StreamMessage::PushPull(pp)));
            }
        }

        const VSN_METALLB: [u8; 6] = [1, 5, 2, 0, 0, 0];
    }
}
