// memberlist-go is ferrolb's interop peer: a small program on hashicorp/memberlist v0.1.7
// (the version MetalLB v0.9.3 pins), configured the way MetalLB's speaker configures it.
//
//	memberlist-go dump            print reference encodings, one "name hex" per line
//	memberlist-go decode          read "kind hex" lines, print what Go's codec decodes, as JSON
//	memberlist-go peer -name N -bind IP [-port P] [-secret S] [-join a,b]
//	                              run a live member; print the member list as JSON lines
//	                              whenever it changes; leave and exit when stdin closes
//
// The message structs below mirror the wire structs of memberlist v0.1.7 (field names and
// Go types decide the msgpack encoding); the codec is the real go-msgpack v0.5.3.
package main

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"io/ioutil"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-msgpack/codec"
	"github.com/hashicorp/memberlist"
)

type ping struct {
	SeqNo uint32
	Node  string
}

type indirectPingReq struct {
	SeqNo  uint32
	Target []byte
	Port   uint16
	Node   string
	Nack   bool
}

type ackResp struct {
	SeqNo   uint32
	Payload []byte
}

type nackResp struct {
	SeqNo uint32
}

type errResp struct {
	Error string
}

type suspect struct {
	Incarnation uint32
	Node        string
	From        string
}

type alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

type dead struct {
	Incarnation uint32
	Node        string
	From        string
}

type pushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

type userMsgHeader struct {
	UserMsgLen int
}

type pushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []uint8
}

type compress struct {
	Algo uint8
	Buf  []byte
}

func encode(msgType byte, in interface{}) []byte {
	buf := bytes.NewBuffer(nil)
	buf.WriteByte(msgType)
	hd := codec.MsgpackHandle{}
	if err := codec.NewEncoder(buf, &hd).Encode(in); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func lzwCompress(inp []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, 8)
	w.Write(inp)
	w.Close()
	return buf.Bytes()
}

func compressed(inp []byte) []byte {
	return encode(9, &compress{Algo: 0, Buf: lzwCompress(inp)})
}

func compound(msgs ...[]byte) []byte {
	buf := bytes.NewBuffer(nil)
	buf.WriteByte(7)
	buf.WriteByte(uint8(len(msgs)))
	for _, m := range msgs {
		binary.Write(buf, binary.BigEndian, uint16(len(m)))
	}
	for _, m := range msgs {
		buf.Write(m)
	}
	return buf.Bytes()
}

func withCrc(msg []byte) []byte {
	h := make([]byte, 5, 5+len(msg))
	h[0] = 12
	binary.BigEndian.PutUint32(h[1:], crc32.ChecksumIEEE(msg))
	return append(h, msg...)
}

// seal is memberlist's version-1 encryption with a caller-chosen nonce, so the output is
// reproducible: [1][nonce][AES-128-GCM(msg, aad)].
func seal(key, nonce, msg, aad []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		log.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		log.Fatal(err)
	}
	out := []byte{1}
	out = append(out, nonce...)
	return append(out, gcm.Seal(nil, nonce, msg, aad)...)
}

// sealStream is the TCP frame: [10][u32 length][sealed], the first 5 bytes being the AAD.
func sealStream(key, nonce, msg []byte) []byte {
	hdr := make([]byte, 5)
	hdr[0] = 10
	binary.BigEndian.PutUint32(hdr[1:], uint32(1+12+len(msg)+16))
	return append(hdr, seal(key, nonce, msg, hdr)...)
}

// metallbKey is MetalLB v0.9's derivation: sha256.New().Sum(secret)[:16].
func metallbKey(secret string) []byte {
	return sha256.New().Sum([]byte(secret))[:16]
}

func dump() {
	out := func(name string, b []byte) { fmt.Printf("%s %s\n", name, hex.EncodeToString(b)) }
	long := strings.Repeat("n", 40)
	vsn := []uint8{1, 5, 2, 0, 0, 0}
	a := alive{Incarnation: 1, Node: "node1", Addr: []byte{127, 0, 0, 1}, Port: 7946, Vsn: vsn}
	out("ping", encode(0, &ping{SeqNo: 7, Node: "node1"}))
	out("ping_big_seq", encode(0, &ping{SeqNo: 70000, Node: long}))
	out("ping_seq_200", encode(0, &ping{SeqNo: 200, Node: ""}))
	out("indirect_ping", encode(1, &indirectPingReq{SeqNo: 9, Target: []byte{192, 0, 2, 7}, Port: 7946, Node: "node2", Nack: true}))
	out("ack", encode(2, &ackResp{SeqNo: 7}))
	out("ack_payload", encode(2, &ackResp{SeqNo: 300, Payload: []byte("hello")}))
	out("ack_empty_payload", encode(2, &ackResp{SeqNo: 1, Payload: []byte{}}))
	out("nack", encode(11, &nackResp{SeqNo: 4294967295}))
	out("err", encode(13, &errResp{Error: "Encryption is configured but remote state is not encrypted"}))
	out("suspect", encode(3, &suspect{Incarnation: 3, Node: "node2", From: "node1"}))
	out("alive", encode(4, &a))
	out("alive_meta", encode(4, &alive{Incarnation: 65536, Node: long, Addr: []byte{192, 0, 2, 1}, Port: 65535, Meta: []byte("meta"), Vsn: vsn}))
	out("alive_ipv6", encode(4, &alive{Incarnation: 2, Node: "node6", Addr: []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, Port: 7946, Vsn: vsn}))
	out("dead", encode(5, &dead{Incarnation: 4, Node: "node2", From: "node2"}))
	out("user", append([]byte{8}, []byte("user-data")...))
	hdr := pushPullHeader{Nodes: 2, UserStateLen: 0, Join: true}
	states := []pushNodeState{
		{Name: "node1", Addr: []byte{127, 0, 0, 1}, Port: 7946, Incarnation: 1, State: 0, Vsn: vsn},
		{Name: "node2", Addr: []byte{127, 0, 0, 2}, Port: 7946, Incarnation: 5, State: 2, Vsn: vsn},
	}
	pp := encode(6, &hdr)
	for i := range states {
		var b bytes.Buffer
		codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(&states[i])
		pp = append(pp, b.Bytes()...)
	}
	out("push_pull", pp)
	hdrU := pushPullHeader{Nodes: 1, UserStateLen: 3, Join: false}
	ppu := encode(6, &hdrU)
	var b bytes.Buffer
	codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(&states[1])
	ppu = append(ppu, b.Bytes()...)
	ppu = append(ppu, 'a', 'b', 'c')
	out("push_pull_user_state", ppu)
	out("user_msg_header", encode(8, &userMsgHeader{UserMsgLen: 1000}))
	out("push_pull_header_negative", encode(6, &pushPullHeader{Nodes: -1, UserStateLen: -200, Join: false}))

	c := compound(encode(0, &ping{SeqNo: 7, Node: "node1"}), encode(4, &a), encode(3, &suspect{Incarnation: 3, Node: "node2", From: "node1"}))
	out("compound", c)
	out("lzw_raw_input", []byte(strings.Repeat("memberlist ", 20)))
	out("lzw_raw", lzwCompress([]byte(strings.Repeat("memberlist ", 20))))
	// Large enough to fill LZW's 4096-code table several times (clear codes mid-stream).
	big := make([]byte, 200000)
	for i := range big {
		big[i] = byte((i*i + i/7) % 251)
		if i%3 == 0 {
			big[i] = 'a'
		}
	}
	out("lzw_big_input", big)
	out("lzw_big", lzwCompress(big))
	out("compressed_compound", compressed(c))
	out("crc_compressed_compound", withCrc(compressed(c)))
	key := metallbKey("short")
	out("key_short", key)
	out("key_abc", metallbKey("abc"))
	out("key_long", metallbKey("0123456789abcdefXYZ"))
	nonce := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	out("udp_encrypted_crc_compound", seal(key, nonce, withCrc(c), nil))
	out("udp_encrypted_ping", seal(key, nonce, encode(0, &ping{SeqNo: 7, Node: "node1"}), nil))
	out("tcp_encrypted_compressed_push_pull", sealStream(key, nonce, compressed(pp)))
	out("tcp_compressed_push_pull", compressed(pp))
}

func decode() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		raw, err := hex.DecodeString(f[1])
		if err != nil {
			log.Fatal(err)
		}
		var v interface{}
		switch f[0] {
		case "ping":
			v = &ping{}
		case "indirect_ping":
			v = &indirectPingReq{}
		case "ack":
			v = &ackResp{}
		case "nack":
			v = &nackResp{}
		case "err":
			v = &errResp{}
		case "suspect":
			v = &suspect{}
		case "alive":
			v = &alive{}
		case "dead":
			v = &dead{}
		case "push_pull_header":
			v = &pushPullHeader{}
		case "push_node_state":
			v = &pushNodeState{}
		case "compress":
			v = &compress{}
		case "lzw":
			r := lzw.NewReader(bytes.NewReader(raw), lzw.LSB, 8)
			plain, err := ioutil.ReadAll(r)
			res := map[string]interface{}{"kind": f[0], "plain": hex.EncodeToString(plain)}
			if err != nil {
				res["error"] = err.Error()
			}
			j, _ := json.Marshal(res)
			fmt.Println(string(j))
			continue
		default:
			log.Fatalf("unknown kind %s", f[0])
		}
		err = codec.NewDecoder(bytes.NewReader(raw), &codec.MsgpackHandle{}).Decode(v)
		res := map[string]interface{}{"kind": f[0], "value": v}
		if err != nil {
			res["error"] = err.Error()
		}
		j, _ := json.Marshal(res)
		fmt.Println(string(j))
	}
}

type member struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

func peer(args []string) {
	fs := flag.NewFlagSet("peer", flag.ExitOnError)
	name := fs.String("name", "", "node name")
	bind := fs.String("bind", "", "bind address")
	port := fs.Int("port", 7946, "bind and advertise port")
	secret := fs.String("secret", "", "MetalLB memberlist secret")
	join := fs.String("join", "", "comma-separated addresses to join")
	fs.Parse(args)

	// As MetalLB v0.9's speaker: DefaultLANConfig, then Name, BindAddr, optionally SecretKey.
	conf := memberlist.DefaultLANConfig()
	conf.Name = *name
	conf.BindAddr = *bind
	conf.BindPort = *port
	conf.AdvertisePort = *port
	conf.LogOutput = os.Stderr
	if *secret != "" {
		conf.SecretKey = metallbKey(*secret)
	}
	events := make(chan memberlist.NodeEvent, 16)
	conf.Events = &memberlist.ChannelEventDelegate{Ch: events}
	ml, err := memberlist.Create(conf)
	if err != nil {
		log.Fatalf("create: %v", err)
	}
	if *join != "" {
		n, err := ml.Join(strings.Split(*join, ","))
		fmt.Fprintf(os.Stderr, "join: %d %v\n", n, err)
	}
	print := func() {
		var ms []member
		for _, n := range ml.Members() {
			ms = append(ms, member{n.Name, n.Address()})
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
		j, _ := json.Marshal(map[string]interface{}{"members": ms})
		fmt.Println(string(j))
	}
	print()
	stdinClosed := make(chan struct{})
	go func() {
		ioutil.ReadAll(os.Stdin)
		close(stdinClosed)
	}()
	for {
		select {
		case e := <-events:
			fmt.Fprintf(os.Stderr, "event %d %s\n", e.Event, e.Node.Name)
			print()
		case <-stdinClosed:
			ml.Leave(time.Second)
			ml.Shutdown()
			return
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: memberlist-go dump|decode|peer ...")
	}
	switch os.Args[1] {
	case "dump":
		dump()
	case "decode":
		decode()
	case "peer":
		peer(os.Args[2:])
	default:
		log.Fatalf("unknown mode %s", os.Args[1])
	}
}
