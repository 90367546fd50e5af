package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"eserver/node/api"
)

// `eserver-node call CONTACT` and `eserver-node answer`: a voice call from
// the shell, with files in place of the microphone and the speakers. The
// node plays --in and writes what it hears to --out itself
// (api.CallAudio's InFile and OutFile); this command signs in, places or
// takes the call, prints its states to stderr and hangs up.

// callOptions are what `call` and `answer` were told.
type callOptions struct {
	to   string // call: the contact; empty: answer
	from string // answer: only a call from this contact
	// inFile and outFile are absolute paths ("" the default devices);
	// inLength is how long inFile plays.
	inFile, outFile string
	inLength        time.Duration
	// length is --for: how long the call runs once answered; 0: until
	// inFile has played and a second more, or until the other side hangs
	// up (no inFile: until then or an interrupt).
	length time.Duration
}

// hangUpAfterInput is how long a call goes on after its input file ended:
// what was said has to cross the network and the contact's jitter buffer
// before the call is cut.
const hangUpAfterInput = time.Second

// hangUpWait bounds how long, after hanging up, the command waits for the
// node to report the call ended (its out file is complete by then).
const hangUpWait = 5 * time.Second

// callOnlineWait bounds how long `call` waits for the contact to show
// online before calling: signed in a moment ago, the node may not know
// yet. The call is tried all the same, and the node says "offline".
const callOnlineWait = 15 * time.Second

// callOptionsOf checks the command line of `call` or `answer` (args are
// its operands) and reads how long the input file plays.
func callOptionsOf(f flags, name string, args []string) (callOptions, error) {
	opt := callOptions{from: *f.from, length: *f.length}
	switch name {
	case "call":
		if len(args) != 1 || args[0] == "" {
			return opt, errors.New("call: name one contact")
		}
		if opt.from != "" {
			return opt, errors.New("call: --from is for answer")
		}
		opt.to = args[0]
	case "answer":
		if len(args) != 0 {
			return opt, errors.New("answer: takes no operand (--from names the caller)")
		}
	default:
		return opt, fmt.Errorf("no command %q", name)
	}
	if opt.length < 0 {
		return opt, fmt.Errorf("--for %v: a call cannot run for less than nothing", opt.length)
	}
	var err error
	if *f.in != "" {
		// Absolute: the node, whose working directory may be another,
		// opens the files.
		if opt.inFile, err = filepath.Abs(*f.in); err != nil {
			return opt, err
		}
		if opt.inLength, err = audioLength(opt.inFile); err != nil {
			return opt, fmt.Errorf("--in: %w", err)
		}
	}
	if *f.out != "" {
		if opt.outFile, err = filepath.Abs(*f.out); err != nil {
			return opt, err
		}
		if st, err := os.Stat(filepath.Dir(opt.outFile)); err != nil || !st.IsDir() {
			return opt, fmt.Errorf("--out: no directory %s to write %s in", filepath.Dir(opt.outFile), filepath.Base(opt.outFile))
		}
	}
	return opt, nil
}

// callEnded is a call that ended otherwise than by hanging up: declined,
// busy, missed, offline, lost, failed. The command exits non-zero with it.
type callEnded struct {
	with, reason string
}

func (e *callEnded) Error() string {
	return fmt.Sprintf("the call with %s ended: %s", e.with, e.reason)
}

// endedWell: the reasons a call ends as it should (by either side hanging
// up); the others are the command's failure.
var endedWell = map[string]bool{api.CallReasonHungUp: true, api.CallReasonTheyHung: true}

// runCallCommand signs in and runs the call.
func runCallCommand(so sessionOptions, opt callOptions, stderr io.Writer, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, events, err := signIn(ctx, so, log)
	if err != nil {
		return err
	}
	defer n.Close()
	defer n.Logout(context.Background())
	return runCall(ctx, n, events, opt, stderr)
}

// runCall places the call (opt.to) or takes one (answer), and follows it
// on events until it ends: after opt.length, or the input file and a
// second, it hangs up; an interrupt (ctx) hangs up too. Each state is a
// line on out. A call that ends otherwise than hung up (on either side) is
// a *callEnded error.
func runCall(ctx context.Context, a api.API, events <-chan api.Event, opt callOptions, out io.Writer) error {
	audio := api.CallAudio{InFile: opt.inFile, OutFile: opt.outFile}
	var id, with string
	if opt.to != "" {
		with = opt.to
		waiting := func() { fmt.Fprintf(out, "waiting for %s to come online\n", opt.to) }
		if err := waitOnline(ctx, a, events, opt.to, callOnlineWait, waiting); err != nil && ctx.Err() != nil {
			return err
		}
		var err error
		if id, err = a.Call(ctx, opt.to, audio); err != nil {
			if errors.Is(err, api.ErrOffline) {
				return &callEnded{with: opt.to, reason: api.CallReasonOffline}
			}
			if errors.Is(err, api.ErrBusy) {
				return fmt.Errorf("calling %s: %w (hang up the other first)", opt.to, err)
			}
			return fmt.Errorf("calling %s: %w", opt.to, err)
		}
		fmt.Fprintf(out, "calling %s\n", opt.to)
	} else {
		var err error
		if id, with, err = waitIncoming(ctx, a, events, opt.from, out); err != nil {
			return err
		}
		fmt.Fprintf(out, "answering %s\n", with)
		if err := a.AnswerCall(ctx, id, audio); err != nil {
			return fmt.Errorf("answering %s: %w", with, err)
		}
	}
	return followCall(ctx, a, events, id, with, opt, out)
}

// waitIncoming waits for a call (from from, if given) and returns its ID
// and caller. A call already ringing when it starts counts; calls from
// others ring on, unanswered.
func waitIncoming(ctx context.Context, a api.API, events <-chan api.Event, from string, out io.Writer) (id, caller string, err error) {
	calls, err := a.ActiveCalls(ctx)
	if err != nil {
		return "", "", fmt.Errorf("listing calls: %w", err)
	}
	for _, c := range calls {
		if !c.Outgoing && c.State == api.CallIncoming && (from == "" || c.With == from) {
			return c.ID, c.With, nil
		}
	}
	if from != "" {
		fmt.Fprintf(out, "waiting for a call from %s\n", from)
	} else {
		fmt.Fprintln(out, "waiting for a call")
	}
	for {
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return "", "", errors.New("the node stopped")
			}
			in := ev.CallIncoming
			if in == nil {
				continue
			}
			if from != "" && in.From != from {
				fmt.Fprintf(out, "not answering %s: waiting for %s\n", in.From, from)
				continue
			}
			return in.ID, in.From, nil
		}
	}
}

// followCall prints call id's states until it ends, hanging up when its
// time is up or ctx ends.
func followCall(ctx context.Context, a api.API, events <-chan api.Event, id, with string, opt callOptions, out io.Writer) error {
	length := opt.length
	if length == 0 && opt.inFile != "" {
		length = opt.inLength + hangUpAfterInput
	}
	var (
		running  <-chan time.Time // fires when the call has run its length
		giveUp   <-chan time.Time // fires when the node did not report our hang-up
		hungUp   bool
		answered bool
	)
	hangUp := func(why string) error {
		hungUp = true
		fmt.Fprintf(out, "hanging up: %s\n", why)
		t := time.NewTimer(hangUpWait)
		giveUp = t.C
		// Bounded, and not by ctx: an interrupt is what asks for it.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangUpWait)
		defer cancel()
		if err := a.HangUp(hctx, id); err != nil && !errors.Is(err, api.ErrNoSuchCall) {
			return fmt.Errorf("hanging up: %w", err)
		}
		return nil
	}
	done := ctx.Done()
	for {
		select {
		case <-done:
			done = nil // once
			if !hungUp {
				if err := hangUp("interrupted"); err != nil {
					return err
				}
			}
		case <-running:
			running = nil
			if !hungUp {
				if err := hangUp(fmt.Sprintf("the call ran %v", length)); err != nil {
					return err
				}
			}
		case <-giveUp:
			fmt.Fprintf(out, "the node did not report the call ended within %v\n", hangUpWait)
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("the node stopped")
			}
			st := ev.CallState
			if st == nil || st.ID != id {
				continue
			}
			switch st.State {
			case api.CallActive:
				how := "direct"
				if st.Relayed {
					how = "relayed"
				}
				fmt.Fprintf(out, "call with %s: active (%s)\n", with, how)
				if !answered && length > 0 {
					running = time.After(length)
				}
				answered = true
			case api.CallEnded:
				fmt.Fprintf(out, "call with %s: ended: %s\n", with, st.Reason)
				if endedWell[st.Reason] || hungUp {
					return nil
				}
				return &callEnded{with: with, reason: st.Reason}
			default:
				fmt.Fprintf(out, "call with %s: %s\n", with, st.State)
			}
		}
	}
}
