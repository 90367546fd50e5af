// Command benchtable reads `go test -bench` output on stdin and prints the
// table `make bench` shows: each measured operation beside its baseline from
// the same run, as a ratio, so results compare across machines.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// pairs names each benchmark and the baseline it is judged against.
var pairs = []struct{ what, bench, baseline string }{
	{"chat round trip vs raw libp2p stream echo", "BenchmarkChatRoundTrip", "BenchmarkRawStreamEcho"},
	{"E2E v1 seal+open vs bare XChaCha20-Poly1305", "BenchmarkSealOpen", "BenchmarkBareXChaCha20Poly1305"},
	{"ratchet encrypt+decrypt 256 B vs bare AEAD", "BenchmarkRatchetEncryptDecrypt/256B", "BenchmarkBareXChaCha20Poly1305/256B"},
	{"ratchet session start vs bare AEAD 256 B", "BenchmarkSessionStart/last-resort", "BenchmarkBareXChaCha20Poly1305/256B"},
	{"live stream vs raw stream, 256 KiB writes", "BenchmarkLiveStream/write=262144", "BenchmarkRawStream/write=262144"},
	{"live stream vs raw stream, 4 KiB writes", "BenchmarkLiveStream/write=4096", "BenchmarkRawStream/write=4096"},
	{"file transfer 256 MiB vs raw stream into a file", "BenchmarkTransfer/chunk=256KiB", "BenchmarkRawStreamCopy/file"},
	{"load 1,000 contacts from the store vs none", "BenchmarkLoadContacts/n=1000", "BenchmarkLoadContacts/n=0"},
	{"app start to a 1,000-contact list vs empty list", "BenchmarkStartContactList/contacts=1000", "BenchmarkStartContactList/contacts=0"},
	{"presence lookup of 50 contacts vs ping, same supernode", "BenchmarkPresenceLookup/lookup50", "BenchmarkPresenceLookup/ping"},
}

// rates are benchmarks also shown as operations per second.
var rates = []struct{ what, bench string }{
	{"logins per second (OPAQUE + ticket, real host)", "BenchmarkLogin"},
}

func main() {
	ns := map[string]float64{}
	metrics := map[string]map[string]float64{} // name → unit → value, every unit of a line
	sc := bufio.NewScanner(os.Stdin)
	pending := "" // a benchmark name whose result a log line pushed to the next line
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") && (len(f) < 4 || f[3] != "ns/op") {
			pending = f[0]
			continue
		}
		if len(f) >= 3 && pending != "" && f[2] == "ns/op" {
			f = append([]string{pending}, f...)
		}
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		pending = ""
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // drop the -GOMAXPROCS suffix
		}
		if v, err := strconv.ParseFloat(f[2], 64); err == nil {
			ns[name] = v
		}
		metrics[name] = map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				metrics[name][f[i+1]] = v
			}
		}
	}
	fmt.Println()
	fmt.Printf("%-48s %14s %14s %10s\n", "measure", "op", "baseline", "ratio")
	for _, p := range pairs {
		a, okA := ns[p.bench]
		b, okB := ns[p.baseline]
		if !okA || !okB {
			fmt.Printf("%-48s %14s\n", p.what, "(not run)")
			continue
		}
		fmt.Printf("%-48s %14s %14s %9.1fx\n", p.what, dur(a), dur(b), a/b)
	}
	for _, r := range rates {
		if v, ok := ns[r.bench]; ok {
			fmt.Printf("%-48s %14.1f/s\n", r.what, 1e9/v)
		}
	}
	messageTable(metrics)
	supernodeTable(metrics)
	roomTable(metrics)
	historyTable(metrics)
	callTable(metrics)
	xferTable(metrics)
	frameTable(metrics)
	memTable(metrics)
}

// messageTable prints the message path against the floor of a durable
// message measured in the same run (node's BenchmarkChatRoundTrip, which
// measures the floor itself: two fdatasyncs of a 200-byte write on the
// store's file system plus a raw echo), and the burst rate
// (BenchmarkChatBurst), when they ran. Targets: p50 ≤ 1.5×, p99 ≤ 3×,
// burst ≥ 10,000/s.
func messageTable(m map[string]map[string]float64) {
	rt, ok := m["BenchmarkChatRoundTrip"]
	if !ok || rt["floor-ns"] == 0 {
		return
	}
	fmt.Printf("\nmessage path vs the floor of a durable message (2 fdatasyncs + raw echo, %s here)\n", dur(rt["floor-ns"]))
	fmt.Printf("%-48s %14s %10s %10s\n", "measure", "op", "ratio", "target")
	fmt.Printf("%-48s %14s %9.1fx %10s\n", "chat round trip p50", dur(rt["p50-ns"]), rt["p50/floor"], "1.5x")
	fmt.Printf("%-48s %14s %9.1fx %10s\n", "chat round trip p99", dur(rt["p99-ns"]), rt["p99/floor"], "3x")
	if v, ok := m["BenchmarkDurabilityFloor/sqlite-row"]; ok {
		if f, ok := m["BenchmarkDurabilityFloor/fdatasync"]; ok {
			fmt.Printf("%-48s %14s %9.1fx\n", "one-row SQLite commit vs one fdatasync", dur(ns(v)), ns(v)/ns(f))
		}
	}
	if b, ok := m["BenchmarkChatBurst"]; ok {
		fmt.Printf("%-48s %12.0f/s %10s %10s\n", "burst of 10,000 to one contact, all acked", b["msgs/s"], "", "10000/s")
	}
}

// callTable prints a voice call's latency from the sender's capture to the
// receiver's playout (node's BenchmarkCallLatency, device buffers
// excluded) beside half the libp2p ping round trip over the same
// connection in the same run, and its cost, when it ran. Targets: p95
// under 60 ms direct on loopback, under 1 % of a core per side.
func callTable(m map[string]map[string]float64) {
	const bench = "BenchmarkCallLatency/"
	if len(m[bench+"direct"]) == 0 && len(m[bench+"relayed"]) == 0 {
		return
	}
	fmt.Printf("\nvoice call, capture to playout vs ping/2 over the same connection (targets: p95 < 60 ms direct, < 1 %% core/side)\n")
	fmt.Printf("%-10s %9s %9s %9s %12s %12s %8s %11s %11s %11s\n", "case", "p50", "p95", "ping/2", "p50-ping/2", "p95-ping/2", "late", "stream B/s", "relay B/s", "core/side")
	for _, c := range []string{"direct", "relayed"} {
		v, ok := m[bench+c]
		if !ok {
			fmt.Printf("%-10s %9s\n", c, "(not run)")
			continue
		}
		relay := "-"
		if r, ok := v["relay-B/s"]; ok {
			relay = fmt.Sprintf("%.0f", r)
		}
		fmt.Printf("%-10s %6.1f ms %6.1f ms %6.2f ms %9.1f ms %9.1f ms %6.2f %% %11.0f %11s %9.2f %%\n", c,
			v["p50-ms"], v["p95-ms"], v["oneway-ms"], v["added-p50-ms"], v["added-p95-ms"], v["late-%"], v["stream-B/s"], relay, v["core%/side"])
	}
}

// ns is a benchmark line's ns/op.
func ns(v map[string]float64) float64 { return v["ns/op"] }

// frameTable prints the partial-frame attack's cost in resident memory
// (internal/attack/framebench), when it ran: target peak − before ≤ 100 MB
// at 600 streams from 20 peers.
func frameTable(m map[string]map[string]float64) {
	const bench = "BenchmarkFrameAttack/"
	if len(m[bench+"supernode"]) == 0 {
		return
	}
	fmt.Printf("\npartial-frame attack, RSS of the server (MB)\n")
	fmt.Printf("%-12s %8s %10s %10s %10s %12s %12s\n", "server", "streams", "before", "peak", "after", "peak-before", "claimed")
	for _, role := range []string{"supernode", "auth"} {
		r, ok := m[bench+role]
		if !ok {
			continue
		}
		fmt.Printf("%-12s %8.0f %10.1f %10.1f %10.1f %12.1f %12.1f\n", role, r["streams"], r["MB-before"], r["MB-peak"], r["MB-after"], r["MB-peak"]-r["MB-before"], r["MB-claimed"])
	}
}

// historyRows are node/store's BenchmarkHistorySearch: one page of hits,
// newest first, from a million messages beside the same query on an empty
// database in the same run.
var historyRows = []struct{ what, query string }{
	{"rare word (10 hits)", "rare"},
	{"common word (1 message in 4)", "common"},
	{"prefix of a common word", "prefix"},
	{"common word, one contact's messages", "common+contact"},
}

// historyTable prints the third table, when the search benchmark ran.
func historyTable(m map[string]map[string]float64) {
	const bench = "BenchmarkHistorySearch/"
	if len(m[bench+"1M/rare"]) == 0 && len(m[bench+"build"]) == 0 {
		return
	}
	fmt.Printf("\nhistory search, 1M messages vs an empty database (p50 / p95 of one page of 50)\n")
	fmt.Printf("%-48s %14s %14s %10s\n", "measure", "1M", "empty", "ratio")
	if r, ok := m[bench+"build"]["msgs/s"]; ok {
		fmt.Printf("%-48s %12.0f/s\n", "insert rate building it (batches of 1,000)", r)
	}
	// BenchmarkHistoryInsert: batches return once their rows are durable;
	// the index follows (node/store/indexer.go).
	if r, ok := m["BenchmarkHistoryInsert"]; ok {
		fmt.Printf("%-48s %12.0f/s\n", "insert rate, rows durable (batches of 1,000)", r["msgs/s"])
		fmt.Printf("%-48s %12.0f/s\n", "insert rate, until indexed", r["indexed-msgs/s"])
	}
	for _, r := range historyRows {
		full, empty := m[bench+"1M/"+r.query], m[bench+"empty/"+r.query]
		for _, p := range []string{"p50", "p95"} {
			what := r.what + " " + p
			a, okA := full[p+"-ns"]
			b, okB := empty[p+"-ns"]
			if !okA || !okB {
				fmt.Printf("%-48s %14s\n", what, "(not run)")
				continue
			}
			fmt.Printf("%-48s %14s %14s %9.0fx\n", what, dur(a), dur(b), a/b)
		}
	}
}

// xferRows are the cases of node/cmd/xferbench (one file moved several ways,
// each end in its own process) and what each is compared with: the ratio
// is of throughput (MB/s), bench over baseline.
var xferRows = []struct{ what, bench, baseline, ratio string }{
	{"EServer, direct", "BenchmarkXferEServer", "", ""},
	{"raw libp2p stream into a file", "BenchmarkXferRawStreamToFile", "BenchmarkXferEServer", "EServer/raw"},
	{"raw stream, direct writes", "BenchmarkXferRawStreamDirect", "BenchmarkXferEServer", "EServer/raw-direct"},
	{"croc v10 via a local croc relay", "BenchmarkXferCroc", "BenchmarkXferEServer", "EServer/croc"},
	{"EServer via a supernode relay", "BenchmarkXferEServerRelayed", "BenchmarkXferEServer", "relayed/direct"},
}

// xferTable prints the fourth table, when xferbench's lines were read: the
// throughput of each case, its ratio and every process's peak RSS and CPU
// time.
func xferTable(m map[string]map[string]float64) {
	es, ok := m[xferRows[0].bench]
	if !ok {
		return
	}
	fmt.Printf("\nfile transfer (xferbench), %.0f MiB, each end in its own process\n", es["bytes"]/(1<<20))
	fmt.Printf("%-34s %10s %22s %12s %12s %12s  %s\n", "case", "MB/s", "ratio", "sender RSS", "receiver RSS", "relay RSS", "CPU s: sender/recv/relay")
	for _, r := range xferRows {
		v, ok := m[r.bench]
		if !ok {
			fmt.Printf("%-34s %10s\n", r.what, "(not run)")
			continue
		}
		ratio := ""
		if b, ok := m[r.baseline]; ok && v["MB/s"] > 0 {
			q := b["MB/s"] / v["MB/s"] // EServer over this case
			if r.bench == "BenchmarkXferEServerRelayed" {
				q = v["MB/s"] / b["MB/s"]
			}
			ratio = fmt.Sprintf("%s %.2fx", r.ratio, q)
		}
		fmt.Printf("%-34s %10.1f %22s", r.what, v["MB/s"], ratio)
		var cpu []string
		for _, role := range []string{"sender", "receiver", "relay"} {
			if b, ok := v[role+"-peak-B"]; ok {
				fmt.Printf(" %8.1f MiB", b/(1<<20))
			} else {
				fmt.Printf(" %12s", "-")
			}
			if c, ok := v[role+"-cpu-s"]; ok {
				cpu = append(cpu, fmt.Sprintf("%.2f", c))
			} else {
				cpu = append(cpu, "-")
			}
		}
		fmt.Printf("  %s\n", strings.Join(cpu, " / "))
	}
}

// snRows are the figures of supernode/cmd/snbench (one supernode under N
// simulated nodes), each beside its baseline from the same run. unit is the
// metric compared; rate rows show operations per second (1e9 / ns/op) and
// their ratio.
var snRows = []struct{ what, bench, baseline, unit string }{
	{"RSS per connected node vs bare libp2p host", "BenchmarkSNRSSPerNode", "BenchmarkSNBareRSSPerNode", "B/node"},
	{"RSS per connected+published node vs bare host", "BenchmarkSNRSSPerPublishedNode", "BenchmarkSNBareRSSPerNode", "B/node"},
	{"publish (all N, per node) vs ping p50", "BenchmarkSNPublishPerNode", "BenchmarkSNPingP50", "ns/op"},
	{"lookup of 50 contacts p50 vs ping p50", "BenchmarkSNLookupP50", "BenchmarkSNPingP50", "ns/op"},
	{"lookup of 50 contacts p99 vs ping p99", "BenchmarkSNLookupP99", "BenchmarkSNPingP99", "ns/op"},
	{"mailbox put p50 vs ping p50", "BenchmarkSNMailPutP50", "BenchmarkSNPingP50", "ns/op"},
	{"mailbox put p99 vs ping p99", "BenchmarkSNMailPutP99", "BenchmarkSNPingP99", "ns/op"},
	{"mailbox puts per second", "BenchmarkSNMailPut", "", "/s"},
	{"mailbox fetch+ack p50 vs ping p50", "BenchmarkSNMailFetchAckP50", "BenchmarkSNPingP50", "ns/op"},
	{"mailbox fetch+ack p99 vs ping p99", "BenchmarkSNMailFetchAckP99", "BenchmarkSNPingP99", "ns/op"},
	{"mailbox fetch+acks per second", "BenchmarkSNMailFetchAck", "", "/s"},
	{"relayed message p50 vs direct", "BenchmarkSNRelayMsgP50", "BenchmarkSNDirectMsgP50", "ns/op"},
	{"relayed message p99 vs direct", "BenchmarkSNRelayMsgP99", "BenchmarkSNDirectMsgP99", "ns/op"},
	{"relayed messages per second vs direct", "BenchmarkSNRelayMsg", "BenchmarkSNDirectMsg", "/s"},
	{"relayed transfer throughput vs direct", "BenchmarkSNRelayTransfer", "BenchmarkSNDirectTransfer", "MB/s"},
}

// supernodeTable prints the second table, when snbench's lines were read.
func supernodeTable(m map[string]map[string]float64) {
	first, ok := m[snRows[0].bench]
	if !ok {
		return
	}
	fmt.Printf("\nsupernode under %.0f simulated nodes\n", first["nodes"])
	fmt.Printf("%-48s %14s %14s %10s\n", "measure", "op", "baseline", "ratio")
	for _, r := range snRows {
		unit := r.unit
		if unit == "/s" {
			unit = "ns/op"
		}
		a, okA := m[r.bench][unit]
		b, okB := m[r.baseline][unit]
		if !okA {
			fmt.Printf("%-48s %14s\n", r.what, "(not run)")
			continue
		}
		if r.unit == "/s" {
			a, b = 1e9/a, 1e9/b
		}
		if !okB {
			fmt.Printf("%-48s %14s\n", r.what, snFormat(r.unit, a))
			continue
		}
		fmt.Printf("%-48s %14s %14s %9.2fx\n", r.what, snFormat(r.unit, a), snFormat(r.unit, b), a/b)
	}
}

// roomRows are the figures of supernode/cmd/roombench (one room of N
// members at its homes), each beside the ping to the homes measured during
// the same sends.
var roomRows = []struct{ what, bench, baseline string }{
	{"fan-out to the last member p50 vs ping p50", "BenchmarkRoomFanoutP50", "BenchmarkRoomPingP50"},
	{"fan-out to the last member p99 vs ping p99", "BenchmarkRoomFanoutP99", "BenchmarkRoomPingP99"},
	{"send (acknowledged) p50 vs ping p50", "BenchmarkRoomSendP50", "BenchmarkRoomPingP50"},
	{"send p99 vs ping p99", "BenchmarkRoomSendP99", "BenchmarkRoomPingP99"},
	{"join (list, join, chain, backlog) p50 vs ping p50", "BenchmarkRoomJoinP50", "BenchmarkRoomPingP50"},
	{"join p99 vs ping p99", "BenchmarkRoomJoinP99", "BenchmarkRoomPingP99"},
	{"messages sent per second vs the rate asked", "BenchmarkRoomSustained", "BenchmarkRoomTargetRate"},
}

// roomTable prints the chat room table, when roombench's lines were read.
func roomTable(m map[string]map[string]float64) {
	first, ok := m[roomRows[0].bench]
	if !ok {
		return
	}
	fmt.Printf("\nchat room of %.0f members (roombench)\n", first["members"])
	fmt.Printf("%-48s %14s %14s %10s\n", "measure", "op", "baseline", "ratio")
	for _, r := range roomRows {
		a, okA := m[r.bench]["ns/op"]
		b, okB := m[r.baseline]["ns/op"]
		switch {
		case !okA || !okB || a == 0 || b == 0:
			fmt.Printf("%-48s %14s\n", r.what, "(not run)")
		case r.bench == "BenchmarkRoomSustained":
			fmt.Printf("%-48s %14s %14s %9.2fx\n", r.what, snFormat("/s", 1e9/a), snFormat("/s", 1e9/b), b/a)
		default:
			fmt.Printf("%-48s %14s %14s %9.2fx\n", r.what, dur(a), dur(b), a/b)
		}
	}
	if s, ok := m["BenchmarkRoomSustained"]; ok && s["expected"] > 0 {
		fmt.Printf("%-48s %14s\n", "receipts of every message by every member", fmt.Sprintf("%.2f %%", 100*s["receipts"]/s["expected"]))
	}
}

func snFormat(unit string, v float64) string {
	switch unit {
	case "B/node":
		return fmt.Sprintf("%.1f KiB", v/1024)
	case "/s":
		return fmt.Sprintf("%.0f/s", v)
	case "MB/s":
		return fmt.Sprintf("%.0f MB/s", v)
	}
	return dur(v)
}

func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

// memTable prints the desktop app's memory (scripts/membench, medians of
// its runs) beside the bare Fyne app measured in the same run.
func memTable(m map[string]map[string]float64) {
	bare, ok := m["BenchmarkMemBareFyne"]
	if !ok {
		return
	}
	const mib = 1 << 20
	fmt.Printf("\ndesktop memory under Xvfb (membench) vs a bare Fyne app of the same version\n")
	fmt.Printf("%-48s %14s %14s %10s\n", "measure", "EServer", "bare Fyne", "ratio")
	for _, r := range []struct{ what, bench, unit string }{
		{"sign-in window, RSS", "BenchmarkMemSignIn", "rss-B"},
		{"main window 10 s after sign-in, RSS", "BenchmarkMemMainWindow", "rss-B"},
		{"main window 10 s after sign-in, anonymous", "BenchmarkMemMainWindow", "anon-B"},
		{"main window 10 s after sign-in, Go heap held", "BenchmarkMemMainWindow", "gomapped-B"},
	} {
		v, ok := m[r.bench][r.unit]
		if !ok {
			fmt.Printf("%-48s %14s\n", r.what, "(not run)")
			continue
		}
		fmt.Printf("%-48s %10.1f MiB %10.1f MiB %9.2fx\n", r.what, v/mib, bare[r.unit]/mib, v/bare[r.unit])
	}
	// Each extra window's RSS: EServer's chat windows over its main
	// window, the bare app's windows over the bare app.
	perWindow := func(prefix string, base map[string]float64) (float64, bool) {
		for name, v := range m {
			var n int
			if _, err := fmt.Sscanf(strings.TrimPrefix(name, prefix), "%d", &n); err == nil && strings.HasPrefix(name, prefix) && n > 0 {
				return (v["rss-B"] - base["rss-B"]) / float64(n), true
			}
		}
		return 0, false
	}
	chat, okC := perWindow("BenchmarkMemChats/n=", m["BenchmarkMemMainWindow"])
	win, okW := perWindow("BenchmarkMemBareWindows/n=", bare)
	if okC && okW {
		fmt.Printf("%-48s %+10.1f MiB %+10.1f MiB %9.2fx\n", "each chat window vs a bare 600x480 window, RSS", chat/mib, win/mib, chat/win)
	}
}
