package client

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"eserver/node/wire"
)

// gatedPipe is a mailPipe whose answers (the fuzz input) become readable
// once a request was written, as a supernode answers only what it was
// asked; Reset ends it.
type gatedPipe struct {
	r     *bytes.Reader
	once  sync.Once
	asked chan struct{}
	reset chan struct{}
	rmu   sync.Once
}

func newGatedPipe(answers []byte) *gatedPipe {
	return &gatedPipe{r: bytes.NewReader(answers), asked: make(chan struct{}), reset: make(chan struct{})}
}

func (p *gatedPipe) Read(b []byte) (int, error) {
	select {
	case <-p.asked:
	case <-p.reset:
		return 0, errors.New("reset")
	}
	select {
	case <-p.reset:
		return 0, errors.New("reset")
	default:
	}
	return p.r.Read(b)
}

func (p *gatedPipe) Write(b []byte) (int, error) {
	p.once.Do(func() { close(p.asked) })
	return len(b), nil
}

func (p *gatedPipe) Reset() error {
	p.rmu.Do(func() { close(p.reset) })
	return nil
}

func (p *gatedPipe) SetWriteDeadline(time.Time) error { return nil }

// FuzzMailConnAnswers feeds arbitrary bytes, as a supernode's answers, to
// a kept mailbox stream waiting for a fetch's answer: whatever they are,
// the call returns (an answer, a code's sentinel or a failure), an answer
// it returns passes checkFetched's order and count checks or is refused
// by them, and the stream's reader ends once the stream failed.
func FuzzMailConnAnswers(f *testing.F) {
	frame := func(m *wire.MailboxResponse) []byte {
		var b bytes.Buffer
		if err := wire.WriteMsg(&b, m); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	f.Add(frame(&wire.MailboxResponse{Items: []*wire.StoredMail{{Seq: 3, Item: []byte("x")}, {Seq: 4}}}))
	f.Add(frame(&wire.MailboxResponse{Items: []*wire.StoredMail{{Seq: 4}, {Seq: 3}}}))
	f.Add(frame(&wire.MailboxResponse{Error: wire.CodeUnauthorized}))
	f.Add(frame(&wire.MailboxResponse{Error: "no such code"}))
	f.Add(append(frame(&wire.MailboxResponse{}), frame(&wire.MailboxResponse{Seq: 9})...))
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newGatedPipe(data)
		ms := newMailStream(p)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		const after, limit = 2, 4
		resp, err := ms.roundTrip(ctx, fetchRequest(&wire.SignedTicket{}, after, limit, nil))
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("no outcome for the call: the reader neither answered nor failed it")
		}
		if err == nil {
			if cerr := codeErr(resp.GetError()); cerr == nil {
				items, _, ferr := checkFetched(resp, after, limit)
				if ferr == nil {
					last := uint64(after)
					for _, it := range items {
						if it.GetSeq() <= last {
							t.Fatalf("items out of order passed the checks: %d after %d", it.GetSeq(), last)
						}
						last = it.GetSeq()
					}
					if len(items) > limit {
						t.Fatalf("%d items passed the checks, %d asked", len(items), limit)
					}
				}
			}
		}
		// The input runs out (or was bad): the reader fails the stream and
		// returns.
		select {
		case <-ms.done:
		case <-time.After(10 * time.Second):
			ms.fail(errors.New("test over"))
			<-ms.done
			if p.r.Len() == 0 {
				t.Fatal("the reader did not end at the end of the answers")
			}
		}
	})
}
