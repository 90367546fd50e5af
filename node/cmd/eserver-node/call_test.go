package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"eserver/node/api"
	"eserver/node/api/apitest"
)

// wavBytes is a WAV file of n bytes of silence in the given format, its
// chunks after "fmt " and before "data" being extra (e.g. a LIST chunk).
func wavBytes(rate uint32, channels, bits uint16, n int, extra ...[]byte) []byte {
	var b bytes.Buffer
	body := new(bytes.Buffer)
	body.WriteString("WAVE")
	body.WriteString("fmt ")
	binary.Write(body, binary.LittleEndian, uint32(16))
	binary.Write(body, binary.LittleEndian, uint16(1)) // PCM
	binary.Write(body, binary.LittleEndian, channels)
	binary.Write(body, binary.LittleEndian, rate)
	binary.Write(body, binary.LittleEndian, rate*uint32(channels)*uint32(bits/8))
	binary.Write(body, binary.LittleEndian, channels*bits/8)
	binary.Write(body, binary.LittleEndian, bits)
	for _, e := range extra {
		body.Write(e)
	}
	body.WriteString("data")
	binary.Write(body, binary.LittleEndian, uint32(n))
	body.Write(make([]byte, n))
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWAVLength(t *testing.T) {
	list := append([]byte("LIST"), 3, 0, 0, 0, 'a', 'b', 'c', 0) // odd size: padded
	tests := []struct {
		name    string
		file    []byte
		want    time.Duration
		wantErr string
	}{
		{"48 kHz mono 16-bit, 1.5 s", wavBytes(48000, 1, 16, 144000), 1500 * time.Millisecond, ""},
		{"44.1 kHz stereo 16-bit, 2 s", wavBytes(44100, 2, 16, 352800), 2 * time.Second, ""},
		{"8 kHz mono 8-bit, 0.25 s", wavBytes(8000, 1, 8, 2000), 250 * time.Millisecond, ""},
		{"a padded LIST chunk before data", wavBytes(48000, 1, 16, 96000, list), time.Second, ""},
		{"empty data", wavBytes(48000, 1, 16, 0), 0, ""},
		{"data cut short plays what is there", wavBytes(48000, 1, 16, 96000)[:44+48000], 500 * time.Millisecond, ""},
		{"not RIFF", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00"), 0, "not a WAV file"},
		{"empty", nil, 0, "not a WAV file"},
		{"no data chunk", wavBytes(48000, 1, 16, 0)[:36], 0, "without a data chunk"},
		{"zero channels", wavBytes(48000, 0, 16, 100), 0, "not a sound"},
		{"odd bits", wavBytes(48000, 1, 12, 100), 0, "not a sound"},
		{"absurd rate", wavBytes(1<<31, 1, 16, 100), 0, "not a sound"},
		{"data before fmt", append([]byte("RIFF\x0c\x00\x00\x00WAVEdata\x00\x00\x00\x00"), 0), 0, "before its format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wavLength(bytes.NewReader(tt.file), int64(len(tt.file)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("wavLength = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("wavLength = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestAudioLengthRawPCM(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]time.Duration{"a.pcm": 2 * time.Second, "b.RAW": 2 * time.Second} {
		p := writeFile(t, dir, name, make([]byte, 2*rawPCMRate))
		if got, err := audioLength(p); err != nil || got != want {
			t.Errorf("audioLength(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := audioLength(dir); err == nil {
		t.Error("audioLength of a directory: no error")
	}
	if _, err := audioLength(filepath.Join(dir, "none.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("audioLength of no file = %v, want not exist", err)
	}
}

// FuzzWAVLength: any bytes give a length or an error, never a panic, a
// negative length or a read past the end.
func FuzzWAVLength(f *testing.F) {
	f.Add(wavBytes(48000, 1, 16, 960))
	f.Add(wavBytes(44100, 2, 24, 30, append([]byte("LIST"), 1, 0, 0, 0, 'x', 0)))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := wavLength(bytes.NewReader(b), int64(len(b)))
		if err == nil && d < 0 {
			t.Fatalf("negative length %v", d)
		}
	})
}

// testFlags is the command line as main defines it, failing instead of
// exiting.
func testFlags() (*flag.FlagSet, flags) {
	fs, f := newFlags()
	fs.Init("eserver-node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs, f
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		args         []string
		wantName     string
		wantOperands []string
		wantIn       string
		wantFor      time.Duration
		wantFrom     string
		wantErr      bool
	}{
		{args: []string{"daemon"}, wantName: "daemon"},
		{args: []string{"--profile", "bot", "daemon"}, wantName: "daemon"},
		{args: []string{"--user", "alice", "stream", "send", "bob"}, wantName: "stream send", wantOperands: []string{"bob"}},
		{args: []string{"--user", "bob", "--from", "alice", "stream", "receive"}, wantName: "stream receive", wantFrom: "alice"},
		{args: []string{"--user", "alice", "call", "bob", "--in", "voice.wav", "--out", "heard.wav", "--for", "10s"},
			wantName: "call", wantOperands: []string{"bob"}, wantIn: "voice.wav", wantFor: 10 * time.Second},
		{args: []string{"--user", "alice", "--in=v.wav", "call", "bob"}, wantName: "call", wantOperands: []string{"bob"}, wantIn: "v.wav"},
		{args: []string{"call", "--for", "1m30s", "bob"}, wantName: "call", wantOperands: []string{"bob"}, wantFor: 90 * time.Second},
		{args: []string{"answer", "--from", "bob", "--in", "reply.wav"}, wantName: "answer", wantFrom: "bob", wantIn: "reply.wav"},
		{args: []string{"call", "--", "-odd-name"}, wantName: "call", wantOperands: []string{"-odd-name"}},
		{args: []string{}, wantErr: true},
		{args: []string{"call"}, wantErr: true},
		{args: []string{"call", "bob", "carol"}, wantErr: true},
		{args: []string{"answer", "bob"}, wantErr: true},
		{args: []string{"ring", "bob"}, wantErr: true},
		{args: []string{"stream"}, wantErr: true},
		{args: []string{"call", "bob", "--for", "ten"}, wantErr: true},
		{args: []string{"call", "bob", "--loud"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs, f := testFlags()
			name, operands, err := parseCommand(fs, tt.args)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseCommand = %q %q, want an error", name, operands)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name != tt.wantName || !slices.Equal(operands, tt.wantOperands) {
				t.Errorf("parseCommand = %q %q, want %q %q", name, operands, tt.wantName, tt.wantOperands)
			}
			if *f.in != tt.wantIn || *f.length != tt.wantFor || *f.from != tt.wantFrom {
				t.Errorf("--in %q --for %v --from %q, want %q %v %q", *f.in, *f.length, *f.from, tt.wantIn, tt.wantFor, tt.wantFrom)
			}
		})
	}
}

func TestCallOptions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "voice.wav", wavBytes(48000, 1, 16, 48000*2*3))
	writeFile(t, dir, "voice.pcm", make([]byte, rawPCMRate/2))
	writeFile(t, dir, "notes.txt", []byte("hello"))
	t.Chdir(dir)
	tests := []struct {
		args    []string
		want    callOptions
		wantErr string
	}{
		{args: []string{"call", "bob", "--in", "voice.wav", "--out", "heard.wav"},
			want: callOptions{to: "bob", inFile: filepath.Join(dir, "voice.wav"), outFile: filepath.Join(dir, "heard.wav"), inLength: 3 * time.Second}},
		{args: []string{"call", "bob", "--in", filepath.Join(dir, "voice.pcm"), "--for", "10s"},
			want: callOptions{to: "bob", inFile: filepath.Join(dir, "voice.pcm"), inLength: 500 * time.Millisecond, length: 10 * time.Second}},
		{args: []string{"call", "bob"}, want: callOptions{to: "bob"}},
		{args: []string{"answer", "--from", "bob", "--out", "heard.wav"}, want: callOptions{from: "bob", outFile: filepath.Join(dir, "heard.wav")}},
		{args: []string{"call", "bob", "--in", "missing.wav"}, wantErr: "no such file"},
		{args: []string{"call", "bob", "--in", "notes.txt"}, wantErr: "not a WAV file"},
		{args: []string{"call", "bob", "--out", "nowhere/heard.wav"}, wantErr: "no directory"},
		{args: []string{"call", "bob", "--for", "-1s"}, wantErr: "less than nothing"},
		{args: []string{"call", "bob", "--from", "carol"}, wantErr: "--from is for answer"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs, f := testFlags()
			name, operands, err := parseCommand(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			got, err := callOptionsOf(f, name, operands)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("callOptionsOf = %+v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("callOptionsOf = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// callRun is runCall against the Fake, inside a synctest bubble: time
// moves only when every goroutine waits, so the test says exactly when
// the command hangs up without waiting for it.
type callRun struct {
	t      *testing.T
	fake   *apitest.Fake
	out    bytes.Buffer
	done   chan error
	cancel context.CancelFunc
}

func startRun(t *testing.T, opt callOptions, setup func(*apitest.Fake)) *callRun {
	t.Helper()
	fake := apitest.New()
	fake.ContactList = []api.Contact{{Username: "bob", Relation: api.RelationAccepted, Presence: api.Presence{Status: api.StatusOnline}}}
	if setup != nil {
		setup(fake)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &callRun{t: t, fake: fake, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- runCall(ctx, fake, fake.Events, opt, &r.out) }()
	synctest.Wait()
	return r
}

// state tells the command the call moved.
func (r *callRun) state(e api.CallEvent) {
	r.fake.Events <- api.Event{CallState: &e}
	synctest.Wait()
}

// running fails unless the command still runs.
func (r *callRun) running() {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.t.Fatalf("runCall returned %v; output:\n%s", err, r.out.String())
	default:
	}
}

// result is what the command returned; it must have.
func (r *callRun) result() error {
	r.t.Helper()
	select {
	case err := <-r.done:
		return err
	default:
		r.t.Fatalf("runCall still runs; output:\n%s", r.out.String())
		return nil
	}
}

// hungUp reports whether the command hung up call id.
func (r *callRun) hungUp(id string) bool { return slices.Contains(r.fake.Calls(), "HangUp "+id) }

func ended(id, with string, outgoing bool, reason string) api.CallEvent {
	return api.CallEvent{ID: id, With: with, Outgoing: outgoing, State: api.CallEnded, Reason: reason}
}

// TestCallEndsBadly: a call declined, busy, missed, lost or offline is
// the command's failure, with the reason in its error.
func TestCallEndsBadly(t *testing.T) {
	for _, reason := range []string{api.CallReasonDeclined, api.CallReasonBusy, api.CallReasonMissed, api.CallReasonLost, api.CallReasonFailed} {
		t.Run(reason, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := startRun(t, callOptions{to: "bob"}, nil)
				if got := r.fake.Calls(); !slices.Contains(got, `Call bob in="" out="" infile="" outfile=""`) {
					t.Fatalf("API calls = %q, want the call placed", got)
				}
				r.state(api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallRinging})
				r.running()
				r.state(ended("c1", "bob", true, reason))
				err := r.result()
				var ce *callEnded
				if !errors.As(err, &ce) || ce.reason != reason || !strings.Contains(err.Error(), reason) {
					t.Fatalf("runCall = %v, want the call ended: %s", err, reason)
				}
				if r.hungUp("c1") {
					t.Error("hung up a call that had ended")
				}
				for _, want := range []string{"calling bob", "call with bob: ringing", "call with bob: ended: " + reason} {
					if !strings.Contains(r.out.String(), want) {
						t.Errorf("output lacks %q:\n%s", want, r.out.String())
					}
				}
			})
		})
	}
}

// TestCallOffline: a contact not online is said at once by the node; the
// command waits a moment for it to come online first (both may be
// signing in at once), then fails with "offline".
func TestCallOffline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRun(t, callOptions{to: "bob"}, func(f *apitest.Fake) {
			f.ContactList[0].Status = api.StatusOffline
			f.Fail("Call", fmt.Errorf("bob is %w", api.ErrOffline))
		})
		r.running()
		time.Sleep(callOnlineWait)
		synctest.Wait()
		err := r.result()
		var ce *callEnded
		if !errors.As(err, &ce) || ce.reason != api.CallReasonOffline {
			t.Fatalf("runCall = %v, want the call ended: offline", err)
		}
	})
}

// TestCallWaitsForContact: a contact coming online while the command
// waits is called at once.
func TestCallWaitsForContact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRun(t, callOptions{to: "bob"}, func(f *apitest.Fake) { f.ContactList[0].Status = api.StatusOffline })
		if r.fake.Called("Call ") {
			t.Fatal("called a contact shown offline at once")
		}
		r.fake.Events <- api.Event{Contact: &api.Contact{Username: "bob", Relation: api.RelationAccepted, Presence: api.Presence{Status: api.StatusAway}}}
		synctest.Wait()
		if !r.fake.Called("Call bob") {
			t.Fatal("did not call once the contact came online")
		}
		if !strings.Contains(r.out.String(), "waiting for bob to come online") {
			t.Errorf("output:\n%s", r.out.String())
		}
		r.state(ended("c1", "bob", true, api.CallReasonTheyHung))
		if err := r.result(); err != nil {
			t.Fatalf("runCall = %v", err)
		}
	})
}

// TestCallHangsUp: the command hangs up when the call has run --for, or
// its input and a second; not before, and not while it rings.
func TestCallHangsUp(t *testing.T) {
	tests := []struct {
		name string
		opt  callOptions
		want time.Duration // after the answer
	}{
		{"--for", callOptions{to: "bob", length: 10 * time.Second}, 10 * time.Second},
		{"--for over the input", callOptions{to: "bob", inFile: "/v.wav", inLength: 3 * time.Second, length: 10 * time.Second}, 10 * time.Second},
		{"the input and a second", callOptions{to: "bob", inFile: "/v.wav", inLength: 3 * time.Second}, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := startRun(t, tt.opt, nil)
				r.state(api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallRinging})
				time.Sleep(30 * time.Second) // ringing: no time runs out
				synctest.Wait()
				r.state(api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallActive, Since: time.Now()})
				time.Sleep(tt.want - time.Millisecond)
				synctest.Wait()
				if r.hungUp("c1") {
					t.Fatalf("hung up before %v", tt.want)
				}
				time.Sleep(time.Millisecond)
				synctest.Wait()
				if !r.hungUp("c1") {
					t.Fatalf("did not hang up after %v: %q", tt.want, r.fake.Calls())
				}
				r.running() // until the node says the call ended: the out file is whole then
				r.state(ended("c1", "bob", true, api.CallReasonHungUp))
				if err := r.result(); err != nil {
					t.Fatalf("runCall = %v after hanging up", err)
				}
				if !strings.Contains(r.out.String(), "hanging up: the call ran "+tt.want.String()) {
					t.Errorf("output:\n%s", r.out.String())
				}
			})
		})
	}
}

// TestCallTheyHangUp: the other side hanging up ends the command well.
func TestCallTheyHangUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRun(t, callOptions{to: "bob", length: time.Minute}, nil)
		r.state(api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallActive, Relayed: true})
		r.state(api.CallEvent{ID: "c9", With: "carol", State: api.CallEnded, Reason: api.CallReasonMissed}) // another call
		r.running()
		r.state(ended("c1", "bob", true, api.CallReasonTheyHung))
		if err := r.result(); err != nil {
			t.Fatalf("runCall = %v", err)
		}
		if r.hungUp("c1") {
			t.Error("hung up a call the contact ended")
		}
		if !strings.Contains(r.out.String(), "call with bob: active (relayed)") {
			t.Errorf("output:\n%s", r.out.String())
		}
	})
}

// TestCallInterrupted: an interrupt hangs up, and the command ends well
// once the node says so, or after hangUpWait if it never does.
func TestCallInterrupted(t *testing.T) {
	for _, reported := range []bool{true, false} {
		t.Run(fmt.Sprint("reported ", reported), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := startRun(t, callOptions{to: "bob"}, nil)
				r.state(api.CallEvent{ID: "c1", With: "bob", Outgoing: true, State: api.CallActive})
				r.cancel()
				synctest.Wait()
				if !r.hungUp("c1") {
					t.Fatal("did not hang up when interrupted")
				}
				if reported {
					r.state(ended("c1", "bob", true, api.CallReasonHungUp))
				} else {
					r.running()
					time.Sleep(hangUpWait)
					synctest.Wait()
				}
				if err := r.result(); err != nil {
					t.Fatalf("runCall = %v", err)
				}
			})
		})
	}
}

// TestAnswer: answer waits for the caller named by --from, lets others
// ring, and answers with the files.
func TestAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opt := callOptions{from: "bob", inFile: "/srv/reply.wav", outFile: "/srv/heard.wav", inLength: 2 * time.Second}
		r := startRun(t, opt, nil)
		r.fake.Events <- api.Event{CallIncoming: &api.IncomingCall{ID: "c1", From: "carol"}}
		synctest.Wait()
		if r.fake.Called("AnswerCall") {
			t.Fatal("answered carol's call, waiting for bob's")
		}
		r.fake.Events <- api.Event{CallIncoming: &api.IncomingCall{ID: "c2", From: "bob"}}
		synctest.Wait()
		if want := `AnswerCall c2 in="" out="" infile="/srv/reply.wav" outfile="/srv/heard.wav"`; !slices.Contains(r.fake.Calls(), want) {
			t.Fatalf("API calls = %q, want %q", r.fake.Calls(), want)
		}
		r.state(api.CallEvent{ID: "c2", With: "bob", State: api.CallActive})
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if !r.hungUp("c2") || r.hungUp("c1") {
			t.Fatalf("API calls = %q, want c2 hung up after its input and a second", r.fake.Calls())
		}
		r.state(ended("c2", "bob", false, api.CallReasonHungUp))
		if err := r.result(); err != nil {
			t.Fatalf("runCall = %v", err)
		}
		for _, want := range []string{"waiting for a call from bob", "not answering carol", "answering bob"} {
			if !strings.Contains(r.out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, r.out.String())
			}
		}
	})
}

// TestAnswerRinging: a call ringing before answer started is answered;
// one the caller gives up on before the answer fails the command.
func TestAnswerRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRun(t, callOptions{}, func(f *apitest.Fake) {
			f.Voice.Active = []api.CallEvent{{ID: "c3", With: "bob", State: api.CallIncoming}}
		})
		if !r.fake.Called("AnswerCall c3") {
			t.Fatalf("API calls = %q, want c3 answered", r.fake.Calls())
		}
		r.state(ended("c3", "bob", false, api.CallReasonMissed))
		var ce *callEnded
		if err := r.result(); !errors.As(err, &ce) || ce.reason != api.CallReasonMissed {
			t.Fatalf("runCall = %v, want the call ended: missed", err)
		}
	})
}

// TestAnswerFails: a call the node cannot answer (taken elsewhere) is
// the command's failure, said with the node's words.
func TestAnswerFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRun(t, callOptions{}, func(f *apitest.Fake) {
			f.Fail("AnswerCall", fmt.Errorf("c4: %w", api.ErrNoSuchCall))
		})
		r.fake.Events <- api.Event{CallIncoming: &api.IncomingCall{ID: "c4", From: "bob"}}
		synctest.Wait()
		if err := r.result(); !errors.Is(err, api.ErrNoSuchCall) || !strings.Contains(err.Error(), "answering bob") {
			t.Fatalf("runCall = %v, want answering bob: no such call", err)
		}
	})
}
