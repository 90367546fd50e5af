package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"eserver/internal/poll"
	"eserver/node/nodetest"
)

// The test binary doubles as the daemon: re-executed with this variable set,
// it runs main() with the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("ESERVER_LAB_SERVER") != "" {
		labServer(os.Getenv("ESERVER_LAB_SERVER"))
		os.Exit(0)
	}
	if os.Getenv("ESERVER_LAB_NETEM") != "" {
		labNetem(os.Getenv("ESERVER_LAB_NETEM"))
		os.Exit(0)
	}
	if dial, ok := os.LookupEnv("ESERVER_RAW_PEER"); ok {
		rawPeer(dial)
		os.Exit(0)
	}
	if os.Getenv("ESERVER_NODE_AS_CLI") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"eserver-node"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	if os.Getenv("ESERVER_NODE_AS_DAEMON") == "1" {
		os.Args = append([]string{"eserver-node"}, os.Args[len(os.Args)-4:]...)
		// A benchmark's daemon may be profiled: ESERVER_DAEMON_CPUPROFILE
		// names the file, with %d for the process ID.
		if p := os.Getenv("ESERVER_DAEMON_CPUPROFILE"); p != "" {
			f, err := os.Create(fmt.Sprintf(p, os.Getpid()))
			if err == nil && pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
		// A benchmark's daemon may trace its calls: ESERVER_CALL_TRACE
		// names the file, with %d for the process ID.
		if p := os.Getenv("ESERVER_CALL_TRACE"); p != "" {
			traceCalls(fmt.Sprintf(p, os.Getpid()))
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// daemon is a running eserver-node daemon driven over its stdin/stdout.
type daemon struct {
	t       testing.TB
	profile string
	user    string // signed in as, by signIn
	cmd     *exec.Cmd
	in      io.WriteCloser
	mu      sync.Mutex
	nextID  int
	waits   map[int]chan map[string]any
	notes   chan map[string]any
	exited  chan error
}

func startDaemon(t testing.TB) *daemon {
	return startDaemonIn(t, "", "/ip4/127.0.0.1/tcp/0")
}

// startDaemonIn starts a daemon listening on listen, inside network
// namespace ns when ns is not empty.
func startDaemonIn(t testing.TB, ns, listen string) *daemon {
	t.Helper()
	return startDaemonAt(t, ns, listen, t.TempDir())
}

// startDaemonAt starts a daemon on profile (a restart, when a daemon ran
// on it before).
func startDaemonAt(t testing.TB, ns, listen, profile string) *daemon {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^$", "--profile", profile, "--listen=" + listen, "daemon"}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "ESERVER_NODE_AS_DAEMON=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, profile: profile, cmd: cmd, in: in, waits: map[int]chan map[string]any{}, notes: make(chan map[string]any, 1<<14), exited: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("daemon wrote a line that is not JSON: %q", sc.Text())
				continue
			}
			if id, ok := m["id"].(float64); ok {
				d.mu.Lock()
				ch := d.waits[int(id)]
				d.mu.Unlock()
				ch <- m
				continue
			}
			d.notes <- m
		}
		d.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		in.Close()
		select {
		case <-d.exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("daemon did not exit on EOF")
		}
	})
	return d
}

// call sends a request and returns its result, failing on an error unless
// wantCode names the expected data.code.
func (d *daemon) call(method string, params any, wantCode string) map[string]any {
	d.t.Helper()
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	ch := make(chan map[string]any, 1)
	d.waits[id] = ch
	d.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		d.t.Fatal(err)
	}
	m := poll.Receive(d.t, ch, "the response to "+method)
	if e, ok := m["error"].(map[string]any); ok {
		code, _ := e["data"].(map[string]any)["code"].(string)
		if code != wantCode {
			d.t.Fatalf("%s: error %v, want code %q", method, e, wantCode)
		}
		return nil
	}
	if wantCode != "" {
		d.t.Fatalf("%s: succeeded, want error %q", method, wantCode)
	}
	res, _ := m["result"].(map[string]any)
	return res
}

// note waits for a notification of the given method matching match.
func (d *daemon) note(method string, match func(map[string]any) bool) map[string]any {
	d.t.Helper()
	m := poll.ReceiveMatch(d.t, d.notes, "a matching "+method+" notification", func(m map[string]any) bool {
		p, _ := m["params"].(map[string]any)
		return m["method"] == method && (match == nil || match(p))
	})
	p, _ := m["params"].(map[string]any)
	return p
}

// signIn signs the daemon up at server as user and signs it in.
func (d *daemon) signIn(server, user, password string) {
	d.t.Helper()
	d.call("register", map[string]any{"server": server, "username": user, "password": password}, "")
	d.call("login", map[string]any{"server": server, "username": user, "password": password}, "")
	d.user = user
}

// befriend makes signed-in a and b accepted contacts: a asks, b accepts,
// a sees it.
func befriend(a, b *daemon) {
	a.t.Helper()
	a.call("addContact", map[string]any{"username": b.user}, "")
	b.note("contactRequest", func(p map[string]any) bool { return p["from"] == a.user })
	b.call("acceptContact", map[string]any{"username": a.user}, "")
	a.note("contactUpdate", func(p map[string]any) bool { return p["username"] == b.user && p["relation"] == "accepted" })
}

func TestDaemonsChat(t *testing.T) {
	server := nodetest.Server(t)
	alice, bob := startDaemon(t), startDaemon(t)

	alice.call("register", map[string]any{"server": server, "username": "alice", "password": "a-pass"}, "")
	bob.call("register", map[string]any{"server": server, "username": "bob", "password": "b-pass"}, "")
	bob.call("register", map[string]any{"server": server, "username": "bob", "password": "x"}, "username_taken")
	alice.call("login", map[string]any{"server": server, "username": "alice", "password": "wrong"}, "login_failed")
	res := alice.call("login", map[string]any{"server": server, "username": "alice", "password": "a-pass"}, "")
	if res["username"] != "alice" || res["peerId"] == "" {
		t.Fatalf("login result %v", res)
	}
	bob.call("login", map[string]any{"server": server, "username": "bob", "password": "b-pass"}, "")
	alice.call("send", map[string]any{"to": "bob", "text": "hi"}, "not_contact")

	alice.call("addContact", map[string]any{"username": "bob", "message": "it's alice"}, "")
	req := bob.note("contactRequest", nil)
	if req["from"] != "alice" || req["message"] != "it's alice" {
		t.Fatalf("contactRequest %v", req)
	}
	bob.call("acceptContact", map[string]any{"username": "alice"}, "")
	alice.note("contactUpdate", func(p map[string]any) bool { return p["username"] == "bob" && p["relation"] == "accepted" })
	bob.call("setPresence", map[string]any{"status": "away", "subnick": "making tea"}, "")
	alice.note("presence", func(p map[string]any) bool {
		return p["username"] == "bob" && p["status"] == "away" && p["subnick"] == "making tea"
	})

	const n = 20
	var ids []string
	for i := range n {
		r := alice.call("send", map[string]any{"to": "bob", "text": fmt.Sprintf("msg %d", i)}, "")
		ids = append(ids, r["id"].(string))
	}
	for i := range n {
		m := bob.note("message", nil)
		if m["from"] != "alice" || m["text"] != fmt.Sprintf("msg %d", i) || m["id"] != ids[i] {
			t.Fatalf("message %d: %v", i, m)
		}
		if _, err := time.Parse(time.RFC3339, m["time"].(string)); err != nil {
			t.Fatalf("time %q: %v", m["time"], err)
		}
	}
	alice.note("delivered", func(p map[string]any) bool { return p["id"] == ids[n-1] && p["to"] == "bob" })

	h := bob.call("history", map[string]any{"with": "alice", "limit": 5}, "")
	msgs, _ := h["messages"].([]any)
	if len(msgs) != 5 || msgs[4].(map[string]any)["text"] != fmt.Sprintf("msg %d", n-1) {
		t.Fatalf("history %v", h)
	}
	cs := alice.call("listContacts", map[string]any{}, "")["contacts"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["status"] != "away" || cs[0].(map[string]any)["relation"] != "accepted" {
		t.Fatalf("contacts %v", cs)
	}
	alice.call("logout", map[string]any{}, "")
	bob.note("presence", func(p map[string]any) bool { return p["username"] == "alice" && p["status"] == "offline" })
}

// stop ends the daemon (EOF on its stdin) and waits for it to exit.
func (d *daemon) stop() {
	d.t.Helper()
	d.in.Close()
	select {
	case err := <-d.exited:
		d.exited <- err // for the cleanup's wait
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		d.t.Fatal("daemon did not exit on EOF")
	}
}
