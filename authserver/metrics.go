package authserver

// Prometheus metrics of the auth server. Counters are atomics the handlers
// bump; gauges (live supernodes, accounts) are read when scraped.

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"eserver/pipeline"
)

// Stats are the auth server's counters since it started.
type Stats struct {
	LoginsOK          uint64 // logins whose KE3 verified
	LoginsFailed      uint64 // wrong password, unknown account, malformed or abandoned exchange
	LoginsRateLimited uint64 // refused by the per-account or per-address limit before any OPAQUE work
	LoginsError       uint64 // failed on the server's side (database, OPAQUE internals)
	Registrations     uint64 // accounts created
	// RegistrationsRateLimited counts registrations refused by the
	// per-address or per-network throttle.
	RegistrationsRateLimited uint64
	TicketsIssued            uint64 // device tickets signed, at login and at renewal
	DevicesRevoked           uint64 // devices revoked by their accounts
	PasswordsChanged         uint64 // OPAQUE records replaced by a password change
	DeviceListsPublished     uint64 // signed device lists stored (PublishDevices), first identities included
	// Refused counts refused requests by reason (the Refused… constants).
	Refused map[string]uint64
	// AuthBudget and RegistryBudget are the request bytes each protocol
	// holds now, at most, and has refused.
	AuthBudget, RegistryBudget pipeline.BudgetStats
	// DatabaseDown: the database did not answer the last request that
	// needed it (and has not answered one since); DatabaseOutages counts
	// the times it went so.
	DatabaseDown    bool
	DatabaseOutages uint64
	// OtherReplicas is how many other replicas the last heartbeat found
	// live (0 on one server).
	OtherReplicas int
}

// loginOutcome is how one login attempt ended.
type loginOutcome int

const (
	loginFailed loginOutcome = iota
	loginOK
	loginRateLimited
	loginError
)

// stats counts events; a Server bumps it, Stats reads it.
type stats struct {
	loginOK, loginFailed, loginRateLimited, loginError atomic.Uint64
	registrations, registrationsRateLimited, tickets   atomic.Uint64
	revocations, passwordChanges, deviceLists          atomic.Uint64
	// ke2 counts KE2s computed: the OPAQUE work a rate-limited attempt
	// must never cost (tests read it).
	ke2 atomic.Uint64
	// dbOutages counts the database going out of reach (markDBDown).
	dbOutages atomic.Uint64
}

func (s *stats) dbOutage() { s.dbOutages.Add(1) }

func (s *stats) login(r loginOutcome) {
	switch r {
	case loginOK:
		s.loginOK.Add(1)
	case loginRateLimited:
		s.loginRateLimited.Add(1)
	case loginError:
		s.loginError.Add(1)
	default:
		s.loginFailed.Add(1)
	}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		LoginsOK:                 s.stats.loginOK.Load(),
		LoginsFailed:             s.stats.loginFailed.Load(),
		LoginsRateLimited:        s.stats.loginRateLimited.Load(),
		LoginsError:              s.stats.loginError.Load(),
		Registrations:            s.stats.registrations.Load(),
		RegistrationsRateLimited: s.stats.registrationsRateLimited.Load(),
		TicketsIssued:            s.stats.tickets.Load(),
		DevicesRevoked:           s.stats.revocations.Load(),
		PasswordsChanged:         s.stats.passwordChanges.Load(),
		DeviceListsPublished:     s.stats.deviceLists.Load(),
		Refused:                  s.refused.counts(),
		AuthBudget:               s.authRPC.Budget.Stats(),
		RegistryBudget:           s.registryRPC.Budget.Stats(),
		DatabaseDown:             s.dbDown.Load(),
		DatabaseOutages:          s.stats.dbOutages.Load(),
		OtherReplicas:            s.otherReplicas(),
	}
}

// LiveSupernodes is the number of registered supernodes whose last
// heartbeat is recent enough to list them; the server itself
// (Config.SelfSupernode) is not counted.
func (s *Server) LiveSupernodes(ctx context.Context) (int, error) {
	n, err := s.store.countSupernodes(ctx, liveSince(s.now()))
	if err != nil {
		return 0, fmt.Errorf("authserver: %w", err)
	}
	return n, nil
}

// Accounts is the number of accounts in the database.
func (s *Server) Accounts(ctx context.Context) (int, error) {
	n, err := s.store.countAccounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("authserver: %w", err)
	}
	return n, nil
}

// Metric names, for documentation and tests.
const (
	MetricLogins               = "eserver_auth_logins_total"
	MetricRegistrations        = "eserver_auth_registrations_total"
	MetricRegistrationsLimited = "eserver_auth_registrations_rate_limited_total"
	MetricTicketsIssued        = "eserver_auth_tickets_issued_total"
	MetricDevicesRevoked       = "eserver_auth_devices_revoked_total"
	MetricPasswords            = "eserver_auth_password_changes_total"
	MetricDeviceLists          = "eserver_auth_device_lists_published_total"
	MetricLiveSupernodes       = "eserver_auth_supernodes"
	MetricAccounts             = "eserver_auth_accounts"
	MetricRefused              = "eserver_auth_refused_total"
	MetricRequestBytes         = "eserver_auth_request_bytes"
	MetricRequestBytesLimit    = "eserver_auth_request_bytes_limit"
	MetricRequestsBusy         = "eserver_auth_requests_busy_total"
	MetricDatabaseUp           = "eserver_auth_database_up"
	MetricDatabaseOutages      = "eserver_auth_database_outages_total"
	MetricReplicas             = "eserver_auth_replicas"
)

// accountsTimeout bounds the account count of one scrape.
const accountsTimeout = 5 * time.Second

type metrics struct {
	srv                                           *Server
	logins, registrations, tickets, sns, accounts *prometheus.Desc
	revoked, passwords, regLimited, deviceLists   *prometheus.Desc
	refused, reqBytes, reqLimit, busy             *prometheus.Desc
	dbUp, dbOutages, replicas                     *prometheus.Desc
}

// NewMetrics returns a Prometheus collector of srv's counters and gauges,
// read when scraped. Register it on a private registry.
func NewMetrics(srv *Server) prometheus.Collector {
	return &metrics{
		srv:           srv,
		logins:        prometheus.NewDesc(MetricLogins, "Login attempts, by result: ok, failed (wrong password, unknown account, abandoned or malformed exchange), rate_limited, error (server side).", []string{"result"}, nil),
		registrations: prometheus.NewDesc(MetricRegistrations, "Accounts created.", nil, nil),
		regLimited:    prometheus.NewDesc(MetricRegistrationsLimited, "Registrations refused by the per-address or per-network throttle (eserver-auth --register-rate).", nil, nil),
		tickets:       prometheus.NewDesc(MetricTicketsIssued, "Device tickets issued, at login and at renewal.", nil, nil),
		sns:           prometheus.NewDesc(MetricLiveSupernodes, "Supernodes registered and heartbeating (the server itself not counted).", nil, nil),
		accounts:      prometheus.NewDesc(MetricAccounts, "Accounts in the database.", nil, nil),
		revoked:       prometheus.NewDesc(MetricDevicesRevoked, "Devices revoked by their accounts.", nil, nil),
		passwords:     prometheus.NewDesc(MetricPasswords, "Passwords changed (OPAQUE records replaced).", nil, nil),
		deviceLists:   prometheus.NewDesc(MetricDeviceLists, "Signed device lists of accounts stored (first identities included).", nil, nil),
		refused:       prometheus.NewDesc(MetricRefused, "Requests refused, by reason (the log sums them up at most once a minute).", []string{"reason"}, nil),
		reqBytes:      prometheus.NewDesc(MetricRequestBytes, "Bytes of requests held in flight, by protocol (its request budget).", []string{"protocol"}, nil),
		reqLimit:      prometheus.NewDesc(MetricRequestBytesLimit, "The request budget of each protocol, in bytes.", []string{"protocol"}, nil),
		busy:          prometheus.NewDesc(MetricRequestsBusy, "Frames refused because the protocol's request budget (or the peer's share of it) was spent.", []string{"protocol"}, nil),
		dbUp:          prometheus.NewDesc(MetricDatabaseUp, "1 while the database answers, 0 from a request it did not answer until it answers again.", nil, nil),
		dbOutages:     prometheus.NewDesc(MetricDatabaseOutages, "Times the database went out of reach (requests refused with unreachable meanwhile).", nil, nil),
		replicas:      prometheus.NewDesc(MetricReplicas, "Live replicas of this server, itself included, as its last heartbeat found them.", nil, nil),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.logins
	ch <- m.registrations
	ch <- m.regLimited
	ch <- m.tickets
	ch <- m.sns
	ch <- m.accounts
	ch <- m.revoked
	ch <- m.passwords
	ch <- m.deviceLists
	ch <- m.refused
	ch <- m.reqBytes
	ch <- m.reqLimit
	ch <- m.busy
	ch <- m.dbUp
	ch <- m.dbOutages
	ch <- m.replicas
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.srv.Stats()
	for _, l := range []struct {
		v      uint64
		result string
	}{
		{st.LoginsOK, "ok"},
		{st.LoginsFailed, "failed"},
		{st.LoginsRateLimited, "rate_limited"},
		{st.LoginsError, "error"},
	} {
		ch <- prometheus.MustNewConstMetric(m.logins, prometheus.CounterValue, float64(l.v), l.result)
	}
	ch <- prometheus.MustNewConstMetric(m.registrations, prometheus.CounterValue, float64(st.Registrations))
	ch <- prometheus.MustNewConstMetric(m.regLimited, prometheus.CounterValue, float64(st.RegistrationsRateLimited))
	ch <- prometheus.MustNewConstMetric(m.tickets, prometheus.CounterValue, float64(st.TicketsIssued))
	ch <- prometheus.MustNewConstMetric(m.revoked, prometheus.CounterValue, float64(st.DevicesRevoked))
	ch <- prometheus.MustNewConstMetric(m.passwords, prometheus.CounterValue, float64(st.PasswordsChanged))
	ch <- prometheus.MustNewConstMetric(m.deviceLists, prometheus.CounterValue, float64(st.DeviceListsPublished))
	up := 1.0
	if st.DatabaseDown {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(m.dbUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(m.dbOutages, prometheus.CounterValue, float64(st.DatabaseOutages))
	ch <- prometheus.MustNewConstMetric(m.replicas, prometheus.GaugeValue, float64(1+st.OtherReplicas))
	for reason, n := range st.Refused {
		ch <- prometheus.MustNewConstMetric(m.refused, prometheus.CounterValue, float64(n), reason)
	}
	for _, b := range []struct {
		proto string
		st    pipeline.BudgetStats
	}{{"auth", st.AuthBudget}, {"registry", st.RegistryBudget}} {
		ch <- prometheus.MustNewConstMetric(m.reqBytes, prometheus.GaugeValue, float64(b.st.InUse), b.proto)
		ch <- prometheus.MustNewConstMetric(m.reqLimit, prometheus.GaugeValue, float64(b.st.Limit), b.proto)
		ch <- prometheus.MustNewConstMetric(m.busy, prometheus.CounterValue, float64(b.st.Refused), b.proto)
	}

	ctx, cancel := context.WithTimeout(context.Background(), accountsTimeout)
	defer cancel()
	if n, err := m.srv.Accounts(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(m.accounts, err)
	} else {
		ch <- prometheus.MustNewConstMetric(m.accounts, prometheus.GaugeValue, float64(n))
	}
	if n, err := m.srv.LiveSupernodes(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(m.sns, err)
	} else {
		ch <- prometheus.MustNewConstMetric(m.sns, prometheus.GaugeValue, float64(n))
	}
}
