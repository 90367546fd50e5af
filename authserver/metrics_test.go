package authserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"eserver/node/pake"
	"eserver/node/wire"
)

// scrape GETs url and returns every sample as name{label="value",...} → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping: %s", resp.Status)
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
			if c := m.GetCounter(); c != nil {
				out[key] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				out[key] = g.GetValue()
			}
		}
	}
	return out
}

// TestMetrics drives registrations, logins of every outcome, a renewal and
// supernode heartbeats through a real server, and reads them from a scrape.
func TestMetrics(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := startRegistry(t, "", clk, true)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewMetrics(f.srv))
	web := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	t.Cleanup(web.Close)

	want := func(got map[string]float64, name string, v float64) {
		t.Helper()
		if g, ok := got[name]; !ok {
			t.Errorf("%s missing from the scrape", name)
		} else if g != v {
			t.Errorf("%s = %v, want %v", name, g, v)
		}
	}
	got := scrape(t, web.URL)
	for _, name := range []string{
		MetricLogins + `{result="ok"}`, MetricLogins + `{result="failed"}`,
		MetricLogins + `{result="rate_limited"}`, MetricLogins + `{result="error"}`,
		MetricRegistrations, MetricTicketsIssued, MetricLiveSupernodes, MetricAccounts,
		MetricDevicesRevoked, MetricPasswords, MetricRegistrationsLimited, MetricDeviceLists,
	} {
		want(got, name, 0)
	}

	c := newClient(t)
	if code := register(t, c, f.fixture, "alice", "right"); code != "" {
		t.Fatal(code)
	}
	if code := register(t, c, f.fixture, "alice", "other"); code != CodeUsernameTaken {
		t.Fatalf("second registration: %q", code)
	}
	code, st := login(t, c, f.fixture, "alice", []byte("right"))
	if code != "" {
		t.Fatal(code)
	}
	if code, _ := login(t, c, f.fixture, "alice", nil); code != CodeLoginFailed {
		t.Fatalf("forged KE3: %q", code)
	}
	// A renewal issues a ticket too.
	rs := stream(t, c, f.fixture)
	send(t, rs, &wire.AuthRequest{Kind: &wire.AuthRequest_Renew{Renew: &wire.Renew{Ticket: st}}})
	if _, ok := recv(t, rs).Kind.(*wire.AuthResponse_LoginResult); !ok {
		t.Fatal("renewal refused")
	}
	// ghost fails until rate limited.
	for range DefaultMaxFailures {
		if code, _ := login(t, c, f.fixture, "ghost", nil); code != CodeLoginFailed {
			t.Fatalf("ghost: %q", code)
		}
	}
	if code, _ := login(t, c, f.fixture, "ghost", nil); code != CodeRateLimited {
		t.Fatalf("ghost over the limit: %q", code)
	}
	// A client that hangs up after KE2 (its password was wrong) failed too.
	pc, _ := pake.NewClient("casper")
	ke1, _ := pc.LoginStart([]byte("guess"))
	as := stream(t, c, f.fixture)
	send(t, as, &wire.AuthRequest{Kind: &wire.AuthRequest_LoginStart{LoginStart: &wire.LoginStart{Username: "casper", Ke1: ke1}}})
	if _, ok := recv(t, as).Kind.(*wire.AuthResponse_Ke2); !ok {
		t.Fatal("no KE2")
	}
	as.Reset()
	// Two supernodes heartbeat.
	fakeSupernode(t, f, "op")
	fakeSupernode(t, f, "op")

	// The abandoned login is counted when its handler notices the reset.
	for deadline := time.Now().Add(10 * time.Second); f.srv.Stats().LoginsFailed < 1+DefaultMaxFailures+1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("abandoned login never counted: %+v", f.srv.Stats())
		}
	}
	got = scrape(t, web.URL)
	want(got, MetricLogins+`{result="ok"}`, 1)
	want(got, MetricLogins+`{result="failed"}`, 1+DefaultMaxFailures+1)
	want(got, MetricLogins+`{result="rate_limited"}`, 1)
	want(got, MetricLogins+`{result="error"}`, 0)
	want(got, MetricRegistrations, 1)
	want(got, MetricTicketsIssued, 2)
	want(got, MetricLiveSupernodes, 2)
	want(got, MetricAccounts, 1)

	// A device revokes itself.
	if r := ask(t, c, f.fixture, revokeReq(st, c.ID())); r.GetRevokeResult() == nil {
		t.Fatalf("revoke: %q", errCode(r))
	}
	want(scrape(t, web.URL), MetricDevicesRevoked, 1)

	// Supernodes that stop heartbeating leave the gauge.
	clk.Advance(wire.SupernodeTTL)
	want(scrape(t, web.URL), MetricLiveSupernodes, 0)

	// A closed database leaves out the account count, not the rest.
	f.srv.Close()
	got = scrape(t, web.URL)
	if _, ok := got[MetricAccounts]; ok {
		t.Errorf("%s served from a closed database", MetricAccounts)
	}
	want(got, MetricRegistrations, 1)
}
