// Command screenshots takes the README's screenshots of the real app: it
// starts a private X server (Xvfb), the bundled auth server on a free
// loopback port, and three contacts as in-process nodes; signs them up and
// makes them Alice's contacts; then runs the eserver binary as Alice and
// drives it with the keyboard (xdotool), as a person would, saving the
// sign-in window, the contact list (twice: as signed in, and with small
// pictures after contacts changed), a conversation, that conversation with
// file transfers, its Verify dialog, the message history browsed by day,
// the chat room directory and a chat room with ImageMagick's import. `make screenshots` runs it.
//
// It drives the windows only through stable means — the focused field
// after start, Enter, typing, a click near the bottom of the conversation
// window — so reworked windows still photograph.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"eserver/assets"
	"eserver/authserver/bundle"
	"eserver/internal/watch"
	"eserver/internal/xvfb"
	"eserver/node/api"
)

func main() {
	appBin := flag.String("app", "bin/eserver", "the eserver binary to photograph")
	out := flag.String("out", "docs/screenshots", "where to write signin.png, contacts.png, contacts-small.png, chat.png, transfers.png, verify.png, history.png, rooms.png and room.png")
	flag.Parse()
	if err := run(*appBin, *out); err != nil {
		log.Fatal("screenshots: ", err)
	}
}

func run(appBin, out string) error {
	for _, tool := range []string{"Xvfb", "xdotool", "import"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (make screenshots installs it): %w", tool, err)
		}
	}
	appBin, err := filepath.Abs(appBin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "eserver-shots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	x, err := xvfb.Start(140)
	if err != nil {
		return err
	}
	defer x.Stop()

	svc, err := bundle.Start(bundle.Config{Dir: filepath.Join(tmp, "auth"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, RegisterRate: -1})
	if err != nil {
		return fmt.Errorf("starting the auth server: %w", err)
	}
	defer svc.Close()
	server := svc.Addr()

	// The people: Alice is photographed; Bob chats with her, Carol is
	// busy, Dave has gone offline.
	aliceDir := filepath.Join(tmp, "alice")
	people := []struct {
		name    string
		status  api.Status
		subnick string
		picture string // one of assets.Pictures
	}{
		{"alice", api.StatusOnline, "Saturday: beach volleyball!", "duck"},
		{"bob", api.StatusOnline, "Off to the beach", "dog"},
		{"carol", api.StatusBusy, "Deadline today, ping me tomorrow", "cat"},
		{"dave", api.StatusOnline, "Back on Monday", "guitar"},
	}
	nodes := map[string]*watch.Node{}
	for _, p := range people {
		dir := filepath.Join(tmp, p.name)
		if p.name == "alice" {
			dir = aliceDir
		}
		n, err := watch.Open(dir)
		if err != nil {
			return err
		}
		defer n.Close()
		nodes[p.name] = n
		pw := "pw-" + p.name
		if err := n.Register(ctx, server, p.name, pw); err != nil {
			return fmt.Errorf("signing up %s: %w", p.name, err)
		}
		if _, err := n.Login(ctx, api.LoginRequest{Server: server, Username: p.name, Password: pw, Status: p.status}); err != nil {
			return fmt.Errorf("signing in %s: %w", p.name, err)
		}
		nick := strings.ToUpper(p.name[:1]) + p.name[1:]
		sub := p.subnick
		if err := n.SetPresence(ctx, api.PresenceUpdate{Nick: &nick, Subnick: &sub}); err != nil {
			return err
		}
		if err := setPicture(ctx, n, tmp, p.picture); err != nil {
			return err
		}
	}
	alice := nodes["alice"]
	for _, friend := range []string{"bob", "carol", "dave"} {
		if err := alice.AddContact(ctx, friend, "Hi, it's Alice!"); err != nil {
			return fmt.Errorf("adding %s: %w", friend, err)
		}
		f := nodes[friend]
		if _, err := f.Wait(ctx, func(e api.Event) bool { return e.ContactRequest != nil }); err != nil {
			return fmt.Errorf("%s waiting for Alice's request: %w", friend, err)
		}
		if err := f.AcceptContact(ctx, "alice"); err != nil {
			return err
		}
		if _, err := alice.Wait(ctx, func(e api.Event) bool {
			return e.Contact != nil && e.Contact.Username == friend && e.Contact.Relation == api.RelationAccepted
		}); err != nil {
			return fmt.Errorf("alice waiting for %s to accept: %w", friend, err)
		}
	}
	// Alice files Carol and Dave under Work, and has her contacts'
	// pictures before her profile goes to the app.
	for _, who := range []string{"carol", "dave"} {
		if err := alice.SetContactGroup(ctx, who, "Work"); err != nil {
			return err
		}
	}
	if _, err := alice.Wait(ctx, func(api.Event) bool {
		cs, err := alice.Contacts(ctx)
		if err != nil {
			return false
		}
		have := 0
		for _, c := range cs {
			if c.AvatarPath != "" {
				have++
			}
		}
		return have == 3
	}); err != nil {
		return fmt.Errorf("alice waiting for her contacts' pictures: %w", err)
	}
	if err := stageRooms(ctx, nodes, server, tmp); err != nil {
		return err
	}
	defer nodes["marta"].Close()
	// Dave signs out; Alice's profile goes to the app.
	nodes["dave"].Logout(ctx)
	alice.Close()
	bob := nodes["bob"]

	app := exec.Command(appBin, "--profile", aliceDir, "--server", server)
	// Private home, config and cache: the run leaves nothing in the user's
	// own Fyne preferences, EServer home or Downloads.
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(filepath.Join(home, "Downloads"), 0o700); err != nil {
		return err
	}
	app.Env = append(os.Environ(), "DISPLAY="+x.Name, "LANG=en_US.UTF-8", "ESERVER_HOME="+home, "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))
	logf, err := os.Create(filepath.Join(tmp, "app.log"))
	if err != nil {
		return err
	}
	app.Stdout, app.Stderr = logf, logf
	if err := app.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	defer func() {
		app.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			app.Process.Kill()
		}
	}()

	// Sign in: the username field has the focus.
	signIn, err := x.Window(ctx, "^EServer \\(")
	if err != nil {
		return err
	}
	x.Run("windowfocus", "--sync", signIn)
	time.Sleep(time.Second) // the first frame
	x.Run("type", "--delay", "40", "alice")
	x.Run("key", "Return")
	x.Run("type", "--delay", "40", "pw-alice")
	time.Sleep(700 * time.Millisecond)
	if err := capture(x, signIn, filepath.Join(out, "signin.png")); err != nil {
		return err
	}
	x.Run("key", "Return")

	list, err := x.Window(ctx, "^EServer Messenger")
	if err != nil {
		return err
	}
	if _, err := bob.Wait(ctx, func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.Online()
	}); err != nil {
		return fmt.Errorf("bob waiting for alice online: %w", err)
	}
	time.Sleep(3 * time.Second) // contacts' presence reaches the list
	if err := capture(x, list, filepath.Join(out, "contacts.png")); err != nil {
		return err
	}
	if err := shootContactsSmall(ctx, x, list, nodes, server, tmp, filepath.Join(out, "contacts-small.png")); err != nil {
		return err
	}

	// Bob writes; the conversation opens by itself. Alice answers.
	if _, err := bob.Send(ctx, "alice", "Hi Alice! :) Are we still on for the beach on Saturday?"); err != nil {
		return err
	}
	chat, err := x.Window(ctx, "Conversation")
	if err != nil {
		return err
	}
	x.Run("windowfocus", "--sync", chat)
	time.Sleep(1500 * time.Millisecond)
	geo := x.Run("getwindowgeometry", "--shell", chat)
	var h int
	for _, l := range strings.Split(geo, "\n") {
		fmt.Sscanf(l, "HEIGHT=%d", &h)
	}
	x.Run("mousemove", "--sync", "--window", chat, "60", fmt.Sprint(h-40))
	x.Run("click", "1")
	x.Run("type", "--delay", "40", "Sure! I'll bring the volleyball (y)")
	x.Run("key", "Return")
	if _, err := bob.Wait(ctx, func(e api.Event) bool { return e.Message != nil && e.Message.From == "alice" }); err != nil {
		return fmt.Errorf("bob waiting for alice's answer: %w", err)
	}
	if _, err := bob.Send(ctx, "alice", "Great, see you at 10 by the pier :D"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	if err := capture(x, chat, filepath.Join(out, "chat.png")); err != nil {
		return err
	}
	if err := shootTransfers(ctx, x, chat, bob, tmp, filepath.Join(out, "transfers.png")); err != nil {
		return err
	}
	if err := shootVerify(ctx, x, chat, filepath.Join(out, "verify.png")); err != nil {
		return err
	}
	if err := shootHistory(ctx, x, list, bob, filepath.Join(out, "history.png")); err != nil {
		return err
	}
	if err := shootRooms(ctx, x, list, bob, filepath.Join(out, "rooms.png"), filepath.Join(out, "room.png")); err != nil {
		return err
	}
	log.Printf("saved signin.png, contacts.png, contacts-small.png, chat.png, transfers.png, verify.png, history.png, rooms.png and room.png in %s", out)
	return nil
}

// shootContactsSmall photographs the contact list with small display
// pictures (the default) after the contacts changed while Alice watched:
// Bob a new picture and a personal message with emoticons, Dave back from
// being offline as Away. The photograph waits until "Dave has just signed
// in" has come and gone: Xvfb has no notification service, so it shows as
// a toast in the list's corner for a few seconds.
func shootContactsSmall(ctx context.Context, x *xvfb.Display, list string, nodes map[string]*watch.Node, server, tmp, path string) error {
	bob, dave := nodes["bob"], nodes["dave"]
	if err := setPicture(ctx, bob, tmp, "sunset"); err != nil {
		return err
	}
	sub := "Off to the beach :) (y)"
	if err := bob.SetPresence(ctx, api.PresenceUpdate{Subnick: &sub}); err != nil {
		return err
	}
	if _, err := dave.Login(ctx, api.LoginRequest{Server: server, Username: "dave", Password: "pw-dave", Status: api.StatusAway}); err != nil {
		return fmt.Errorf("signing dave in again: %w", err)
	}
	if _, err := dave.Wait(ctx, func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.Online()
	}); err != nil {
		return fmt.Errorf("dave waiting for alice online: %w", err)
	}
	// Presence and Bob's new picture reach the list, and the toast goes
	// (it stays 7 s).
	time.Sleep(10 * time.Second)
	return capture(x, list, path)
}

// shootTransfers photographs the conversation with files: Bob sends two,
// which Alice accepts with Alt+C (MSN's key for it) and which end as lines
// in the conversation, then a big one that he pauses part way, so it stays
// in the tray above the entry with its bar part full.
func shootTransfers(ctx context.Context, x *xvfb.Display, chat string, bob *watch.Node, tmp, path string) error {
	dir := filepath.Join(tmp, "bob-files")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	beach := assets.Pictures[0].PNG
	files := []struct {
		name string
		data []byte
		size int64 // of zeros, when data is nil
	}{
		{"beach.png", beach, 0},
		{"scores.ods", make([]byte, 88<<10), 0},
		{"volleyball.mov", nil, 2 << 30}, // sparse: nothing to write, gigabytes to send
	}
	for i, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeFile(p, f.data, f.size); err != nil {
			return err
		}
		id, err := bob.SendFile(ctx, "alice", p)
		if err != nil {
			return fmt.Errorf("bob sending %s: %w", f.name, err)
		}
		// The offer shows in the open conversation; Alt+C accepts it. Try
		// again until it took: the offer may not have arrived yet.
		accepted := false
		for range 15 {
			x.Run("windowfocus", "--sync", chat)
			x.Run("key", "alt+c")
			if _, err := bob.WaitWithin(ctx, 5*time.Second, func(e api.Event) bool {
				return e.Transfer != nil && e.Transfer.ID == id && e.Transfer.State != api.TransferOffered
			}); err == nil {
				accepted = true
				break
			}
		}
		if !accepted {
			return fmt.Errorf("alice did not accept %s", f.name)
		}
		if i == len(files)-1 {
			// Part way: paused, so the photograph shows it in the tray.
			if _, err := bob.Wait(ctx, func(e api.Event) bool {
				return e.Transfer != nil && e.Transfer.ID == id && e.Transfer.Bytes > 300<<20
			}); err != nil {
				return fmt.Errorf("bob waiting for %s to move: %w", f.name, err)
			}
			if err := bob.PauseTransfer(ctx, id); err != nil {
				return err
			}
			break
		}
		if _, err := bob.Wait(ctx, func(e api.Event) bool {
			return e.Transfer != nil && e.Transfer.ID == id && e.Transfer.State == api.TransferDone
		}); err != nil {
			return fmt.Errorf("bob waiting for %s to arrive: %w", f.name, err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	return capture(x, chat, path)
}

// writeFile writes data to path, or with data nil a sparse file of size
// zeros.
func writeFile(path string, data []byte, size int64) error {
	if data != nil {
		return os.WriteFile(path, data, 0o600)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// setPicture makes the gallery picture name n's display picture.
func setPicture(ctx context.Context, n *watch.Node, tmp, name string) error {
	for _, p := range assets.Pictures {
		if p.Name != name {
			continue
		}
		path := filepath.Join(tmp, name+".png")
		if err := os.WriteFile(path, p.PNG, 0o600); err != nil {
			return err
		}
		return n.SetAvatar(ctx, path, api.Crop{})
	}
	return fmt.Errorf("no gallery picture %q", name)
}

// capture saves one window as a PNG at path and says so.
func capture(x *xvfb.Display, window, path string) error {
	if err := x.Capture(window, path); err != nil {
		return err
	}
	log.Printf("saved %s", path)
	return nil
}
