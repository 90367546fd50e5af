package supernode

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"eserver/pipeline"
	"eserver/supernode/client"
)

// Every supernode service is a pipeline.Service (the stages) served through
// a pipeline.Listener (listen stage and lifecycle); this file holds the few
// lines they share.

// errUnknownKind refuses a request of no kind this service knows.
var errUnknownKind = errors.New("request of no known kind")

// serveOn serves pid on h through l with serve, the service's own method,
// so its frame names the service in a stack dump of the handlers.
func serveOn(l *pipeline.Listener, h host.Host, pid protocol.ID, timeout time.Duration, serve func(io.ReadWriter, peer.ID) error) {
	l.Handle(h, pid, timeout, func(_ context.Context, s network.Stream) error {
		return serve(s, s.Conn().RemotePeer())
	})
}

// authenticator is the Authenticate stage of every supernode service:
// tickets of server, at now, not revoked in rev.
func authenticator(server peer.ID, now func() time.Time, rev *client.Revocations) *pipeline.Authenticator {
	a := &pipeline.Authenticator{Server: server, Now: now}
	if rev != nil {
		a.Revoked = rev
	}
	return a
}

// refuseWith is a Service.Refuse building the answer failed(code).
func refuseWith[Q, R proto.Message](failed func(code string) R) func(Q, pipeline.Refusal) R {
	return func(_ Q, r pipeline.Refusal) R { return failed(r.Code) }
}

// runSweeper runs sweep at once and then every interval until ctx ends,
// logging what it did as what (e.g. "expired mail"). It closes done when it
// returns.
func runSweeper(ctx context.Context, interval time.Duration, log *slog.Logger, what string, done chan<- struct{}, sweep func(context.Context) (int, error)) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("sweeping "+what, "err", err)
		case n > 0:
			log.Debug("swept "+what, "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RequestBudget returns the contact-list service's request bytes in flight
// and its budget.
func (c *Contacts) RequestBudget() pipeline.BudgetStats { return c.rpc.Budget.Stats() }

// RequestBudget returns the mailbox service's request bytes in flight and
// its budget.
func (m *Mailbox) RequestBudget() pipeline.BudgetStats { return m.rpc.Budget.Stats() }

// RequestBudget returns the prekey directory's request bytes in flight and
// its budget.
func (p *Prekeys) RequestBudget() pipeline.BudgetStats { return p.rpc.Budget.Stats() }

// RequestBudget returns the rendezvous service's request bytes in flight
// and its budget.
func (r *Rendezvous) RequestBudget() pipeline.BudgetStats { return r.rpc.Budget.Stats() }
