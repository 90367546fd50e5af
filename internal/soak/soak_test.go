package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestCheckCounts(t *testing.T) {
	sent := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct {
		name    string
		history []string
		want    Counts
	}{
		{"all there, in order", []string{"a", "b", "c", "d", "e"}, Counts{Sent: 5, Delivered: 5}},
		{"a loss", []string{"a", "b", "d", "e"}, Counts{Sent: 5, Delivered: 4, Lost: 1}},
		{"a duplicate", []string{"a", "b", "b", "c", "d", "e"}, Counts{Sent: 5, Delivered: 5, Duplicated: 1}},
		{"a late duplicate is not a reorder", []string{"a", "b", "c", "d", "e", "a"}, Counts{Sent: 5, Delivered: 5, Duplicated: 1}},
		{"a reorder: one overtaken by two", []string{"a", "c", "d", "b", "e"}, Counts{Sent: 5, Delivered: 5, OutOfOrder: 1}},
		{"two swapped pairs", []string{"b", "a", "d", "c", "e"}, Counts{Sent: 5, Delivered: 5, OutOfOrder: 2}},
		{"rotated: the moved part counts once each", []string{"d", "e", "a", "b", "c"}, Counts{Sent: 5, Delivered: 5, OutOfOrder: 3}},
		{"nothing arrived", nil, Counts{Sent: 5, Lost: 5}},
		{"one of each, and a stranger", []string{"a", "x", "c", "b", "c", "e"}, Counts{Sent: 5, Delivered: 4, Lost: 1, Duplicated: 1, OutOfOrder: 1, Unexpected: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(sent, tc.history)
			if got != tc.want {
				t.Fatalf("Check(%v) = %+v, want %+v", tc.history, got, tc.want)
			}
			if got.Clean() != (tc.want.Lost == 0 && tc.want.Duplicated == 0 && tc.want.OutOfOrder == 0) {
				t.Fatalf("Clean() = %v for %+v", got.Clean(), got)
			}
		})
	}
	sum := Check(sent, []string{"a"}).Add(Check([]string{"z"}, []string{"z", "z"}))
	if want := (Counts{Sent: 6, Delivered: 2, Lost: 4, Duplicated: 1}); sum != want {
		t.Fatalf("Add: %+v, want %+v", sum, want)
	}
}

func TestTopologyCheck(t *testing.T) {
	ok := Topology{Prefix: "sk1-", LANs: 3, Shape: DefaultShape}
	for _, tc := range []struct {
		name string
		edit func(*Topology)
		bad  bool
	}{
		{"default", func(*Topology) {}, false},
		{"no LAN", func(t *Topology) { t.LANs = 0 }, true},
		{"too many LANs", func(t *Topology) { t.LANs = MaxLANs + 1 }, true},
		{"no prefix", func(t *Topology) { t.Prefix = "" }, true},
		{"long prefix", func(t *Topology) { t.Prefix = "a-very-long-prefix" }, true},
		{"slash in prefix", func(t *Topology) { t.Prefix = "a/b" }, true},
		{"loss over 100", func(t *Topology) { t.Shape.LossPct = 101 }, true},
		{"jitter over delay", func(t *Topology) { t.Shape.JitterMs = t.Shape.DelayMs + 1 }, true},
		{"no impairment", func(t *Topology) { t.Shape = Shape{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := ok
			tc.edit(&top)
			err := top.Check()
			if tc.bad != (err != nil) || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Check() = %v, want bad=%v (ErrConfig)", err, tc.bad)
			}
		})
	}
}

// TestTopologySpec holds the commands to the layout: every namespace made
// is torn down, interface names fit the kernel's 15 bytes, each router
// masquerades its LAN and drops unasked-for traffic, and shaping and
// healing cover both ends of every WAN link.
func TestTopologySpec(t *testing.T) {
	top := Topology{Prefix: "sk99-", LANs: 3, Shape: DefaultShape}
	build := top.Build()
	var made []string
	joined := make([]string, len(build))
	for i, c := range build {
		joined[i] = strings.Join(c, " ")
		if len(c) == 4 && c[1] == "netns" && c[2] == "add" {
			made = append(made, c[3])
		}
		if c[0] == "ip" && c[1] == "link" && c[2] == "add" {
			for _, ifn := range []string{c[3], c[9]} {
				if len(ifn) > 15 {
					t.Errorf("interface name %q is over 15 bytes", ifn)
				}
			}
		}
	}
	if want := top.Namespaces(); !slices.Equal(made, want) || len(want) != 1+2*3 {
		t.Fatalf("namespaces made %v, want %v (pub + a router and a LAN each)", made, want)
	}
	var torn []string
	for _, c := range top.Teardown() {
		torn = append(torn, c[len(c)-1])
	}
	if !slices.Equal(torn, made) {
		t.Fatalf("teardown removes %v, made %v", torn, made)
	}
	all := strings.Join(joined, "\n")
	for k, want := range []string{
		"ip netns exec sk99-nat1 nft add rule ip nat post oifname w1 masquerade",
		"ip netns exec sk99-nat3 nft add rule inet fw through iifname w3 ct state new drop",
		"ip netns exec sk99-lan2 ip route add default via 192.168.2.1",
		"ip netns exec sk99-pub ip addr add 11.77.3.1/24 dev p3",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("%d: build lacks %q", k, want)
		}
	}
	if top.Gateway(2) != "11.77.2.1" || top.LANNS(2) != "sk99-lan2" {
		t.Fatalf("gateway %s, LAN namespace %s", top.Gateway(2), top.LANNS(2))
	}

	netem := top.Netem()
	if len(netem) != 2*3 {
		t.Fatalf("netem shapes %d ends, want 6", len(netem))
	}
	if got := strings.Join(netem[0], " "); got != "ip netns exec sk99-pub tc qdisc replace dev p1 root netem delay 50ms 30ms loss 1% duplicate 1% reorder 25% 50%" {
		t.Fatalf("netem command %q", got)
	}
	if got := strings.Join(netem[5], " "); !strings.HasPrefix(got, "ip netns exec sk99-nat3 tc qdisc replace dev w3 root netem") {
		t.Fatalf("last netem command %q", got)
	}
	loss := top.NftShape(false)
	if len(loss) != 3*2*3 || !strings.Contains(strings.Join(loss[2], " "), "numgen random mod 10000 < 100 counter drop") {
		t.Fatalf("nftables loss: %d commands, third %q", len(loss), loss[2])
	}
	both := top.NftShape(true)
	if len(both) != 5*2*3 || strings.Join(both[4], " ") != `ip netns exec sk99-pub nft add rule netdev soakp1 out numgen random mod 10000 < 100 dup to "p1"` {
		t.Fatalf("nftables loss and duplication: %d commands, fifth %q", len(both), both[4])
	}
	top0 := top
	top0.Shape.DuplicatePct = 0
	if len(top0.NftShape(true)) != 3*2*3 {
		t.Fatalf("no duplication asked, but a dup rule made")
	}
	if heal := top.Heal(); len(heal) != 3+2*2*3 {
		t.Fatalf("heal has %d commands, want each partition lifted and a qdisc and a table removed per end", len(heal))
	}
	cut := top.Partition(2)
	if len(cut) != 2 || strings.Join(cut[1], " ") != "ip netns exec sk99-nat2 nft add chain inet cut through { type filter hook forward priority -10 ; policy drop ; }" {
		t.Fatalf("partition of LAN 2: %q", cut)
	}
	if un := top.Unpartition(2); len(un) != 1 || strings.Join(un[0], " ") != "ip netns exec sk99-nat2 nft delete table inet cut" {
		t.Fatalf("unpartition of LAN 2: %q", un)
	}
	if len(top.NftCounters()) != 6 {
		t.Fatalf("counters listed for %d ends", len(top.NftCounters()))
	}
}

func TestCounterPackets(t *testing.T) {
	listing := `table netdev soakp1 {
	chain in {
		type filter hook ingress device "p1" priority filter; policy accept;
		numgen random mod 10000 < 100 counter packets 7 bytes 420 drop
		numgen random mod 10000 < 100 counter packets 5 bytes 300 drop
	}
}`
	for _, tc := range []struct {
		in   string
		want int
	}{{listing, 12}, {"", 0}, {"counter packets", 0}, {"counter packets x bytes 1", 0}} {
		if got := CounterPackets(tc.in); got != tc.want {
			t.Errorf("CounterPackets(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestPairs(t *testing.T) {
	for _, nodes := range []int{2, 3, 12, 60} {
		ps := Pairs(nodes, rand.New(rand.NewPCG(7, 2)))
		in := make([]bool, nodes)
		seen := map[[2]int]bool{}
		for _, p := range ps {
			if p[0] >= p[1] || p[1] >= nodes || seen[p] {
				t.Fatalf("%d nodes: bad or repeated pair %v in %v", nodes, p, ps)
			}
			seen[p] = true
			in[p[0]], in[p[1]] = true, true
		}
		if slices.Contains(in, false) {
			t.Fatalf("%d nodes: a node in no pair: %v", nodes, ps)
		}
		if again := Pairs(nodes, rand.New(rand.NewPCG(7, 2))); !slices.Equal(again, ps) {
			t.Fatalf("%d nodes: the same seed gave other pairs", nodes)
		}
	}
}

// TestRunRefuses: without root Run says so; as root, a bad configuration
// is refused before anything is made.
func TestRunRefuses(t *testing.T) {
	if os.Geteuid() != 0 {
		if _, err := Run(context.Background(), Config{Bin: t.TempDir()}); !errors.Is(err, ErrNotRoot) {
			t.Fatalf("Run without root: %v, want ErrNotRoot", err)
		}
		return
	}
	for _, cfg := range []Config{
		{},                                 // no binaries
		{Bin: t.TempDir()},                 // binaries missing
		{Bin: t.TempDir(), Nodes: 1},       // too few nodes
		{Bin: t.TempDir(), Nodes: 61},      // too many
		{Bin: t.TempDir(), Messages: -1},   // nothing to send
		{Bin: t.TempDir(), Rate: -1},       // no pace
		{Bin: t.TempDir(), Supernodes: -1}, // no supernode
	} {
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Run(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

func TestResultLine(t *testing.T) {
	r := Result{Counts: Counts{Sent: 3, Delivered: 2, Lost: 1}, InRooms: 1, ByMail: 1, Faults: Faults{SupernodeKills: 2, NodeKills: 3, NodeOffline: 1, Shaping: "netem"}, Seed: 9}
	line := r.Line()
	for _, want := range []string{"sent 3 (1 in rooms)", "delivered 2 (1 by mail)", "lost 1", "duplicated 0", "out of order 0", "faults 7", "supernode kills 2", "node kills 3", "seed 9"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "\n") {
		t.Fatalf("line %q is not one line", line)
	}
	r.Refused, r.RefusedBy = 5, map[string]int{"room busy": 2, "node down": 3}
	if line := r.Line(); !strings.Contains(line, "refused 5 (node down 3, room busy 2), unexpected 0") {
		t.Errorf("line %q does not say why sends were refused", line)
	}
}

func TestRefusal(t *testing.T) {
	room, chat := Conv{From: "u1", To: roomPrefix + "r"}, Conv{From: "u1", To: "u2"}
	for _, tc := range []struct {
		c    Conv
		err  error
		want string
	}{
		{chat, errNodeDown, "node down"},
		{room, fmt.Errorf("after tries: %w", errNodeDown), "node down"},
		{room, &RPCError{Method: "roomSend", Code: "busy"}, "room busy"},
		{chat, &RPCError{Method: "send", Code: "not_contact"}, "chat not_contact"},
		{chat, errors.New("send answered no messageId"), "chat other"},
	} {
		if got := refusal(tc.c, tc.err); got != tc.want {
			t.Errorf("refusal(%v, %v) = %q, want %q", tc.c, tc.err, got, tc.want)
		}
	}
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line    string
		wantErr bool
		id      int // -1: a notification
		code    string
		count   int64
	}{
		{`{"jsonrpc":"2.0","id":3,"result":{"messageId":"ab"}}`, false, 3, "", 0},
		{`{"jsonrpc":"2.0","id":4,"error":{"code":-32000,"message":"no","data":{"code":"not_contact"}}}`, false, 4, "not_contact", 0},
		{`{"jsonrpc":"2.0","method":"offlineMessages","params":{"count":5,"from":["a"]}}`, false, -1, "", 5},
		{`{"jsonrpc":"2.0","method":"roomMessage","params":{"room":"r1","id":"m1","from":"u1","text":"t","time":"2026-12-07T02:00:00Z"}}`, false, -1, "", 0},
		{`{"jsonrpc":"2.0"}`, true, 0, "", 0},
		{`not json`, true, 0, "", 0},
		{`{"id":"x"}`, true, 0, "", 0},
	} {
		m, err := parseLine([]byte(tc.line))
		if (err != nil) != tc.wantErr {
			t.Fatalf("parseLine(%s): %v, want error %v", tc.line, err, tc.wantErr)
		}
		if err != nil {
			continue
		}
		if (tc.id < 0) != (m.ID == nil) || (m.ID != nil && *m.ID != tc.id) {
			t.Fatalf("parseLine(%s): id %v, want %d", tc.line, m.ID, tc.id)
		}
		if code := ""; m.Error != nil {
			code = m.Error.Data.Code
			if code != tc.code {
				t.Fatalf("parseLine(%s): code %q, want %q", tc.line, code, tc.code)
			}
		} else if tc.code != "" {
			t.Fatalf("parseLine(%s): no error, want %q", tc.line, tc.code)
		}
		if m.Params.Count != tc.count {
			t.Fatalf("parseLine(%s): count %d, want %d", tc.line, m.Params.Count, tc.count)
		}
		if p := m.Params; m.Method == "roomMessage" && (p.Room != "r1" || p.ID != "m1" || p.From != "u1" || p.Time != "2026-12-07T02:00:00Z") {
			t.Fatalf("parseLine(%s): room message %+v", tc.line, p)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":3,"result":{}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"offlineMessages","params":{"count":5}}`))
	f.Add([]byte(`{"id":1,"error":{"message":"x","data":{"code":"y"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseLine(b)
		if err == nil && m.ID == nil && m.Method == "" {
			t.Fatalf("parseLine(%q) accepted a line that is neither a response nor a notification", b)
		}
	})
}

func FuzzCounterPackets(f *testing.F) {
	f.Add("numgen random mod 10000 < 100 counter packets 7 bytes 420 drop")
	f.Add("counter packets 9223372036854775807 counter packets 9223372036854775807")
	f.Add("counter packets -3")
	f.Fuzz(func(t *testing.T, s string) {
		if n := CounterPackets(s); n < 0 {
			t.Fatalf("CounterPackets(%q) = %d, negative", s, n)
		}
	})
}

// TestCallToKilledDaemon: a send to a daemon the harness killed — before
// the call, or under it — is the node being away, not a refusal to look
// into.
func TestCallToKilledDaemon(t *testing.T) {
	for _, tc := range []struct {
		name       string
		closeInput bool // the pipe to the daemon closed as well
	}{
		{"killed before the call", true},
		{"killed under the call", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pr.Close()
			if tc.closeInput {
				pw.Close()
			} else {
				go io.Copy(io.Discard, pr) // the request is read, never answered
			}
			p := &proc{done: make(chan struct{}), err: errors.New("signal: killed")}
			close(p.done)
			d := &daemon{p: p, in: pw, res: map[int]chan rpcAnswer{}}
			err := d.call(t.Context(), "send", map[string]any{"to": "u2"}, nil)
			if got := refusal(Conv{From: "u1", To: "u2"}, err); got != "node down" {
				t.Errorf("call to a killed daemon: %v, counted as %q, want \"node down\"", err, got)
			}
		})
	}
}

// TestLogLines: a lost message's lines are found in every process's log,
// a member's copy (ID~member) too, each named by its file, and no more
// than asked for.
func TestLogLines(t *testing.T) {
	s := &run{dir: t.TempDir()}
	write := func(name, text string) {
		if err := os.WriteFile(s.dir+"/"+name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("user1.log", "level=INFO msg=other id=zzz\nlevel=WARN msg=\"delivery refused for good\" id=abc~user2 error=not_member\n")
	write("user2.log", "level=INFO msg=kept id=abc\n")
	write("notes.txt", "abc\n") // not a log
	got := s.logLines("abc", 10)
	want := []string{
		`user1.log: level=WARN msg="delivery refused for good" id=abc~user2 error=not_member`,
		"user2.log: level=INFO msg=kept id=abc",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := s.logLines("abc", 1); len(got) != 2 || got[1] != "…" {
		t.Fatalf("bounded to 1: %q", got)
	}
}
