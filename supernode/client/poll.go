package client

import "log/slog"

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
