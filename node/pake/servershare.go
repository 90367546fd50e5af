package pake

import (
	"github.com/bytemare/opaque"
)

// serverShareStretch are the Argon2id parameters (time, memory in KiB,
// threads) of a NewServerShareClient: the smallest Argon2id allows.
var serverShareStretch = []uint64{1, 8, 1}

// NewServerShareClient is a client for measuring the server's share of
// registrations and logins apart from the client's: its key stretching is
// Argon2id at its smallest instead of the default (64 MiB, three passes),
// so a benchmark can run many logins and time what the server does. The
// server never stretches — its work is the same whatever the client's
// stretch — and nothing of the server changes; an account registered by
// such a client can be logged in to only by such a client. Benchmarks use
// it; nothing else may.
func NewServerShareClient(username string) (*Client, error) {
	c, err := NewClient(username)
	if err != nil {
		return nil, err
	}
	c.opts = []*opaque.ClientOptions{{KSFParameters: serverShareStretch}}
	return c, nil
}
