package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"eserver/internal/poll"
	"eserver/node/api"
	"eserver/node/nodetest"
)

// docs/API.md is held to what the daemon does: its example programs are
// taken out of the markdown and run, as written, against a real auth
// server, and its sample session is replayed against a real daemon and
// compared with what the wire says.

// apiDoc is docs/API.md, from this package's directory.
const apiDoc = "../../../docs/API.md"

// docBlock is one fenced code block of docs/API.md.
type docBlock struct {
	lang    string // what follows the opening fence
	text    string
	line    int    // of the opening fence
	heading string // the last heading before it
}

func readDocBlocks(t *testing.T) []docBlock {
	t.Helper()
	b, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	var heading string
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &docBlock{lang: strings.TrimPrefix(l, "```"), line: i + 1, heading: heading}
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		case strings.HasPrefix(l, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(l, "#"))
		}
	}
	if cur != nil {
		t.Fatalf("API.md: the code block at line %d is not closed", cur.line)
	}
	return blocks
}

// cliOnPath returns a directory holding an eserver-node that runs this
// test binary as the command (TestMain), for the examples' PATH.
func cliOnPath(t *testing.T) string {
	t.Helper()
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := "#!/bin/sh\nESERVER_NODE_AS_CLI=1 exec '" + self + "' -test.run='^$' -- \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "eserver-node"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// exampleRun is an example program running as a process group.
type exampleRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr chan string // its standard error, line by line; closed when it ends
	mu     sync.Mutex
	output strings.Builder // everything it wrote, for failures
	exited chan struct{}
}

// exampleFiles are the names the examples are saved under, by language.
var exampleFiles = map[string]string{"bash": "echobot.sh", "python": "echobot.py"}

// startExample saves b's program and runs it the way its reader would: from
// a directory of its own (not the repository), with eserver-node on PATH,
// ECHOBOT_SERVER set, and home the EServer home directory (a fresh one: no
// profile, no account, no remembered server).
func startExample(t *testing.T, b docBlock, bin, home, server string) *exampleRun {
	t.Helper()
	file := filepath.Join(t.TempDir(), exampleFiles[b.lang])
	if err := os.WriteFile(file, []byte(b.text), 0o755); err != nil {
		t.Fatal(err)
	}
	interp := map[string]string{"bash": "bash", "python": "python3"}[b.lang]
	if _, err := exec.LookPath(interp); err != nil {
		t.Fatalf("the %s example needs %s (make deps installs it): %v", b.lang, interp, err)
	}
	if b.lang == "bash" {
		if _, err := exec.LookPath("jq"); err != nil {
			t.Fatalf("the bash example needs jq (make deps installs it): %v", err)
		}
	}
	cmd := exec.Command(interp, file)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"ESERVER_HOME="+home, "ECHOBOT_SERVER="+server)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the example and its daemon, stopped together
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &exampleRun{t: t, cmd: cmd, stderr: make(chan string, 1000), exited: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Go(func() {
		b, _ := io.ReadAll(stdout)
		r.record("stdout: " + string(b))
	})
	readers.Go(func() {
		defer close(r.stderr)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.record(sc.Text() + "\n")
			select {
			case r.stderr <- sc.Text():
			default:
			}
		}
	})
	go func() {
		readers.Wait()
		cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *exampleRun) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.output.WriteString(s)
}

func (r *exampleRun) out() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.output.String()
}

// waitLog waits for a line of its standard error containing s.
func (r *exampleRun) waitLog(s string) {
	r.t.Helper()
	timer := time.NewTimer(poll.Bound)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-r.stderr:
			if !ok {
				r.t.Fatalf("the example ended before logging %q; it wrote:\n%s", s, r.out())
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timer.C:
			r.t.Fatalf("the example did not log %q; it wrote:\n%s", s, r.out())
		}
	}
}

// stop ends the example and its daemon (SIGTERM to the group), and waits.
func (r *exampleRun) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(poll.Bound):
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
		r.t.Errorf("the example did not stop on SIGTERM; it wrote:\n%s", r.out())
	}
}

// TestAPIExamplesRun runs every program of docs/API.md (its bash and python
// blocks) as its reader would, from a fresh EServer home: each must sign up
// and in by itself, accept alice's request and echo her messages; run again
// (the account exists now), it must carry on. A broken example fails here.
func TestAPIExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the examples against a real auth server")
	}
	var examples []docBlock
	for _, b := range readDocBlocks(t) {
		switch b.lang {
		case "bash", "python":
			examples = append(examples, b)
		case "", "sh", "text":
		default:
			t.Errorf("API.md line %d: a %q block: the test runs bash and python, and knows sh (commands) and text (transcripts)", b.line, b.lang)
		}
	}
	if len(examples) != 2 || examples[0].lang != "bash" || examples[1].lang != "python" {
		t.Fatalf("API.md: want the echo bot in bash, then in python; found %d programs", len(examples))
	}
	bin := cliOnPath(t)
	for _, ex := range examples {
		t.Run(ex.lang, func(t *testing.T) {
			server := nodetest.Server(t)
			home := t.TempDir()
			bot := startExample(t, ex, bin, home, server)
			bot.waitLog("signed in as echobot")
			if _, err := os.Stat(filepath.Join(home, "profiles", "echobot")); err != nil {
				t.Errorf("the profile named echobot is not under $ESERVER_HOME/profiles: %v", err)
			}

			alice := nodetest.New(t, server, "alice")
			ctx := nodetest.Context(t)
			if err := alice.AddContact(ctx, "echobot", "hi bot"); err != nil {
				t.Fatal(err)
			}
			alice.WaitContact("echobot", api.RelationAccepted, "")
			echo := func(text string) {
				t.Helper()
				if _, err := alice.Send(ctx, "echobot", text); err != nil {
					t.Fatal(err)
				}
				m := alice.WaitFor("the echo of "+text, func(e api.Event) bool {
					return e.Message != nil && e.Message.From == "echobot"
				})
				if m.Message.Text != "echo: "+text {
					t.Fatalf("the bot answered %q to %q", m.Message.Text, text)
				}
			}
			echo("ping")

			// Run again on the same profile: the account exists now.
			bot.stop()
			bot = startExample(t, ex, bin, home, server)
			bot.waitLog("signed in as echobot")
			echo("ping again")
			for _, l := range strings.Split(bot.out(), "\n") {
				if strings.HasPrefix(l, "error:") {
					t.Errorf("the example reported an error: %s", l)
				}
			}
		})
	}
}

// TestAPIDocCommandLines: every flag API.md names is one eserver-node has,
// and the ones a bot author needs are explained.
func TestAPIDocCommandLines(t *testing.T) {
	b, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	// The programs' own command lines (jq, read) are not eserver-node's.
	doc := string(b)
	for _, blk := range readDocBlocks(t) {
		if blk.lang == "bash" || blk.lang == "python" {
			doc = strings.Replace(doc, blk.text, "", 1)
		}
	}
	fs, _ := newFlags()
	seen := map[string]bool{}
	for _, loc := range regexp.MustCompile(`--[a-z][a-z-]*`).FindAllStringIndex(doc, -1) {
		flag := doc[loc[0]:loc[1]]
		if strings.Contains(doc[max(0, loc[0]-20):loc[0]], "eserver-auth") {
			continue // another program's flag
		}
		name := strings.TrimPrefix(flag, "--")
		if fs.Lookup(name) == nil {
			t.Errorf("API.md names %s, which eserver-node does not have (in %q)", flag, doc[max(0, loc[0]-30):loc[1]])
		}
		seen[name] = true
	}
	for _, name := range []string{"profile", "listen", "supernode"} {
		if !seen[name] {
			t.Errorf("API.md does not explain --%s", name)
		}
	}
}

// transcript is a sample session: what a client sends (→) and what the
// daemon writes (←), one JSON line each.
type transcript []struct {
	send bool
	line string
	json map[string]any
}

func parseTranscript(t *testing.T, text string) transcript {
	t.Helper()
	var tr transcript
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		var send bool
		switch {
		case strings.HasPrefix(l, "→ "):
			send = true
		case strings.HasPrefix(l, "← "):
		default:
			t.Fatalf("sample session: a line that is neither → nor ←: %q", l)
		}
		_, body, _ := strings.Cut(l, " ")
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("sample session: %q is not JSON: %v", l, err)
		}
		tr = append(tr, struct {
			send bool
			line string
			json map[string]any
		}{send, body, m})
	}
	return tr
}

// sessionMatcher compares what the daemon wrote with a transcript under the
// order docs/API.md promises: the responses in the order of the requests;
// the notifications in the order of the transcript, but for more presence
// notifications than shown (their number depends on how fast a connection
// and a status arrive); the two interleaved in any way.
type sessionMatcher struct {
	t     *testing.T
	lines <-chan map[string]any
	resps []map[string]any // read, not yet matched
	notes []map[string]any
	vars  map[string]string // an ID of the transcript → the daemon's
	// server is the auth server's address, and docServer what the
	// transcript writes in its place.
	server, docServer string
	skipped           []map[string]any // presence notifications passed over
}

var (
	hexID    = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timeForm = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$`)
)

// looseFields are the params a notification reports as they happen to be,
// which the transcript can only show an example of: a contactUpdate's
// presence fields, as known at that moment, and how a contact is reached
// (between two nodes on one machine libp2p may keep the relayed connection
// it made first, or a direct one).
var looseFields = map[string][]string{
	"contactUpdate": {"via", "status", "nick", "subnick", "media"},
	"presence":      {"via"},
}

// match reports why got is not want ("" when it is), binding the
// transcript's IDs.
func (m *sessionMatcher) match(path string, want, got any, loose []string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %v, want an object", path, got)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s: key %q the transcript does not show", path, k)
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s: no key %q", path, k)
			}
			if path == ".params" && contains(loose, k) {
				continue
			}
			if why := m.match(path+"."+k, wv, gv, loose); why != "" {
				return why
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %v, want %d elements", path, got, len(w))
		}
		for i := range w {
			if why := m.match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], loose); why != "" {
				return why
			}
		}
		return ""
	case string:
		g, ok := got.(string)
		if ok && g == m.server {
			g = m.docServer
		}
		switch {
		case !ok:
			return fmt.Sprintf("%s: %v, want a string", path, got)
		case hexID.MatchString(w):
			if !hexID.MatchString(g) {
				return fmt.Sprintf("%s: %q is not 32 hex digits", path, g)
			}
			if bound, ok := m.vars[w]; ok && bound != g {
				return fmt.Sprintf("%s: %q, want %q (the transcript's %s)", path, g, bound, w)
			}
			m.vars[w] = g
		case timeForm.MatchString(w):
			if !timeForm.MatchString(g) {
				return fmt.Sprintf("%s: %q is not a time as API.md says", path, g)
			}
		case strings.HasSuffix(w, "..."):
			if !strings.HasPrefix(g, strings.TrimSuffix(w, "...")) {
				return fmt.Sprintf("%s: %q, want %s", path, g, w)
			}
		case g != w:
			return fmt.Sprintf("%s: %q, want %q", path, g, w)
		}
		return ""
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Sprintf("%s: %v, want %v", path, got, want)
		}
		return ""
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// read takes the next line the daemon wrote into resps or notes.
func (m *sessionMatcher) read(what string) {
	m.t.Helper()
	var l map[string]any
	select {
	case got, ok := <-m.lines:
		if !ok {
			m.t.Fatalf("the daemon ended waiting for %s", what)
		}
		l = got
	case <-time.After(poll.Bound):
		var skipped []string
		for _, s := range m.skipped {
			b, _ := json.Marshal(s)
			skipped = append(skipped, string(b))
		}
		m.t.Fatalf("timed out after %v waiting for %s; presence notifications passed over:\n%s", poll.Bound, what, strings.Join(skipped, "\n"))
	}
	if _, ok := l["method"]; ok {
		m.notes = append(m.notes, l)
	} else {
		m.resps = append(m.resps, l)
	}
}

// expect waits for the daemon to write want, in the promised order.
func (m *sessionMatcher) expect(want map[string]any, raw string) {
	m.t.Helper()
	what := "← " + raw
	if _, isNote := want["method"]; !isNote {
		for len(m.resps) == 0 {
			m.read(what)
		}
		got := m.resps[0]
		m.resps = m.resps[1:]
		if why := m.match("", want, got, nil); why != "" {
			b, _ := json.Marshal(got)
			m.t.Fatalf("the next response is\n%s\nnot\n%s\n%s", b, raw, why)
		}
		return
	}
	loose := looseFields[want["method"].(string)]
	for {
		for len(m.notes) == 0 {
			m.read(what)
		}
		got := m.notes[0]
		m.notes = m.notes[1:]
		why := m.match("", want, got, loose)
		if why == "" {
			return
		}
		if got["method"] == "presence" {
			m.skipped = append(m.skipped, got)
			continue // one of the presence notifications the transcript leaves out
		}
		b, _ := json.Marshal(got)
		m.t.Fatalf("the next notification is\n%s\nnot\n%s\n%s", b, raw, why)
	}
}

// startRawDaemon starts a daemon on a fresh profile and returns its input
// and every line it writes, decoded, in order.
func startRawDaemon(t *testing.T) (io.Writer, <-chan map[string]any) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "--profile", t.TempDir(), "--listen=/ip4/127.0.0.1/tcp/0", "daemon")
	cmd.Env = append(os.Environ(), "ESERVER_NODE_AS_CLI=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan map[string]any, 1000)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("the daemon wrote a line that is not a JSON object: %q", sc.Text())
				continue
			}
			lines <- m
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		in.Close()
		select {
		case <-exited:
		case <-time.After(poll.Bound):
			cmd.Process.Kill()
			t.Error("the daemon did not exit on EOF")
		}
	})
	return in, lines
}

// TestAPISampleSession replays the sample session of docs/API.md against a
// real daemon and a real auth server, with alice (a real node) doing her
// part when the transcript waits on her: asking the bot to be her contact
// before its contactRequest, writing before its message.
func TestAPISampleSession(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon against a real auth server")
	}
	var tr transcript
	for _, b := range readDocBlocks(t) {
		if b.heading == "A session on the wire" && (b.lang == "" || b.lang == "text") {
			tr = parseTranscript(t, b.text)
		}
	}
	if len(tr) < 10 {
		t.Fatalf("API.md: no sample session under a heading \"A session on the wire\" (%d lines)", len(tr))
	}
	server := nodetest.Server(t)
	alice := nodetest.New(t, server, "alice")
	ctx := nodetest.Context(t)
	nick := "Alice"
	if err := alice.SetPresence(ctx, api.PresenceUpdate{Nick: &nick}); err != nil {
		t.Fatal(err)
	}
	in, lines := startRawDaemon(t)
	m := &sessionMatcher{t: t, lines: lines, vars: map[string]string{}, server: server}
	serverRe := regexp.MustCompile(`"(/ip4/[^"]*)"`)
	var asked, wrote bool
	for _, step := range tr {
		if step.send {
			line := step.line
			// The transcript's server stands for the real one.
			if sm := serverRe.FindStringSubmatch(line); sm != nil {
				m.docServer = sm[1]
			}
			line = serverRe.ReplaceAllString(line, `"`+server+`"`)
			if _, err := io.WriteString(in, line+"\n"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		switch step.json["method"] {
		case "contactRequest":
			if !asked {
				asked = true
				p := step.json["params"].(map[string]any)
				if err := alice.AddContact(ctx, "echobot", p["message"].(string)); err != nil {
					t.Fatal(err)
				}
			}
		case "message":
			if !wrote {
				wrote = true
				alice.WaitContact("echobot", api.RelationAccepted, "")
				p := step.json["params"].(map[string]any)
				if _, err := alice.Send(ctx, "echobot", p["text"].(string)); err != nil {
					t.Fatal(err)
				}
			}
		}
		m.expect(step.json, step.line)
	}
	if len(m.resps) > 0 {
		t.Errorf("responses the transcript does not show: %v", m.resps)
	}
	for _, n := range m.notes {
		if n["method"] != "presence" {
			t.Errorf("a notification the transcript does not show: %v", n)
		}
	}
}

// TestErrorsSaidOnce: the node's refusals, as a real auth server gives
// them, reach the client with data.code and a message that says what went
// wrong once (it read "wrong username or password: wrong username or
// password").
func TestErrorsSaidOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon against a real auth server")
	}
	server := nodetest.Server(t)
	in, lines := startRawDaemon(t)
	account := func(user, password string) string {
		return fmt.Sprintf(`{"server":%q,"username":%q,"password":%q}`, server, user, password)
	}
	tests := []struct {
		method, params, wantCode string
	}{
		{"register", account("carol", "c-pass"), ""},
		{"register", account("carol", "other"), "username_taken"},
		{"login", account("carol", "wrong"), "login_failed"},
		{"login", account("nobody", "x"), "login_failed"},
		{"register", account("a", "x"), "bad_request"},
		{"login", account("carol", "c-pass"), ""},
		{"nudge", `{"to":"dave"}`, "not_contact"},
	}
	for i, tt := range tests {
		fmt.Fprintf(in, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`+"\n", i, tt.method, tt.params)
		var resp map[string]any
		for resp == nil {
			l := poll.Receive(t, lines, "the response to "+tt.method)
			if _, isNote := l["method"]; !isNote {
				resp = l
			}
		}
		e, _ := resp["error"].(map[string]any)
		if tt.wantCode == "" {
			if e != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.params, e)
			}
			continue
		}
		data, _ := e["data"].(map[string]any)
		msg, _ := e["message"].(string)
		if data == nil || data["code"] != tt.wantCode {
			t.Errorf("%s %s: error %v, want data.code %q", tt.method, tt.params, e, tt.wantCode)
		}
		parts := strings.Split(msg, ": ")
		for j := 1; j < len(parts); j++ {
			if parts[j] == parts[j-1] {
				t.Errorf("%s: the message says %q twice: %q", tt.method, parts[j], msg)
			}
		}
	}
}
