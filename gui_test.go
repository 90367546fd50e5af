package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"eserver/node"
	"eserver/node/api"
	"eserver/node/nodetest"
)

// The test binary doubles as the app: re-executed with ESERVER_AS_APP=1 it
// runs main() with the arguments in ESERVER_APP_ARGS.
func TestMain(m *testing.M) {
	if os.Getenv("ESERVER_AS_APP") == "1" {
		os.Args = append([]string{"eserver"}, strings.Fields(os.Getenv("ESERVER_APP_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRealWindowChat drives the real app in a real window under Xvfb with
// the keyboard, as a person would, against a real auth server and a real
// second node: sign in, receive a message (the chat window opens by itself),
// answer it. Where Xvfb or xdotool is missing (`make deps` installs them) it
// is skipped with a message.
func TestRealWindowChat(t *testing.T) {
	for _, tool := range []string{"Xvfb", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it): %v", tool, err)
		}
	}
	if testing.Short() {
		t.Skip("starts a display server")
	}
	display := startXvfb(t)

	server := nodetest.Server(t)

	// Alice's profile gets her account and bob as a contact through the
	// node API; then the app opens that profile.
	aliceDir := t.TempDir()
	bob := nodetest.New(t, server, "bob")
	alice := nodetest.Open(t, server, "alice", node.Config{ProfileDir: aliceDir})
	alice.SignUp()
	alice.SignIn()
	nodetest.Befriend(t, alice, bob)
	alice.Stop()
	bob.WaitContact("alice", api.RelationAccepted, api.StatusOffline)

	app := exec.Command(os.Args[0], "-test.run=^$")
	// Every place the app could write outside its profile is a temporary
	// directory: a test never writes to the user's real settings.
	configDir := t.TempDir()
	app.Env = append(os.Environ(), "ESERVER_AS_APP=1", "DISPLAY="+display, "LANG=en_US.UTF-8",
		"ESERVER_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+configDir, "XDG_CACHE_HOME="+t.TempDir(),
		"ESERVER_APP_ARGS=--profile "+aliceDir+" --server "+server)
	// Once the app has exited (this runs after the deferred SIGTERM
	// below): what the sign-in remembered is in the profile directory, and
	// nothing went to the preferences file every profile would share
	// (issue 14, item 10).
	defer func() {
		b, err := os.ReadFile(filepath.Join(aliceDir, "app-settings.json"))
		if err != nil || !strings.Contains(string(b), `"signin.status"`) {
			t.Errorf("the profile's settings file: %q, %v", b, err)
		}
		// Fyne itself writes its file on exit; nothing of ours is in it.
		shared, _ := filepath.Glob(filepath.Join(configDir, "fyne", "*", "preferences.json"))
		for _, f := range shared {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "signin.") {
				t.Errorf("the app kept settings in Fyne's shared preferences %s: %s", f, b)
			}
		}
	}()
	logf, _ := os.Create(filepath.Join(t.TempDir(), "app.log"))
	app.Stdout, app.Stderr = logf, logf
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	defer func() {
		app.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			app.Process.Kill()
			t.Error("app did not exit on SIGTERM")
		}
	}()

	x := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("xdotool", args...)
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xdotool %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	window := func(name string) string {
		t.Helper()
		for range 100 {
			cmd := exec.Command("xdotool", "search", "--onlyvisible", "--name", name)
			cmd.Env = append(os.Environ(), "DISPLAY="+display)
			if out, err := cmd.Output(); err == nil && len(strings.Fields(string(out))) > 0 {
				return strings.Fields(string(out))[0]
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("no window %q", name)
		return ""
	}

	if dir := os.Getenv("ESERVER_SHOT_DIR"); dir != "" {
		defer func() {
			if err := exec.Command("import", "-display", display, "-window", "root", filepath.Join(dir, "chat.png")).Run(); err != nil {
				t.Logf("screenshot: %v", err)
			}
		}()
	}

	// Sign in with the keyboard: the username field has the focus.
	signIn := window("^EServer ")
	x("windowfocus", "--sync", signIn)
	time.Sleep(500 * time.Millisecond) // let the first frame draw
	x("type", "--delay", "30", "alice")
	x("key", "Return")
	x("type", "--delay", "30", "pw-alice")
	x("key", "Return")
	bob.WaitFor("alice online via the app", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.Status == api.StatusOnline
	})

	// Bob writes; the conversation window opens by itself (without
	// stealing the keyboard, as MSN did): click into the message box at the
	// bottom of the window and answer.
	if _, err := bob.Send(nodetest.Context(t), "alice", "ping from bob"); err != nil {
		t.Fatal(err)
	}
	chat := window("Conversation")
	// On a loaded machine the new window may still be laying out when the
	// first click lands, and the keys go nowhere: try again, a few times,
	// until bob has the answer.
	var answer *api.Message
	for attempt := 0; attempt < 3 && answer == nil; attempt++ {
		x("windowfocus", "--sync", chat)
		time.Sleep(time.Duration(500*(attempt+1)) * time.Millisecond)
		var w, h int
		fmt.Sscanf(x("getwindowgeometry", "--shell", chat), "WINDOW=%s\nX=%s\nY=%s\nWIDTH=%d\nHEIGHT=%d", new(string), new(string), new(string), &w, &h)
		if w == 0 || h == 0 {
			t.Fatalf("chat window geometry: %q", x("getwindowgeometry", "--shell", chat))
		}
		x("mousemove", "--sync", "--window", chat, "60", fmt.Sprint(h-40))
		x("click", "1")
		x("type", "--delay", "30", "pong from alice")
		x("key", "Return")
		answer = next(bob, 8*time.Second, func(e api.Event) bool { return e.Message != nil && e.Message.From == "alice" })
	}
	if answer == nil {
		t.Fatal("bob got no answer from alice's window")
	}
	if answer.Text != "pong from alice" {
		t.Fatalf("bob got %q", answer.Text)
	}
}

// startXvfb starts a private display and returns its name.
func startXvfb(t *testing.T) string {
	t.Helper()
	for n := 140; n < 200; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", n)
		cmd := exec.Command("Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for range 50 {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return display
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("Xvfb %s did not start", display)
	}
	t.Fatal("no free X display")
	return ""
}

// next returns the message of the first event matching match within d, or
// nil.
func next(n *nodetest.Node, d time.Duration, match func(api.Event) bool) *api.Message {
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-n.Events:
			if !ok {
				return nil
			}
			if match(e) {
				return e.Message
			}
		case <-timeout:
			return nil
		}
	}
}
