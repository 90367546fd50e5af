package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eserver/node/call/audio"
	"eserver/node/call/audio/audiotest"
	"eserver/node/nodetest"
	"eserver/node/wire"
)

// cli is a command line of the test binary run as eserver-node (a
// separate process, as a user's shell starts it), signing in to profile
// with password from the environment.
func cli(profile, password string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "--profile", profile, "--listen=/ip4/127.0.0.1/tcp/0"}, args...)...)
	cmd.Env = append(os.Environ(), "ESERVER_NODE_AS_CLI=1", "ESERVER_PASSWORD="+password)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	return cmd
}

// toneFile writes d of a freq Hz tone at half scale to dir/name.
func toneFile(t testing.TB, dir, name string, freq float64, d time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := audio.WriteWAV(p, audio.Tone(freq, 0.5, int(d/wire.CallFrameDuration))); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitCmd waits for a started command, at most d, and returns its error.
func waitCmd(t *testing.T, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not finish within %v", strings.Join(cmd.Args[3:], " "), d)
		return nil
	}
}

// TestCallCommand: `eserver-node answer` in bob's profile and
// `eserver-node call bob` in alice's, two processes of the built command
// signing in on their own, make a call: alice's hangs up after --for, both
// exit 0, and each one's --out holds the other's --in. Then bob, signed in
// as a daemon, declines alice's next call over JSON-RPC: her command
// exits 1 and says so.
func TestCallCommand(t *testing.T) {
	server := nodetest.Server(t)
	alice, bob := contactAccounts(t, server)

	dir := t.TempDir()
	voice := toneFile(t, dir, "voice.wav", 440, 4*time.Second)
	// Longer than alice's --for: she hangs up first, and bob's command
	// ends on her hanging up, not on its own input's end.
	reply := toneFile(t, dir, "reply.wav", 660, 6*time.Second)
	heardAlice, heardBob := filepath.Join(dir, "heard-alice.wav"), filepath.Join(dir, "heard-bob.wav")

	var bobErr, aliceErr bytes.Buffer
	answer := cli(bob.profile, "b-pass", "--user", "bob", "answer", "--from", "alice", "--in", reply, "--out", heardBob)
	answer.Stderr = teeVerbose(&bobErr)
	if err := answer.Start(); err != nil {
		t.Fatal(err)
	}
	call := cli(alice.profile, "a-pass", "--user", "alice", "call", "bob", "--in", voice, "--out", heardAlice, "--for", "3s")
	call.Stderr = teeVerbose(&aliceErr)
	if err := call.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitCmd(t, call, 60*time.Second); err != nil {
		t.Fatalf("call: %v\n%s", err, &aliceErr)
	}
	if err := waitCmd(t, answer, 30*time.Second); err != nil {
		t.Fatalf("answer: %v\n%s", err, &bobErr)
	}
	for _, c := range []struct {
		who  string
		out  *bytes.Buffer
		want []string
	}{
		{"alice", &aliceErr, []string{"calling bob", "call with bob: active", "hanging up: the call ran 3s", "call with bob: ended: hung up"}},
		{"bob", &bobErr, []string{"answering alice", "call with alice: active", "call with alice: ended: they hung up"}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.out.String(), w) {
				t.Errorf("%s's command did not say %q:\n%s", c.who, w, c.out)
			}
		}
	}
	// 3 s is 150 frames; allow for the first frames' way and the ends.
	audiotest.HeardTone(t, heardBob, 440, 120)
	audiotest.HeardTone(t, heardAlice, 660, 120)

	t.Run("declined", func(t *testing.T) {
		bobd := startDaemonAt(t, "", "/ip4/127.0.0.1/tcp/0", bob.profile)
		bobd.call("login", map[string]any{"server": server, "username": "bob", "password": "b-pass"}, "")
		var stderr bytes.Buffer
		call := cli(alice.profile, "a-pass", "--user", "alice", "call", "bob", "--in", voice, "--for", "3s")
		call.Stderr = teeVerbose(&stderr)
		if err := call.Start(); err != nil {
			t.Fatal(err)
		}
		in := bobd.note("callIncoming", func(p map[string]any) bool { return p["from"] == "alice" })
		bobd.call("declineCall", map[string]any{"callId": in["callId"]}, "")
		err := waitCmd(t, call, 30*time.Second)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("call declined: %v, want exit status 1\n%s", err, &stderr)
		}
		if !strings.Contains(stderr.String(), "the call with bob ended: declined") {
			t.Fatalf("call declined: stderr does not say so:\n%s", &stderr)
		}
	})
}

// teeVerbose is w, and also the test's stderr under -v.
func teeVerbose(w io.Writer) io.Writer {
	if testing.Verbose() {
		return io.MultiWriter(w, os.Stderr)
	}
	return w
}
