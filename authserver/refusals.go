package authserver

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Refused requests are counted, not logged one by one: a stranger sending
// garbage, forged tickets or guesses would otherwise write a line per
// request (21,000 lines in an outside probe) and fill the operator's disk.
// Each refusal is counted by reason in the metrics (MetricRefused) and
// logged at debug level; at most once per RefusalLogInterval one info line
// sums up the refusals since the last.

// RefusalLogInterval is how often at most the auth server logs its summary
// of refused requests.
const RefusalLogInterval = time.Minute

// Reasons a request is refused, the label of MetricRefused.
const (
	RefusedBadRequest      = "bad_request"        // malformed, too large, of no known kind
	RefusedUnauthorized    = "unauthorized"       // a ticket that does not verify
	RefusedBusy            = "busy"               // the request budget was spent
	RefusedRevoked         = "device_revoked"     // a revoked device asked for a ticket or login
	RefusedLoginLimited    = "login_rate_limited" // per account, address or device
	RefusedLoginFailed     = "login_failed"       // KE3 did not verify
	RefusedRegisterLimited = "register_rate_limited"
	RefusedTooManyDevices  = "too_many_devices"
	RefusedHeartbeat       = "heartbeat" // a supernode's heartbeat: bad record, registry or operator full
	// RefusedDeviceList: a published device list that is malformed, badly
	// signed, of another account, without the asker, naming a revoked
	// device, or a first identity without its sealed key.
	RefusedDeviceList = "device_list"
	// RefusedDeviceListStale: a published device list not newer than the
	// stored one, of another identity, or the loser of a first-device race
	// (answered with the stored identity).
	RefusedDeviceListStale = "device_list_stale"
	RefusedPublishLimited  = "publish_rate_limited" // per account
)

// refusals counts refused requests by reason: since start for the metrics,
// since the last summary for the log.
type refusals struct {
	mu      sync.Mutex
	total   map[string]uint64
	pending map[string]uint64
}

func newRefusals() *refusals {
	return &refusals{total: map[string]uint64{}, pending: map[string]uint64{}}
}

// note counts one refusal; what it says goes to the debug log only.
func (r *refusals) note(log *slog.Logger, reason, msg string, args ...any) {
	r.mu.Lock()
	r.total[reason]++
	r.pending[reason]++
	r.mu.Unlock()
	log.Debug(msg, append(args, "reason", reason)...)
}

// counts returns the totals since start.
func (r *refusals) counts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.total))
	for k, v := range r.total {
		out[k] = v
	}
	return out
}

// flush logs one line summing up the refusals since the last, if any.
func (r *refusals) flush(log *slog.Logger, since time.Duration) {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[string]uint64{}
	r.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	reasons := make([]string, 0, len(pending))
	var n uint64
	for k, v := range pending {
		reasons = append(reasons, k)
		n += v
	}
	sort.Strings(reasons)
	args := []any{"n", n, "over", since.Round(time.Second)}
	for _, k := range reasons {
		args = append(args, k, pending[k])
	}
	log.Info("requests refused", args...)
}

// run logs the summary every interval until ctx ends, and once more then.
func (r *refusals) run(ctx context.Context, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			r.flush(log, time.Since(last))
			return
		case now := <-t.C:
			r.flush(log, now.Sub(last))
			last = now
		}
	}
}
