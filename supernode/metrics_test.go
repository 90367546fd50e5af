package supernode

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"eserver/node/wire"
	"eserver/supernode/client"
	"eserver/supernode/internal/sntest"
)

// scrape GETs url and returns every sample as name{label="value",...} → value
// (labels sorted, no braces when there are none).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scraping %s: %s: %s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	out := make(map[string]float64)
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// TestMetrics runs the supernode services on a real host, sends traffic of
// every kind through them, and reads it back from a scrape.
func TestMetrics(t *testing.T) {
	ctx := sntest.Ctx(t)
	auth := sntest.Key(t)
	authID := sntest.ID(t, auth)
	res, err := SupernodeResources(300)
	if err != nil {
		t.Fatal(err)
	}
	snh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), res)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snh.Close() })
	svc, err := StartServices(snh, ServicesConfig{AuthServer: authID, MailboxDB: filepath.Join(t.TempDir(), "mailbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	reg, err := NewMetricsRegistry(NewMetrics(svc, snh))
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(MetricsHandler(reg))
	t.Cleanup(web.Close)
	url := web.URL + MetricsPath

	want := func(got map[string]float64, name string, v float64) {
		t.Helper()
		g, ok := got[name]
		if !ok {
			t.Errorf("%s missing from the scrape", name)
			return
		}
		if g != v {
			t.Errorf("%s = %v, want %v", name, g, v)
		}
	}

	// Before any traffic: every metric is there, at zero.
	got := scrape(t, url)
	for _, name := range []string{
		MetricConnectedPeers, MetricRendezvousEntries, MetricRendezvousPublishes, MetricRendezvousLookups,
		MetricRendezvousAsked, MetricRendezvousAnswered, MetricMailboxItems,
		MetricMailboxPuts + `{result="stored"}`, MetricMailboxPuts + `{result="rate_limited"}`,
		MetricMailboxPuts + `{result="quota"}`, MetricMailboxPuts + `{result="bad_request"}`,
		MetricMailboxFetches, MetricMailboxFetchedItems, MetricMailboxAckedItems,
		MetricRelayBytes, MetricRelayCircuits, MetricRelayCircuitsOpened, MetricRelayCircuitsRefused,
		MetricRelayReservations, MetricRelayReservationsRefused, MetricRelayAdmittedPeers,
		MetricPrekeyDevices, MetricPrekeyOneTime, MetricPrekeyHandedOut, MetricPrekeyExhausted,
		MetricMailboxPuts + `{result="not_home"}`, MetricMailboxPuts + `{result="full"}`,
		MetricMailboxPuts + `{result="sender_bytes"}`, MetricRelayAdmissionsRefused,
	} {
		want(got, name, 0)
	}
	// Every capped table shows its usage (nothing yet), its cap as CapsFor
	// gives it, and no refusals.
	caps := CapsFor(0)
	for service, limit := range map[string]int64{
		"mailbox": caps.MailBytes, "contacts": caps.ContactsBytes, "prekeys": caps.PrekeyBytes, "rendezvous": caps.RendezvousBytes,
	} {
		label := `{service="` + service + `"}`
		want(got, MetricStoreBytes+label, 0)
		want(got, MetricStoreCapBytes+label, float64(limit))
		want(got, MetricStoreFull+label, 0)
	}
	want(got, MetricRelayAdmissionsCap, float64(caps.Admissions))
	if got["go_goroutines"] == 0 || got["process_resident_memory_bytes"] == 0 {
		t.Errorf("no Go runtime or process metrics: goroutines %v, rss %v", got["go_goroutines"], got["process_resident_memory_bytes"])
	}

	// alice is an ordinary node; bob can only be reached through the relay.
	now := time.Now()
	alice := sntest.Host(t)
	alice.Peerstore().AddAddrs(snh.ID(), snh.Addrs(), peerstore.PermanentAddrTTL)
	aliceT := sntest.SignTicket(t, auth, "alice", alice.ID(), now, now.Add(time.Hour))
	bob := hiddenHost(t)
	bob.Peerstore().AddAddrs(snh.ID(), snh.Addrs(), peerstore.PermanentAddrTTL)
	bobT := sntest.SignTicket(t, auth, "bob", bob.ID(), now, now.Add(time.Hour))

	// Presence: alice publishes, visible to bob's token; bob looks up alice
	// and carol (offline), twice over for alice.
	tok := []byte("alice-token-for-bob")
	if err := (client.Rendezvous{Allowed: [][]byte{tok}}).Publish(ctx, alice, snh.ID(), aliceT); err != nil {
		t.Fatalf("publish: %v", err)
	}
	found, err := (client.Rendezvous{Tokens: map[string][]byte{"alice": tok}}).Lookup(ctx, bob, snh.ID(), bobT, []string{"alice", "carol", "alice"})
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup: %v, %v", found, err)
	}

	// Mail: alice leaves bob three items and one malformed put; bob fetches
	// them and acknowledges two.
	for i := range 3 {
		if _, err := client.PutMail(ctx, alice, snh.ID(), aliceT, client.MailboxID(authID, "bob"), itemN(i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	// (PutMail refuses a malformed mailbox ID itself, so send it raw.)
	bad, err := client.Call[*wire.MailboxResponse](ctx, alice, snh.ID(), wire.ProtoMailbox, &wire.MailboxRequest{
		Kind: &wire.MailboxRequest_Put{Put: &wire.MailPut{Ticket: aliceT, Mailbox: []byte("short"), Item: itemN(9)}},
	})
	if !errors.Is(err, client.ErrBadRequest) || bad.GetError() != wire.CodeBadRequest {
		t.Fatalf("malformed put answered %v, %v", bad, err)
	}
	items, _, err := client.FetchMail(ctx, bob, snh.ID(), bobT, 0, 0)
	if err != nil || len(items) != 3 {
		t.Fatalf("fetch: %d items, %v", len(items), err)
	}
	if err := client.AckMail(ctx, bob, snh.ID(), bobT, []uint64{items[0].GetSeq(), items[1].GetSeq()}); err != nil {
		t.Fatalf("ack: %v", err)
	}

	// Relay: bob (admitted by his lookup) reserves, alice (admitted by her
	// publish) sends him 64 KiB through a circuit.
	sninfo := peer.AddrInfo{ID: snh.ID(), Addrs: snh.Addrs()}
	if _, err := circuit.Reserve(ctx, bob, sninfo); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	sink := serveSink(bob)
	circuit := snh.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + snh.ID().String() + "/p2p-circuit"))
	alice.Peerstore().AddAddrs(bob.ID(), []ma.Multiaddr{circuit}, peerstore.PermanentAddrTTL)
	data := randomBytes(t, 64<<10)
	if _, err := send(ctx, alice, bob.ID(), data); err != nil {
		t.Fatalf("relayed send: %v", err)
	}
	if r := <-sink; r.err != nil || r.n != int64(len(data)) {
		t.Fatalf("sink read %d bytes: %v", r.n, r.err)
	}

	got = scrape(t, url)
	want(got, MetricConnectedPeers, 2)
	want(got, MetricRendezvousEntries, 1)
	want(got, MetricRendezvousPublishes, 1)
	want(got, MetricRendezvousLookups, 1)
	want(got, MetricRendezvousAsked, 2)
	want(got, MetricRendezvousAnswered, 1)
	want(got, MetricMailboxItems, 1)
	want(got, MetricMailboxPuts+`{result="stored"}`, 3)
	want(got, MetricMailboxPuts+`{result="bad_request"}`, 1)
	want(got, MetricMailboxPuts+`{result="rate_limited"}`, 0)
	want(got, MetricMailboxPuts+`{result="quota"}`, 0)
	want(got, MetricMailboxFetches, 1)
	want(got, MetricMailboxFetchedItems, 3)
	want(got, MetricMailboxAckedItems, 2)
	want(got, MetricRelayReservations, 1)
	want(got, MetricRelayCircuitsOpened, 1)
	want(got, MetricRelayCircuitsRefused, 0)
	want(got, MetricRelayAdmittedPeers, 2)
	if got[MetricStoreBytes+`{service="mailbox"}`] == 0 || got[MetricStoreBytes+`{service="rendezvous"}`] == 0 {
		t.Errorf("store usage not shown after a put and a publish: %v, %v",
			got[MetricStoreBytes+`{service="mailbox"}`], got[MetricStoreBytes+`{service="rendezvous"}`])
	}
	if b := got[MetricRelayBytes]; b < float64(len(data)) {
		t.Errorf("%s = %v, want at least the %d bytes sent", MetricRelayBytes, b, len(data))
	}
	if c := got[MetricRelayCircuits]; c > 1 {
		t.Errorf("%s = %v, want at most 1", MetricRelayCircuits, c)
	}

	// With the mailbox database closed, the depth is left out of the scrape
	// and the rest is still served.
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	got = scrape(t, url)
	if _, ok := got[MetricMailboxItems]; ok {
		t.Errorf("%s served from a closed database", MetricMailboxItems)
	}
	want(got, MetricMailboxPuts+`{result="stored"}`, 3)
}

// TestMetricsServer: ListenMetrics serves on a port of its own choosing and
// Close stops it.
func TestMetricsServer(t *testing.T) {
	reg, err := NewMetricsRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ListenMetrics("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := scrape(t, ms.URL())
	if got["go_goroutines"] == 0 {
		t.Fatal("no go_goroutines in the scrape")
	}
	if resp, err := http.Get(strings.TrimSuffix(ms.URL(), MetricsPath) + "/other"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /other: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	c := http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(ms.URL()); err == nil {
		resp.Body.Close()
		t.Fatal("still serving after Close")
	}
	if _, err := ListenMetrics("127.0.0.1:-1", reg, nil); err == nil {
		t.Fatal("listened on a bad address")
	}
}
