package files

import (
	"testing"

	"eserver/node/api"
	"eserver/node/wire"
)

// TestOfferNameCleaned (issue 13, item 12): a file offered as
// "invoice‮fdp.exe" — drawn as "invoiceexe.pdf" — is recorded, shown and
// listed without the override; a name stored before names were cleaned is
// listed clean too.
func TestOfferNameCleaned(t *testing.T) {
	f, h, _ := newFiles(t)
	o := fileOffer(func(o *wire.FileOffer) { o.Name = "invoice\u202efdp.exe" })
	if err := f.receiveOffer("alice", o); err != nil {
		t.Fatal(err)
	}
	got, err := h.st.Transfer(o.Id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "invoicefdp.exe" {
		t.Fatalf("recorded as %+q", got.Name)
	}
	if len(h.events) != 1 || h.events[0].Transfer.Name != "invoicefdp.exe" || h.events[0].Transfer.Type == "application/pdf" {
		t.Fatalf("shown as %+v", h.events[0].Transfer)
	}
	old := putTransfer(t, h, false, api.TransferIncoming, "file")
	old.Name = "holiday\u2067gpj.exe\u2069"
	if err := h.st.PutTransfer(old); err != nil {
		t.Fatal(err)
	}
	ts, err := f.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		if tr.Name != "invoicefdp.exe" && tr.Name != "holidaygpj.exe" {
			t.Fatalf("listed as %+q", tr.Name)
		}
	}
}
