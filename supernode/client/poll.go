package client

import (
	"context"
	"log/slog"
	"time"
)

// pollLoop runs round at once, then every interval (def when interval is
// not positive) and whenever kick fires (nil: never), until ctx ends; then
// it returns nil. Each round's outcome is logged as what, through
// pollLog. round gets the interval in force (a round may take no longer).
func pollLoop(ctx context.Context, log *slog.Logger, interval, def time.Duration, what string, kick <-chan struct{}, round func(ctx context.Context, interval time.Duration) error, args ...any) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = def
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	pl := pollLog{log: log, what: what}
	for {
		err := round(ctx, interval)
		if ctx.Err() != nil {
			return nil
		}
		pl.report(err, args...)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-kick:
		}
	}
}

// pollLog reports the outcome of each round of a poll loop: the first
// failure loudly and the rest quietly (a server down for an hour should not
// fill the log), and the recovery once.
type pollLog struct {
	log     *slog.Logger
	what    string // e.g. "heartbeat", "fetching revocations"
	failing bool
}

// report logs err (nil: the round succeeded) with args.
func (p *pollLog) report(err error, args ...any) {
	switch {
	case err == nil && p.failing:
		p.log.Info(p.what+" succeeded again", args...)
	case err != nil && !p.failing:
		p.log.Warn(p.what+" failed", append(args, "err", err)...)
	case err != nil:
		p.log.Debug(p.what+" failed", append(args, "err", err)...)
	}
	p.failing = err != nil
}
