package transfer

import "time"

// Progress is one update of a receive.
type Progress struct {
	ID    ID
	Done  int64 // bytes on disk, including those from before a resume
	Total int64
	// Rate is bytes per second over the last RateWindow; zero until two
	// samples exist.
	Rate float64
	// ETA is the time left at Rate; zero when unknown or finished.
	ETA time.Duration
}

// progress throttles updates to one per ProgressInterval and keeps the
// samples of the rate window.
type progress struct {
	fn      func(Progress)
	id      ID
	total   int64
	done    int64
	last    time.Time // of the last update sent
	samples []sample  // oldest first, spanning at most RateWindow
	now     func() time.Time
}

type sample struct {
	t    time.Time
	done int64
}

func newProgress(fn func(Progress), id ID, done, total int64) *progress {
	return &progress{fn: fn, id: id, done: done, total: total, now: time.Now}
}

// add counts n more bytes and sends an update if one is due.
func (p *progress) add(n int64) {
	p.done += n
	if p.fn == nil {
		return
	}
	now := p.now()
	if now.Sub(p.last) < ProgressInterval {
		return
	}
	p.emit(now)
}

// finish sends a last update regardless of throttling.
func (p *progress) finish() {
	if p.fn != nil {
		p.emit(p.now())
	}
}

func (p *progress) emit(now time.Time) {
	p.last = now
	p.samples = append(p.samples, sample{now, p.done})
	k := 0
	for k < len(p.samples)-1 && now.Sub(p.samples[k].t) > RateWindow {
		k++
	}
	p.samples = append(p.samples[:0], p.samples[k:]...)
	u := Progress{ID: p.id, Done: p.done, Total: p.total}
	if first := p.samples[0]; len(p.samples) > 1 {
		if dt := now.Sub(first.t).Seconds(); dt > 0 {
			u.Rate = float64(p.done-first.done) / dt
		}
	}
	if u.Rate > 0 && p.done < p.total {
		u.ETA = time.Duration(float64(p.total-p.done) / u.Rate * float64(time.Second))
	}
	p.fn(u)
}
