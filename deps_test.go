package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// authserverShares are the only packages of ours the auth server may import
// (DESIGN.md §2).
var authserverShares = map[string]bool{
	"eserver/node/wire":   true,
	"eserver/node/ticket": true,
	"eserver/node/pake":   true,
	"eserver/pipeline":    true,
	"eserver/sqlite":      true,
}

// features are the node's feature components (DESIGN.md §2): each reaches
// the rest of the node through the Host interface it declares, never by
// importing another feature, nor the node's top package.
var features = []string{
	"eserver/node/contacts", "eserver/node/conversation", "eserver/node/delivery", "eserver/node/discovery",
	"eserver/node/files", "eserver/node/keys", "eserver/node/presence", "eserver/node/role", "eserver/node/streams",
	"eserver/node/handover", "eserver/node/call",
}

// featureOf names the feature component path belongs to, or "".
func featureOf(path string) string {
	for _, f := range features {
		if path == f || strings.HasPrefix(path, f+"/") {
			return f
		}
	}
	return ""
}

// TestImportRules enforces DESIGN.md §2 on the real dependency graph, the way
// tailscale's deptest does: who may import whom is part of the architecture,
// so a violation fails the build rather than waiting for review.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Deps       []string
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	under := func(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }
	hasDep := func(p pkg, match func(string) bool) string {
		for _, d := range p.Deps {
			if match(d) {
				return d
			}
		}
		return ""
	}
	fyne := func(d string) bool { return strings.HasPrefix(d, "fyne.io/") }
	checked := 0
	for _, p := range pkgs {
		path := p.ImportPath
		rules := []struct {
			applies bool
			bad     func(string) bool
			why     string
		}{
			{path != "eserver" && !under(path, "eserver/app"), fyne, "only main and app import fyne.io"},
			{under(path, "eserver/app"), func(d string) bool { return strings.HasPrefix(d, "github.com/libp2p/") }, "app imports no libp2p"},
			{under(path, "eserver/app"), func(d string) bool { return strings.Contains(d, "sqlite") || d == "database/sql" }, "app imports no SQL driver"},
			{path != "eserver", func(d string) bool { return under(d, "eserver/app") }, "nothing imports app"},
			{under(path, "eserver/supernode"), func(d string) bool { return d == "eserver/node" }, "supernode never imports node's top package"},
			{under(path, "eserver/supernode/client"), func(d string) bool { return d == "eserver/supernode" }, "supernode/client never imports the server side (supernode), so the server's tests can use the client"},
			{path == "eserver/authserver", func(d string) bool {
				return strings.HasPrefix(d, "eserver/") && !authserverShares[d]
			}, "authserver shares only node/wire, node/ticket, node/pake, pipeline and sqlite"},
			{featureOf(path) != "", func(d string) bool {
				f := featureOf(d)
				return d == "eserver/node" || (f != "" && f != featureOf(path))
			}, "a feature component imports neither another feature nor node's top package: it declares a Host"},
			{path == "eserver/pipeline", func(d string) bool {
				return strings.HasPrefix(d, "eserver/") && d != "eserver/node/wire" && d != "eserver/node/ticket"
			}, "pipeline imports only node/wire and node/ticket of ours, so every server may use it"},
			{path == "eserver/node/room", func(d string) bool {
				return (strings.HasPrefix(d, "eserver/") && d != "eserver/node/wire" && d != "eserver/node/ticket") ||
					d == "database/sql" || strings.HasPrefix(d, "github.com/libp2p/go-libp2p/p2p/")
			}, "node/room is pure: of ours only node/wire and node/ticket, no storage, no libp2p networking — homes and members share it"},
		}
		for _, r := range rules {
			if !r.applies {
				continue
			}
			checked++
			if d := hasDep(p, r.bad); d != "" {
				t.Errorf("%s depends on %s: %s", path, d, r.why)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no rule applied to any package")
	}
}
