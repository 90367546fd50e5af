package main

// The re-executed roles. Each child prints one JSON line when its host is
// up (hello), then answers the coordinator's JSON lines on stdin, and exits
// when stdin closes — so every end has its own process, scheduler and
// garbage collector, as two real peers do.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"eserver/node/transfer"
	"eserver/supernode"
)

// rawProto is the baseline's protocol: one bare stream carrying the file.
const rawProto = protocol.ID("/xferbench/raw/1.0.0")

// childTimeout bounds every step of a child, so a wedged peer ends the run.
const childTimeout = 10 * time.Minute

// hello is a child's first line.
type hello struct {
	ID    peer.ID  `json:"id"`
	Addrs []string `json:"addrs,omitempty"`
}

// serveCmd tells a sender whom to serve; offerMsg is its answer.
type serveCmd struct {
	Peer peer.ID `json:"peer"`
}

type offerMsg struct {
	Addrs []string        `json:"addrs"`
	Offer *transfer.Offer `json:"offer,omitempty"` // nil for the raw baseline
}

// recvCmd tells a receiver what to fetch from whom; resultMsg is its answer.
type recvCmd struct {
	Peer  peer.ID         `json:"peer"`
	Addrs []string        `json:"addrs"`
	Offer *transfer.Offer `json:"offer,omitempty"`
	Size  int64           `json:"size"`
}

type resultMsg struct {
	Nanos   int64 `json:"ns"`
	Bytes   int64 `json:"bytes"`
	Limited bool  `json:"limited"` // every connection to the sender was relayed
}

// admitCmd admits a peer to the relay.
type admitCmd struct {
	Admit peer.ID `json:"admit"`
}

// childFlags are the flags a child takes after -role.
type childFlags struct {
	role, mode, file, dir, relay, cpuprofile string
	chunk                                    int
}

func runChild(args []string) error {
	var c childFlags
	fs := flag.NewFlagSet("xferbench child", flag.ContinueOnError)
	fs.StringVar(&c.role, "role", "", "sender, receiver or relay")
	fs.StringVar(&c.mode, "mode", "eserver", "eserver, raw or rawdirect")
	fs.StringVar(&c.file, "file", "", "the sender's file")
	fs.StringVar(&c.dir, "dir", "", "the receiver's directory")
	fs.StringVar(&c.relay, "relay", "", "the relay's address with /p2p/ID: both ends are reachable only through it")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of this process here")
	fs.IntVar(&c.chunk, "chunk", 0, "chunk size (0: transfer.DefaultChunkSize)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return fmt.Errorf("creating CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("starting CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	in := json.NewDecoder(bufio.NewReader(os.Stdin))
	out := json.NewEncoder(os.Stdout)
	switch c.role {
	case "sender":
		return runSender(c, in, out)
	case "receiver":
		return runReceiver(c, in, out)
	case "relay":
		return runRelay(in, out)
	}
	return fmt.Errorf("unknown role %q", c.role)
}

// endHost makes a transfer end's host: listening on loopback, or, behind a
// relay, listening nowhere (reachable only through the relay's circuits).
func endHost(relayed bool) (host.Host, error) {
	opts := []libp2p.Option{libp2p.EnableRelay()}
	if relayed {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating host: %w", err)
	}
	return h, nil
}

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func parseAddrs(ss []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, len(ss))
	for i, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", s, err)
		}
		out[i] = a
	}
	return out, nil
}

// waitEOF blocks until the coordinator closes our stdin.
func waitEOF(in *json.Decoder) {
	var v json.RawMessage
	for in.Decode(&v) == nil {
	}
}

// connectRelay connects h to the relay at addr and returns its address info.
func connectRelay(ctx context.Context, h host.Host, addr string) (peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("relay address %q: %w", addr, err)
	}
	if err := h.Connect(ctx, *ai); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("connecting to the relay: %w", err)
	}
	return *ai, nil
}

func runSender(c childFlags, in *json.Decoder, out *json.Encoder) error {
	h, err := endHost(c.relay != "")
	if err != nil {
		return err
	}
	defer h.Close()
	if err := out.Encode(hello{ID: h.ID(), Addrs: addrStrings(h.Addrs())}); err != nil {
		return err
	}
	var cmd serveCmd
	if err := in.Decode(&cmd); err != nil {
		return fmt.Errorf("reading serve command: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	addrs := addrStrings(h.Addrs())
	if c.relay != "" {
		ri, err := connectRelay(ctx, h, c.relay)
		if err != nil {
			return err
		}
		if _, err := client.Reserve(ctx, h, ri); err != nil {
			return fmt.Errorf("reserving a slot at the relay: %w", err)
		}
		circuit := ri.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + ri.ID.String() + "/p2p-circuit"))
		addrs = []string{circuit.String()}
	}
	msg := offerMsg{Addrs: addrs}
	switch c.mode {
	case "eserver":
		s := transfer.NewSender(h)
		if err := s.Start(); err != nil {
			return fmt.Errorf("starting sender: %w", err)
		}
		defer s.Close()
		// Hashing for the offer is not timed: a sender does it once,
		// before it offers.
		o, err := transfer.NewOffer(c.file, c.chunk)
		if err != nil {
			return err
		}
		if err := s.Add(transfer.Share{Offer: o, Path: c.file, Peer: cmd.Peer}); err != nil {
			return err
		}
		msg.Offer = &o
	case "raw", "rawdirect":
		done := make(chan struct{}) // the handler's goroutine ends before we return
		var served atomic.Bool
		h.SetStreamHandler(rawProto, func(st network.Stream) {
			if !served.CompareAndSwap(false, true) {
				st.Reset() // one stream per run
				return
			}
			defer close(done)
			if err := sendRaw(st, c.file); err != nil {
				fmt.Fprintln(os.Stderr, "xferbench sender:", err)
				st.Reset()
				return
			}
			st.Close()
		})
		defer func() {
			h.RemoveStreamHandler(rawProto)
			select {
			case <-done:
			case <-time.After(time.Second):
				// Never served (the run failed elsewhere); h.Close resets.
			}
		}()
	default:
		return fmt.Errorf("unknown mode %q", c.mode)
	}
	if err := out.Encode(msg); err != nil {
		return err
	}
	waitEOF(in)
	return nil
}

func sendRaw(st network.Stream, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(st, f); err != nil {
		return fmt.Errorf("raw copy: %w", err)
	}
	return nil
}

func runReceiver(c childFlags, in *json.Decoder, out *json.Encoder) error {
	h, err := endHost(c.relay != "")
	if err != nil {
		return err
	}
	defer h.Close()
	if err := out.Encode(hello{ID: h.ID()}); err != nil {
		return err
	}
	var cmd recvCmd
	if err := in.Decode(&cmd); err != nil {
		return fmt.Errorf("reading receive command: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	if c.relay != "" {
		if _, err := connectRelay(ctx, h, c.relay); err != nil {
			return err
		}
	}
	addrs, err := parseAddrs(cmd.Addrs)
	if err != nil {
		return err
	}
	// Connecting is not timed, in any case: the measure is the transfer.
	if err := h.Connect(ctx, peer.AddrInfo{ID: cmd.Peer, Addrs: addrs}); err != nil {
		return fmt.Errorf("connecting to the sender: %w", err)
	}
	limited := func() bool {
		cs := h.Network().ConnsToPeer(cmd.Peer)
		for _, c := range cs {
			if !c.Stat().Limited {
				return false
			}
		}
		return len(cs) > 0
	}
	if c.relay != "" && !limited() {
		return errors.New("the ends are not connected through the relay alone")
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	var res resultMsg
	start := time.Now()
	switch c.mode {
	case "eserver":
		if cmd.Offer == nil {
			return errors.New("no offer")
		}
		r := &transfer.Receiver{Host: h, Chunks: &transfer.MemoryChunkMap{}}
		defer r.Close()
		path, err := r.Receive(ctx, transfer.Request{Peer: cmd.Peer, Offer: *cmd.Offer, Dir: c.dir})
		if err != nil {
			return fmt.Errorf("receiving: %w", err)
		}
		res.Nanos = time.Since(start).Nanoseconds()
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		res.Bytes = fi.Size()
	case "raw":
		n, err := receiveRaw(network.WithAllowLimitedConn(ctx, "xferbench"), h, cmd.Peer, filepath.Join(c.dir, "file.bin"))
		if err != nil {
			return err
		}
		res.Nanos = time.Since(start).Nanoseconds()
		res.Bytes = n
	case "rawdirect":
		n, err := receiveRawDirect(ctx, h, cmd.Peer, filepath.Join(c.dir, "file.bin"))
		if err != nil {
			return err
		}
		res.Nanos = time.Since(start).Nanoseconds()
		res.Bytes = n
	default:
		return fmt.Errorf("unknown mode %q", c.mode)
	}
	if res.Bytes != cmd.Size {
		return fmt.Errorf("received %d bytes of %d", res.Bytes, cmd.Size)
	}
	res.Limited = limited()
	if err := out.Encode(res); err != nil {
		return err
	}
	waitEOF(in)
	return nil
}

// receiveRaw copies one bare stream into a file, fsynced at the end like
// the receiver's, as the ceiling of a transfer over this stack.
func receiveRaw(ctx context.Context, h host.Host, p peer.ID, path string) (int64, error) {
	st, err := h.NewStream(ctx, p, rawProto)
	if err != nil {
		return 0, fmt.Errorf("opening raw stream: %w", err)
	}
	defer st.Close()
	f, err := os.Create(path)
	if err != nil {
		st.Reset()
		return 0, err
	}
	n, err := io.Copy(f, st)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		st.Reset()
		return n, fmt.Errorf("raw copy into %s: %w", path, err)
	}
	return n, nil
}

// runRelay is a supernode's relay alone: the host's resource manager sized
// as a supernode's, circuit relay v2 with the limits for ticket holders and
// the upload shaper (no cap, as a supernode whose user set none). Peers the
// coordinator names are admitted as proving a ticket would admit them.
func runRelay(in *json.Decoder, out *json.Encoder) error {
	res, err := supernode.SupernodeResources(0)
	if err != nil {
		return err
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), res)
	if err != nil {
		return fmt.Errorf("creating relay host: %w", err)
	}
	defer h.Close()
	adm := supernode.NewAdmissions(0, nil)
	rl, err := supernode.StartRelay(h, supernode.RelayConfig{Admissions: adm, AdvertisePrivate: true})
	if err != nil {
		return err
	}
	defer rl.Close()
	var addrs []string
	for _, a := range h.Addrs() {
		addrs = append(addrs, a.Encapsulate(ma.StringCast("/p2p/"+h.ID().String())).String())
	}
	if err := out.Encode(hello{ID: h.ID(), Addrs: addrs}); err != nil {
		return err
	}
	for {
		var cmd admitCmd
		if err := in.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading admit command: %w", err)
		}
		adm.Admit(cmd.Admit, time.Now().Add(time.Hour))
		if err := out.Encode(struct{}{}); err != nil {
			return err
		}
	}
}
