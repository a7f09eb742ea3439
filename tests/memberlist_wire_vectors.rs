//! Byte-exact interop with hashicorp/memberlist v0.1.7's codec: Go (go-msgpack v0.5.3,
//! compress/lzw, crypto/cipher) dumps encodings; we must write the same bytes, read Go's bytes,
//! and Go must read ours.

mod memberlist_support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use ferrolb::memberlist::security::{self, metallb_key};
use ferrolb::memberlist::wire::{self, *};
use memberlist_support::{go_peer, hex, unhex};

fn go_dump() -> HashMap<String, Vec<u8>> {
    let out = Command::new(go_peer())
        .arg("dump")
        .output()
        .expect("run memberlist-go dump");
    assert!(
        out.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("name hex");
            (k.to_string(), unhex(v))
        })
        .collect()
}

const VSN: [u8; 6] = [1, 5, 2, 0, 0, 0];
const NONCE: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

fn alive() -> Alive {
    Alive {
        incarnation: 1,
        node: "node1".into(),
        addr: vec![127, 0, 0, 1],
        port: 7946,
        meta: None,
        vsn: VSN.to_vec(),
    }
}

fn suspect() -> Accusation {
    Accusation {
        incarnation: 3,
        node: "node2".into(),
        from: "node1".into(),
    }
}

fn ping() -> Ping {
    Ping {
        seq_no: 7,
        node: "node1".into(),
    }
}

fn messages() -> Vec<(&'static str, Message)> {
    let long = "n".repeat(40);
    vec![
        ("ping", Message::Ping(ping())),
        (
            "ping_big_seq",
            Message::Ping(Ping {
                seq_no: 70000,
                node: long.clone(),
            }),
        ),
        (
            "ping_seq_200",
            Message::Ping(Ping {
                seq_no: 200,
                node: String::new(),
            }),
        ),
        (
            "indirect_ping",
            Message::IndirectPing(IndirectPing {
                seq_no: 9,
                target: vec![192, 0, 2, 7],
                port: 7946,
                node: "node2".into(),
                nack: true,
            }),
        ),
        (
            "ack",
            Message::Ack(Ack {
                seq_no: 7,
                payload: None,
            }),
        ),
        (
            "ack_payload",
            Message::Ack(Ack {
                seq_no: 300,
                payload: Some(b"hello".to_vec()),
            }),
        ),
        (
            "ack_empty_payload",
            Message::Ack(Ack {
                seq_no: 1,
                payload: Some(vec![]),
            }),
        ),
        ("nack", Message::Nack(Nack { seq_no: u32::MAX })),
        (
            "err",
            Message::Err(ErrResp {
                error: "Encryption is configured but remote state is not encrypted".into(),
            }),
        ),
        ("suspect", Message::Suspect(suspect())),
        ("alive", Message::Alive(alive())),
        (
            "alive_meta",
            Message::Alive(Alive {
                incarnation: 65536,
                node: long,
                addr: vec![192, 0, 2, 1],
                port: 65535,
                meta: Some(b"meta".to_vec()),
                vsn: VSN.to_vec(),
            }),
        ),
        (
            "alive_ipv6",
            Message::Alive(Alive {
                incarnation: 2,
                node: "node6".into(),
                addr: "2001:db8::1"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec(),
                port: 7946,
                meta: None,
                vsn: VSN.to_vec(),
            }),
        ),
        (
            "dead",
            Message::Dead(Accusation {
                incarnation: 4,
                node: "node2".into(),
                from: "node2".into(),
            }),
        ),
        ("user", Message::User(b"user-data".to_vec())),
    ]
}

fn state(name: &str, last: u8, inc: u32, st: i64) -> PushNodeState {
    PushNodeState {
        name: name.into(),
        addr: vec![127, 0, 0, last],
        port: 7946,
        meta: None,
        incarnation: inc,
        state: st,
        vsn: VSN.to_vec(),
    }
}

fn push_pull() -> PushPull {
    PushPull {
        join: true,
        nodes: vec![state("node1", 1, 1, 0), state("node2", 2, 5, 2)],
        user_state: None,
    }
}

fn compound() -> Vec<u8> {
    make_compound(&[
        Message::Ping(ping()).encode(),
        Message::Alive(alive()).encode(),
        Message::Suspect(suspect()).encode(),
    ])
}

#[test]
fn every_message_encodes_to_the_bytes_go_writes_and_decodes_from_them() {
    let go = go_dump();
    for (name, msg) in messages() {
        assert_eq!(hex(&msg.encode()), hex(&go[name]), "encoding of {name}");
        assert_eq!(
            Message::decode(&go[name]).unwrap(),
            msg,
            "decoding of {name}"
        );
    }
}

#[test]
fn push_pull_bodies_match_go_byte_for_byte() {
    let go = go_dump();
    assert_eq!(hex(&push_pull().encode()), hex(&go["push_pull"]));
    let with_user = PushPull {
        join: false,
        nodes: vec![state("node2", 2, 5, 2)],
        user_state: Some(b"abc".to_vec()),
    };
    assert_eq!(hex(&with_user.encode()), hex(&go["push_pull_user_state"]));
    assert_eq!(
        decode_stream(&go["push_pull"]).unwrap(),
        Some(StreamMessage::PushPull(push_pull()))
    );
    assert_eq!(
        decode_stream(&go["push_pull_user_state"]).unwrap(),
        Some(StreamMessage::PushPull(with_user))
    );
    // Go's int fields may be negative on the wire; a negative node count is refused.
    assert_eq!(
        decode_stream(&go["push_pull_header_negative"]),
        Err(WireError::BadNodeCount(-1))
    );
    assert_eq!(
        decode_stream(&go["user_msg_header"]).unwrap(),
        None,
        "a user message header announcing 1000 bytes waits for them"
    );
}

#[test]
fn compound_compress_and_crc_envelopes_match_go() {
    let go = go_dump();
    assert_eq!(hex(&compound()), hex(&go["compound"]));
    assert_eq!(
        hex(&wire::lzw_compress(&go["lzw_raw_input"])),
        hex(&go["lzw_raw"]),
        "LZW output equals Go's compress/lzw"
    );
    assert_eq!(
        wire::lzw_decompress(&go["lzw_raw"]).unwrap(),
        go["lzw_raw_input"]
    );
    // Past a few hundred codes weezl's code stream differs from Go's (both valid): across
    // table resets we require interop both ways, not identical bytes.
    assert!(wire::lzw_decompress(&go["lzw_big"]).unwrap() == go["lzw_big_input"]);
    let res = go_decode(&[("lzw", wire::lzw_compress(&go["lzw_big_input"]))]);
    assert!(
        res[0].get("error").is_none(),
        "Go failed: {}",
        res[0]["error"]
    );
    assert!(
        res[0]["plain"] == hex(&go["lzw_big_input"]),
        "Go decodes our 200 kB LZW stream"
    );
    assert_eq!(
        hex(&compress_payload(&compound())),
        hex(&go["compressed_compound"])
    );
    assert_eq!(
        hex(&add_crc(&compress_payload(&compound()))),
        hex(&go["crc_compressed_compound"])
    );
    let expected = vec![
        Message::Ping(ping()),
        Message::Alive(alive()),
        Message::Suspect(suspect()),
    ];
    for name in ["compound", "compressed_compound", "crc_compressed_compound"] {
        assert_eq!(unpack_packet(&go[name]).unwrap(), expected, "{name}");
    }
    assert_eq!(
        hex(&compress_payload(&push_pull().encode())),
        hex(&go["tcp_compressed_push_pull"])
    );
    assert_eq!(
        decode_stream(&go["tcp_compressed_push_pull"]).unwrap(),
        Some(StreamMessage::PushPull(push_pull()))
    );
}

#[test]
fn metallb_keys_and_sealed_payloads_match_go() {
    let go = go_dump();
    for (name, secret) in [
        ("key_short", "short"),
        ("key_abc", "abc"),
        ("key_long", "0123456789abcdefXYZ"),
    ] {
        assert_eq!(
            metallb_key(secret).unwrap().to_vec(),
            go[name],
            "vectors F: {secret}"
        );
    }
    let key = metallb_key("short").unwrap();
    let udp = security::seal(&key, &NONCE, &add_crc(&compound()), &[]);
    assert_eq!(hex(&udp), hex(&go["udp_encrypted_crc_compound"]));
    let plain = security::open(&[key], &go["udp_encrypted_crc_compound"], &[]).unwrap();
    assert_eq!(unpack_packet(&plain).unwrap().len(), 3);
    assert_eq!(
        hex(&security::seal(
            &key,
            &NONCE,
            &Message::Ping(ping()).encode(),
            &[]
        )),
        hex(&go["udp_encrypted_ping"])
    );
    let tcp = security::seal_stream(&key, &NONCE, &compress_payload(&push_pull().encode()));
    assert_eq!(hex(&tcp), hex(&go["tcp_encrypted_compressed_push_pull"]));
    let plain = security::open_stream(&[key], &go["tcp_encrypted_compressed_push_pull"]).unwrap();
    assert_eq!(
        decode_stream(&plain).unwrap(),
        Some(StreamMessage::PushPull(push_pull()))
    );
}

#[test]
fn go_packets_under_a_wrong_key_are_decode_errors() {
    let go = go_dump();
    let wrong = metallb_key("abc").unwrap();
    assert_eq!(
        security::open(&[wrong], &go["udp_encrypted_ping"], &[]),
        Err(security::CryptoError::NoKey)
    );
    assert_eq!(
        security::open_stream(&[wrong], &go["tcp_encrypted_compressed_push_pull"]),
        Err(security::CryptoError::NoKey)
    );
    // Encrypted bytes are never mistaken for a plaintext message.
    assert!(unpack_packet(&go["udp_encrypted_ping"]).is_err());
}

/// Go's own decoder reads what we write: feed `kind hex` lines, get JSON back.
fn go_decode(lines: &[(&str, Vec<u8>)]) -> Vec<serde_json::Value> {
    let mut child = Command::new(go_peer())
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run memberlist-go decode");
    let mut stdin = child.stdin.take().unwrap();
    for (kind, bytes) in lines {
        writeln!(stdin, "{kind} {}", hex(bytes)).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn go_decodes_our_encodings() {
    let kinds = [
        ("ping", "ping"),
        ("indirect_ping", "indirect_ping"),
        ("ack_payload", "ack"),
        ("nack", "nack"),
        ("err", "err"),
        ("suspect", "suspect"),
        ("alive_meta", "alive"),
        ("alive_ipv6", "alive"),
        ("dead", "dead"),
    ];
    let msgs: HashMap<_, _> = messages().into_iter().collect();
    let mut lines: Vec<(&str, Vec<u8>)> = kinds
        .iter()
        .map(|(name, kind)| (*kind, msgs[name].encode()[1..].to_vec()))
        .collect();
    let data = b"memberlist ".repeat(50);
    lines.push(("lzw", wire::lzw_compress(&data)));
    lines.push(("compress", compress_payload(&compound())[1..].to_vec()));
    let res = go_decode(&lines);
    assert_eq!(res.len(), lines.len());
    for r in &res {
        assert!(r.get("error").is_none(), "Go failed to decode: {r}");
    }
    assert_eq!(res[0]["value"]["SeqNo"], 7);
    assert_eq!(res[0]["value"]["Node"], "node1");
    assert_eq!(res[1]["value"]["Nack"], true);
    assert_eq!(res[1]["value"]["Port"], 7946);
    assert_eq!(res[2]["value"]["SeqNo"], 300);
    assert_eq!(res[3]["value"]["SeqNo"], u32::MAX);
    assert_eq!(res[6]["value"]["Incarnation"], 65536);
    assert_eq!(res[6]["value"]["Node"], "n".repeat(40));
    assert_eq!(res[6]["value"]["Port"], 65535);
    assert_eq!(res[8]["value"]["From"], "node2");
    assert_eq!(res[9]["plain"], hex(&data));
}
