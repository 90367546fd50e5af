package supernode

// Prometheus metrics of the supernode services. Everything is read at scrape
// time: gauges from the services' own state (the host's peers, the
// rendezvous table, the mailbox database), counters from the atomics each
// service already bumps. Nothing on a request's path waits for a scrape.

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"

	"eserver/pipeline"
)

// RendezvousStats are the rendezvous service's counters since it started.
type RendezvousStats struct {
	Publishes         uint64 // publishes accepted
	Lookups           uint64 // lookups answered (refused ones are not counted)
	UsernamesAsked    uint64 // distinct usernames those lookups asked for
	UsernamesAnswered uint64 // entries (one per device) those lookups returned with a peer record: the presence fan-out
	PublishesFull     uint64 // publishes refused: all entries together hold the global cap
}

// rvStats counts rendezvous events; a Rendezvous bumps it, Stats reads it.
type rvStats struct {
	publishes, lookups, asked, answered atomic.Uint64
	full                                atomic.Uint64
}

func (s *rvStats) published() { s.publishes.Add(1) }

// lookedUp counts one lookup of asked names, answered of them with a peer
// record, sent or unchanged (the asker may see the user online).
func (s *rvStats) lookedUp(asked, answered int) {
	s.lookups.Add(1)
	s.asked.Add(uint64(asked))
	s.answered.Add(uint64(answered))
}

// Stats returns the rendezvous counters.
func (r *Rendezvous) Stats() RendezvousStats {
	return RendezvousStats{
		Publishes:         r.stats.publishes.Load(),
		Lookups:           r.stats.lookups.Load(),
		UsernamesAsked:    r.stats.asked.Load(),
		UsernamesAnswered: r.stats.answered.Load(),
		PublishesFull:     r.stats.full.Load(),
	}
}

// MailboxStats are the mailbox service's counters since it started.
type MailboxStats struct {
	PutsStored      uint64 // items stored
	PutsRateLimited uint64 // puts refused: the sender's rate
	PutsSenderBytes uint64 // puts refused: the sender's byte budget per TTL is spent
	PutsOverQuota   uint64 // puts refused: the mailbox is full
	PutsBad         uint64 // puts refused: malformed mailbox ID or item size
	PutsNotHome     uint64 // puts refused: this supernode is not a home of the mailbox
	PutsFull        uint64 // puts refused: all mailboxes together hold the global cap
	Fetches         uint64 // fetch requests answered
	FetchedItems    uint64 // items those fetches returned
	AckedItems      uint64 // items deleted on the owner's acknowledgement
}

// mbStats counts mailbox events; a Mailbox bumps it, Stats reads it.
type mbStats struct {
	stored, rateLimited, overQuota, bad atomic.Uint64
	notHome, senderBytes, full          atomic.Uint64
	fetches, fetched, acked             atomic.Uint64
}

func (s *mbStats) fetchAnswered(items int) {
	s.fetches.Add(1)
	s.fetched.Add(uint64(items))
}

// Stats returns the mailbox counters.
func (m *Mailbox) Stats() MailboxStats {
	return MailboxStats{
		PutsStored:      m.stats.stored.Load(),
		PutsRateLimited: m.stats.rateLimited.Load(),
		PutsOverQuota:   m.stats.overQuota.Load(),
		PutsBad:         m.stats.bad.Load(),
		PutsNotHome:     m.stats.notHome.Load(),
		PutsSenderBytes: m.stats.senderBytes.Load(),
		PutsFull:        m.stats.full.Load(),
		Fetches:         m.stats.fetches.Load(),
		FetchedItems:    m.stats.fetched.Load(),
		AckedItems:      m.stats.acked.Load(),
	}
}

// Metric names, for documentation and tests.
const (
	MetricConnectedPeers           = "eserver_supernode_connected_peers"
	MetricRendezvousEntries        = "eserver_supernode_rendezvous_entries"
	MetricRendezvousPublishes      = "eserver_supernode_rendezvous_publishes_total"
	MetricRendezvousLookups        = "eserver_supernode_rendezvous_lookups_total"
	MetricRendezvousAsked          = "eserver_supernode_rendezvous_lookup_usernames_asked_total"
	MetricRendezvousAnswered       = "eserver_supernode_rendezvous_lookup_usernames_answered_total"
	MetricMailboxItems             = "eserver_supernode_mailbox_items"
	MetricMailboxPuts              = "eserver_supernode_mailbox_puts_total"
	MetricMailboxFetches           = "eserver_supernode_mailbox_fetches_total"
	MetricMailboxFetchedItems      = "eserver_supernode_mailbox_fetched_items_total"
	MetricMailboxAckedItems        = "eserver_supernode_mailbox_acked_items_total"
	MetricRelayBytes               = "eserver_supernode_relay_bytes_total"
	MetricRelayCircuits            = "eserver_supernode_relay_circuits"
	MetricRelayCircuitsOpened      = "eserver_supernode_relay_circuits_opened_total"
	MetricRelayCircuitsRefused     = "eserver_supernode_relay_circuits_refused_total"
	MetricRelayReservations        = "eserver_supernode_relay_reservations"
	MetricRelayReservationsRefused = "eserver_supernode_relay_reservations_refused_total"
	MetricRelayAdmittedPeers       = "eserver_supernode_relay_admitted_peers"
	MetricPrekeyDevices            = "eserver_supernode_prekey_devices"
	MetricPrekeyOneTime            = "eserver_supernode_prekey_one_time_keys"
	MetricPrekeyHandedOut          = "eserver_supernode_prekey_one_time_handed_out_total"
	MetricPrekeyExhausted          = "eserver_supernode_prekey_one_time_exhausted_total"
	MetricStoreBytes               = "eserver_supernode_store_bytes"
	MetricStoreCapBytes            = "eserver_supernode_store_cap_bytes"
	MetricStoreFull                = "eserver_supernode_store_full_total"
	MetricRelayAdmissionsCap       = "eserver_supernode_relay_admissions_cap"
	MetricRelayAdmissionsRefused   = "eserver_supernode_relay_admissions_refused_total"
	MetricRequestBytes             = "eserver_supernode_request_bytes"
	MetricRequestBytesLimit        = "eserver_supernode_request_bytes_limit"
	MetricRequestsBusy             = "eserver_supernode_requests_busy_total"
)

// The service label of the store metrics: each per-account table with a
// global cap (CapsFor).
const (
	storeMailbox    = "mailbox"
	storeContacts   = "contacts"
	storePrekeys    = "prekeys"
	storeRendezvous = "rendezvous"
)

// metrics is the Collector NewMetrics returns.
type metrics struct {
	s *Services
	h host.Host

	peers, rvEntries, rvPublishes, rvLookups, rvAsked, rvAnswered *prometheus.Desc
	mbItems, mbPuts, mbFetches, mbFetched, mbAcked                *prometheus.Desc
	rlBytes, rlCircuits, rlOpened, rlRefused                      *prometheus.Desc
	rlResv, rlResvRefused, rlAdmitted                             *prometheus.Desc
	pkDevices, pkOneTime, pkHanded, pkExhausted                   *prometheus.Desc
	storeBytes, storeCap, storeFull, admCap, admRefused           *prometheus.Desc
	reqBytes, reqLimit, reqBusy                                   *prometheus.Desc
}

// NewMetrics returns a Prometheus collector of the services s running on h
// (nil h leaves out the connected-peers gauge). It reads everything when
// scraped, so it costs nothing between scrapes; register it on a private
// registry (see NewMetricsRegistry). The mailbox depth is a count over the
// mailbox database, so scrape every 15 s or more, not every second.
func NewMetrics(s *Services, h host.Host) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &metrics{
		s: s,
		h: h,

		peers:       d(MetricConnectedPeers, "Peers (nodes, supernodes, the auth server) with an open connection to this host."),
		rvEntries:   d(MetricRendezvousEntries, "Devices whose published peer record the rendezvous would return now (one per device signed in; a user on three computers counts three): the devices online here."),
		rvPublishes: d(MetricRendezvousPublishes, "Rendezvous publishes accepted."),
		rvLookups:   d(MetricRendezvousLookups, "Rendezvous lookups answered."),
		rvAsked:     d(MetricRendezvousAsked, "Distinct usernames asked for by the rendezvous lookups answered."),
		rvAnswered:  d(MetricRendezvousAnswered, "Entries returned with a peer record (user online and visible to the asker) by rendezvous lookups: the presence fan-out."),

		mbItems:   d(MetricMailboxItems, "Items stored in the mailboxes, waiting for their owners (expired ones not yet swept included)."),
		mbPuts:    d(MetricMailboxPuts, "Mailbox puts by ticket holders, by result: stored, rate_limited, sender_bytes (the sender's byte budget per mail TTL is spent), quota, not_home (the mailbox is homed elsewhere), full (all mailboxes hold the global cap), bad_request.", "result"),
		mbFetches: d(MetricMailboxFetches, "Mailbox fetch requests answered."),
		mbFetched: d(MetricMailboxFetchedItems, "Items returned by mailbox fetches (an item fetched twice before its ack counts twice)."),
		mbAcked:   d(MetricMailboxAckedItems, "Mailbox items deleted on their owner's acknowledgement."),

		rlBytes:       d(MetricRelayBytes, "Payload bytes relayed through circuits, both directions."),
		rlCircuits:    d(MetricRelayCircuits, "Relay circuits open now."),
		rlOpened:      d(MetricRelayCircuitsOpened, "Relay circuits opened."),
		rlRefused:     d(MetricRelayCircuitsRefused, "Relay connect requests refused (not admitted, no reservation, limits) or failed."),
		rlResv:        d(MetricRelayReservations, "Relay reservations held now."),
		rlResvRefused: d(MetricRelayReservationsRefused, "Relay reservation requests refused."),
		rlAdmitted:    d(MetricRelayAdmittedPeers, "Peers admitted to the relay by a verified ticket (expired ones not yet swept included)."),

		pkDevices:   d(MetricPrekeyDevices, "Devices with a prekey bundle in the directory."),
		pkOneTime:   d(MetricPrekeyOneTime, "One-time prekeys waiting in the directory."),
		pkHanded:    d(MetricPrekeyHandedOut, "One-time prekeys handed out by fetches."),
		pkExhausted: d(MetricPrekeyExhausted, "Bundles handed out without a one-time prekey because the device had none left."),

		storeBytes: d(MetricStoreBytes, "Bytes a per-account table holds for all accounts together, as counted against its global cap (with per-row overheads; rendezvous: estimated memory), by service: mailbox, contacts, prekeys, rendezvous.", "service"),
		storeCap:   d(MetricStoreCapBytes, "The global cap of each per-account table, by service; past it, requests that would grow the table are refused with the code full.", "service"),
		storeFull:  d(MetricStoreFull, "Requests refused with the code full because a per-account table held its global cap, by service.", "service"),
		admCap:     d(MetricRelayAdmissionsCap, "The most peers the relay admission table holds."),
		admRefused: d(MetricRelayAdmissionsRefused, "Peers refused admission to the relay because the admission table was full."),

		reqBytes: d(MetricRequestBytes, "Bytes of requests held in flight, by service: frames being read and requests being processed, counted against the service's request budget.", "service"),
		reqLimit: d(MetricRequestBytesLimit, "The request budget of each service, in bytes, over all peers.", "service"),
		reqBusy:  d(MetricRequestsBusy, "Frames refused with the code busy because the service's request budget (or the peer's share of it, or the libp2p resource manager) was spent, by service.", "service"),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		m.peers, m.rvEntries, m.rvPublishes, m.rvLookups, m.rvAsked, m.rvAnswered,
		m.mbItems, m.mbPuts, m.mbFetches, m.mbFetched, m.mbAcked,
		m.rlBytes, m.rlCircuits, m.rlOpened, m.rlRefused, m.rlResv, m.rlResvRefused, m.rlAdmitted,
		m.pkDevices, m.pkOneTime, m.pkHanded, m.pkExhausted,
		m.storeBytes, m.storeCap, m.storeFull, m.admCap, m.admRefused,
		m.reqBytes, m.reqLimit, m.reqBusy,
	} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}

	if m.h != nil {
		gauge(m.peers, float64(len(m.h.Network().Peers())))
	}

	if rv := m.s.Rendezvous; rv != nil {
		gauge(m.rvEntries, float64(rv.Len()))
		st := rv.Stats()
		m.store(ch, storeRendezvous, rv.Usage, st.PublishesFull)
		counter(m.rvPublishes, st.Publishes)
		counter(m.rvLookups, st.Lookups)
		counter(m.rvAsked, st.UsernamesAsked)
		counter(m.rvAnswered, st.UsernamesAnswered)
	}

	if mb := m.s.Mailbox; mb != nil {
		if n, err := mb.Depth(); err != nil {
			ch <- prometheus.NewInvalidMetric(m.mbItems, err)
		} else {
			gauge(m.mbItems, float64(n))
		}
		st := mb.Stats()
		counter(m.mbPuts, st.PutsStored, "stored")
		counter(m.mbPuts, st.PutsRateLimited, "rate_limited")
		counter(m.mbPuts, st.PutsSenderBytes, "sender_bytes")
		counter(m.mbPuts, st.PutsOverQuota, "quota")
		counter(m.mbPuts, st.PutsNotHome, "not_home")
		counter(m.mbPuts, st.PutsFull, "full")
		counter(m.mbPuts, st.PutsBad, "bad_request")
		m.store(ch, storeMailbox, mb.Usage, st.PutsFull)
		counter(m.mbFetches, st.Fetches)
		counter(m.mbFetched, st.FetchedItems)
		counter(m.mbAcked, st.AckedItems)
	}

	if rl := m.s.Relay; rl != nil {
		st := rl.Stats()
		counter(m.rlBytes, st.BytesRelayed)
		gauge(m.rlCircuits, float64(st.ActiveCircuits))
		counter(m.rlOpened, st.CircuitsOpened)
		counter(m.rlRefused, st.CircuitsRefused)
		gauge(m.rlResv, float64(st.ActiveReservations))
		counter(m.rlResvRefused, st.ReservationsRefused)
	}
	if adm := m.s.Admissions; adm != nil {
		gauge(m.rlAdmitted, float64(adm.Len()))
		gauge(m.admCap, float64(adm.Cap()))
		counter(m.admRefused, adm.Refused())
	}

	if ct := m.s.Contacts; ct != nil {
		m.store(ch, storeContacts, ct.Usage, ct.Stats().PutsFull)
		m.budget(ch, storeContacts, ct.RequestBudget())
	}
	if rv := m.s.Rendezvous; rv != nil {
		m.budget(ch, storeRendezvous, rv.RequestBudget())
	}
	if mb := m.s.Mailbox; mb != nil {
		m.budget(ch, storeMailbox, mb.RequestBudget())
	}
	if pk := m.s.Prekeys; pk != nil {
		m.budget(ch, storePrekeys, pk.RequestBudget())
	}

	if pk := m.s.Prekeys; pk != nil {
		if devs, otk, err := pk.Count(); err != nil {
			ch <- prometheus.NewInvalidMetric(m.pkDevices, err)
			ch <- prometheus.NewInvalidMetric(m.pkOneTime, err)
		} else {
			gauge(m.pkDevices, float64(devs))
			gauge(m.pkOneTime, float64(otk))
		}
		st := pk.Stats()
		counter(m.pkHanded, st.OneTimeHandedOut)
		counter(m.pkExhausted, st.OneTimeExhausted)
		m.store(ch, storePrekeys, pk.Usage, st.PublishesFull)
	}
}

// budget sends the request bytes in flight, budget and busy refusals of
// one service.
func (m *metrics) budget(ch chan<- prometheus.Metric, service string, st pipeline.BudgetStats) {
	ch <- prometheus.MustNewConstMetric(m.reqBytes, prometheus.GaugeValue, float64(st.InUse), service)
	ch <- prometheus.MustNewConstMetric(m.reqLimit, prometheus.GaugeValue, float64(st.Limit), service)
	ch <- prometheus.MustNewConstMetric(m.reqBusy, prometheus.CounterValue, float64(st.Refused), service)
}

// store sends the usage, cap and refusals of one capped table.
func (m *metrics) store(ch chan<- prometheus.Metric, service string, usage func() (int64, int64), full uint64) {
	used, limit := usage()
	ch <- prometheus.MustNewConstMetric(m.storeBytes, prometheus.GaugeValue, float64(used), service)
	ch <- prometheus.MustNewConstMetric(m.storeCap, prometheus.GaugeValue, float64(limit), service)
	ch <- prometheus.MustNewConstMetric(m.storeFull, prometheus.CounterValue, float64(full), service)
}
