package soak

import (
	"fmt"
	"strconv"
	"strings"
)

// Topology is the soak's network, as data: a public segment (namespace
// "pub", where the auth server and the supernodes run) and LANs LAN
// segments, each behind its own NAT router. Lab-style addresses:
//
//	lanK 192.168.K.2 — natK (192.168.K.1 | 11.77.K.2) — pub (11.77.K.1)
//
// The routers masquerade their LAN behind their public address and drop
// what nobody inside asked for, as a home router does; the public segment
// has no route into any LAN. 11.77.0.0/16 rather than a private range
// because libp2p hole-punches only from addresses it thinks public; the
// namespaces have no link to the host's network, so nothing leaves them.
type Topology struct {
	Prefix string // namespace names start with it; unique per run (the pid)
	LANs   int    // 1…MaxLANs
	Shape  Shape  // what the WAN links suffer while faults are on
	// Relay makes each WAN link two TAP devices joined by a relay in the
	// harness (relay.go) rather than a veth pair: Build leaves those links
	// out, and Run makes them between Namespaces and Routers.
	Relay bool
}

// MaxLANs bounds the LAN count: the third octet of their addresses.
const MaxLANs = 9

// Shape is the impairment of every WAN link (both directions), as the
// issue asks: loss, reordering, duplication, delay with jitter.
type Shape struct {
	LossPct      float64
	ReorderPct   float64
	DuplicatePct float64
	DelayMs      int
	JitterMs     int
}

// DefaultShape is issue 16's: 1 % loss, 25 % reordering, 1 % duplication,
// 20–80 ms delay (50 ± 30).
var DefaultShape = Shape{LossPct: 1, ReorderPct: 25, DuplicatePct: 1, DelayMs: 50, JitterMs: 30}

// Check says what is wrong with t, or nil.
func (t Topology) Check() error {
	if t.LANs < 1 || t.LANs > MaxLANs {
		return fmt.Errorf("%w: %d LANs, want 1…%d", ErrConfig, t.LANs, MaxLANs)
	}
	// Interface names are at most 15 bytes; namespace names have no such
	// limit but stay short for ps and ip netns list.
	if t.Prefix == "" || len(t.Prefix) > 12 || strings.ContainsAny(t.Prefix, " /") {
		return fmt.Errorf("%w: namespace prefix %q: want 1…12 bytes, no space or slash", ErrConfig, t.Prefix)
	}
	s := t.Shape
	for _, p := range []float64{s.LossPct, s.ReorderPct, s.DuplicatePct} {
		if p < 0 || p > 100 {
			return fmt.Errorf("%w: shape %+v: percentages are 0…100", ErrConfig, s)
		}
	}
	if s.DelayMs < 0 || s.JitterMs < 0 || s.JitterMs > s.DelayMs {
		return fmt.Errorf("%w: shape %+v: delay ≥ jitter ≥ 0", ErrConfig, s)
	}
	return nil
}

// NS is the full name of namespace short ("pub", "nat1", "lan1", …).
func (t Topology) NS(short string) string { return t.Prefix + short }

// Namespaces are every namespace the topology makes, pub first.
func (t Topology) Namespaces() []string {
	ns := []string{t.NS("pub")}
	for k := 1; k <= t.LANs; k++ {
		ns = append(ns, t.NS("nat"+strconv.Itoa(k)), t.NS("lan"+strconv.Itoa(k)))
	}
	return ns
}

// LANNS is the namespace of LAN k (1-based), where its nodes run.
func (t Topology) LANNS(k int) string { return t.NS("lan" + strconv.Itoa(k)) }

// Gateway is the public address LAN k reaches the public segment at: the
// pub side of its router's link. The servers listen on every address of
// pub, so this is where LAN k dials them.
func (t Topology) Gateway(k int) string { return fmt.Sprintf("11.77.%d.1", k) }

// wanLink is one router's link to the public segment: pub's end and the
// router's end.
type wanLink struct{ pubNS, pubIf, natNS, natIf string }

func (t Topology) wanLinks() []wanLink {
	var ls []wanLink
	for k := 1; k <= t.LANs; k++ {
		ls = append(ls, wanLink{t.NS("pub"), "p" + strconv.Itoa(k), t.NS("nat" + strconv.Itoa(k)), "w" + strconv.Itoa(k)})
	}
	return ls
}

// Build is the commands that make the topology, in order (each an argv):
// MakeNamespaces, then Routers.
func (t Topology) Build() [][]string {
	return append(t.MakeNamespaces(), t.Routers()...)
}

// MakeNamespaces is the commands that make every namespace, loopback up.
func (t Topology) MakeNamespaces() [][]string {
	var cmds [][]string
	for _, ns := range t.Namespaces() {
		cmds = append(cmds, []string{"ip", "netns", "add", ns},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"})
	}
	return cmds
}

// WANEnds is the two ends of LAN k's WAN link with their addresses: pub's
// (the LAN's gateway) and its router's.
func (t Topology) WANEnds(k int) [2]tapEnd {
	l := t.wanLinks()[k-1]
	return [2]tapEnd{{l.pubNS, l.pubIf, fmt.Sprintf("11.77.%d.1/24", k)}, {l.natNS, l.natIf, fmt.Sprintf("11.77.%d.2/24", k)}}
}

// Routers is the commands that link the namespaces (the WAN links only
// without Relay), route, and make each router a NAT and a firewall.
func (t Topology) Routers() [][]string {
	var cmds [][]string
	in := func(ns string, args ...string) {
		cmds = append(cmds, append([]string{"ip", "netns", "exec", ns}, args...))
	}
	link := func(a, b tapEnd) {
		cmds = append(cmds, []string{"ip", "link", "add", a.ifName, "netns", a.ns, "type", "veth", "peer", "name", b.ifName, "netns", b.ns})
		in(a.ns, "ip", "addr", "add", a.addr, "dev", a.ifName)
		in(b.ns, "ip", "addr", "add", b.addr, "dev", b.ifName)
		in(a.ns, "ip", "link", "set", a.ifName, "up")
		in(b.ns, "ip", "link", "set", b.ifName, "up")
	}
	for k := 1; k <= t.LANs; k++ {
		ks := strconv.Itoa(k)
		nat, lan := t.NS("nat"+ks), t.NS("lan"+ks)
		if !t.Relay {
			wan := t.WANEnds(k)
			link(wan[0], wan[1])
		}
		link(tapEnd{nat, "l" + ks, fmt.Sprintf("192.168.%d.1/24", k)}, tapEnd{lan, "e" + ks, fmt.Sprintf("192.168.%d.2/24", k)})
		in(nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		in(nat, "ip", "route", "add", "default", "via", fmt.Sprintf("11.77.%d.1", k))
		in(lan, "ip", "route", "add", "default", "via", fmt.Sprintf("192.168.%d.1", k))
		in(nat, "nft", "add table ip nat")
		in(nat, "nft", "add chain ip nat post { type nat hook postrouting priority 100 ; }")
		in(nat, "nft", "add rule ip nat post oifname w"+ks+" masquerade")
		in(nat, "nft", "add table inet fw")
		in(nat, "nft", "add chain inet fw inbound { type filter hook input priority 0 ; }")
		in(nat, "nft", "add rule inet fw inbound iifname w"+ks+" ct state new drop")
		in(nat, "nft", "add chain inet fw through { type filter hook forward priority 0 ; }")
		in(nat, "nft", "add rule inet fw through iifname w"+ks+" ct state new drop")
	}
	cmds = append(cmds, []string{"ip", "netns", "exec", t.NS("pub"), "sysctl", "-qw", "net.ipv4.ip_forward=1"})
	return cmds
}

// Teardown is the commands that remove everything Build made. Deleting a
// namespace deletes its veth ends, its nftables rules and its qdiscs (a
// relayed link's TAP devices go when the harness closes them); a
// command that fails (the namespace was never made) is harmless.
func (t Topology) Teardown() [][]string {
	var cmds [][]string
	for _, ns := range t.Namespaces() {
		cmds = append(cmds, []string{"ip", "netns", "del", ns})
	}
	return cmds
}

// Netem is the commands that shape every WAN link, both ends (each end
// shapes what it sends), with the kernel's netem qdisc.
func (t Topology) Netem() [][]string {
	s := t.Shape
	args := []string{"netem", "delay", fmt.Sprintf("%dms", s.DelayMs), fmt.Sprintf("%dms", s.JitterMs),
		"loss", pct(s.LossPct), "duplicate", pct(s.DuplicatePct)}
	if s.ReorderPct > 0 {
		args = append(args, "reorder", pct(s.ReorderPct), "50%")
	}
	var cmds [][]string
	for _, l := range t.wanLinks() {
		for _, end := range [][2]string{{l.pubNS, l.pubIf}, {l.natNS, l.natIf}} {
			cmds = append(cmds, append([]string{"ip", "netns", "exec", end[0], "tc", "qdisc", "replace", "dev", end[1], "root"}, args...))
		}
	}
	return cmds
}

// NftShape is the fallback where the kernel has no netem (a minimal VM
// kernel): on each WAN end nftables drops LossPct of what arrives and, with
// dup (the egress hook needs Linux 5.16), duplicates DuplicatePct of what
// leaves. A copy passes the egress hook again and may be copied again, so
// the rate is p/(1-p): 1.01 % for 1 %. Delay and reordering have no
// nftables equivalent; Run says so.
func (t Topology) NftShape(dup bool) [][]string {
	var cmds [][]string
	// numgen gives 0…9999: basis points keep fractional percentages.
	lossBP := int(t.Shape.LossPct*100 + 0.5)
	dupBP := int(t.Shape.DuplicatePct*100 + 0.5)
	for _, l := range t.wanLinks() {
		for _, end := range [][2]string{{l.pubNS, l.pubIf}, {l.natNS, l.natIf}} {
			in := func(rule string) {
				cmds = append(cmds, []string{"ip", "netns", "exec", end[0], "nft", rule})
			}
			in("add table netdev soak" + end[1])
			in(fmt.Sprintf("add chain netdev soak%s in { type filter hook ingress device %q priority 0 ; }", end[1], end[1]))
			in(fmt.Sprintf("add rule netdev soak%s in numgen random mod 10000 < %d counter drop", end[1], lossBP))
			if dup && dupBP > 0 {
				in(fmt.Sprintf("add chain netdev soak%s out { type filter hook egress device %q priority 0 ; }", end[1], end[1]))
				in(fmt.Sprintf("add rule netdev soak%s out numgen random mod 10000 < %d dup to %q", end[1], dupBP, end[1]))
			}
		}
	}
	return cmds
}

// NftCounters is the commands that list the nftables loss rules (their
// counters), one per WAN end.
func (t Topology) NftCounters() [][]string {
	var cmds [][]string
	for _, l := range t.wanLinks() {
		for _, end := range [][2]string{{l.pubNS, l.pubIf}, {l.natNS, l.natIf}} {
			cmds = append(cmds, []string{"ip", "netns", "exec", end[0], "nft", "list table netdev soak" + end[1]})
		}
	}
	return cmds
}

// CounterPackets sums the "counter packets N" of an nft listing.
func CounterPackets(listing string) int {
	n := 0
	f := strings.Fields(listing)
	for i := 0; i+2 < len(f); i++ {
		if f[i] == "counter" && f[i+1] == "packets" {
			if v, err := strconv.Atoi(f[i+2]); err == nil && v >= 0 && n+v >= n {
				n += v
			}
		}
	}
	return n
}

// Heal is the commands that lift every impairment Netem, NftShape or
// Partition put on (a command for one that was not there fails
// harmlessly).
func (t Topology) Heal() [][]string {
	var cmds [][]string
	for k := 1; k <= t.LANs; k++ {
		cmds = append(cmds, t.Unpartition(k)...)
	}
	for _, l := range t.wanLinks() {
		for _, end := range [][2]string{{l.pubNS, l.pubIf}, {l.natNS, l.natIf}} {
			cmds = append(cmds,
				[]string{"ip", "netns", "exec", end[0], "tc", "qdisc", "del", "dev", end[1], "root"},
				[]string{"ip", "netns", "exec", end[0], "nft", "delete table netdev soak" + end[1]})
		}
	}
	return cmds
}

func pct(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) + "%" }

// Partition is the commands that cut LAN k off from the rest: its router
// forwards nothing more between the LAN and the public segment (the LAN's
// nodes still reach one another). Unpartition lifts it.
func (t Topology) Partition(k int) [][]string {
	nat := t.NS("nat" + strconv.Itoa(k))
	return [][]string{
		{"ip", "netns", "exec", nat, "nft", "add table inet cut"},
		{"ip", "netns", "exec", nat, "nft", "add chain inet cut through { type filter hook forward priority -10 ; policy drop ; }"},
	}
}

// Unpartition is the commands that lift Partition(k).
func (t Topology) Unpartition(k int) [][]string {
	return [][]string{{"ip", "netns", "exec", t.NS("nat" + strconv.Itoa(k)), "nft", "delete table inet cut"}}
}
