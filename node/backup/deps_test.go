package backup

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkCode keeps the package a pure function of its inputs: no
// libp2p, no net, no SQL. Callers move the blobs.
func TestNoNetworkCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "eserver/node/backup").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if d == "net" || strings.HasPrefix(d, "github.com/libp2p/") || d == "database/sql" || d == "eserver/supernode" || d == "eserver/supernode/client" {
			t.Errorf("node/backup depends on %s", d)
		}
	}
}
