package rpc

import (
	"testing"

	"eserver/node/api"
)

func TestSearchHistory(t *testing.T) {
	hits := []api.HistoryHit{
		{Message: api.Message{ID: "m7", From: "bob", To: "alice", Text: "lunch at noon? xo", Time: testTime, State: api.StateReceived},
			Seq: 7, Snippet: "lunch at noon?", Marks: [][2]int{{0, 5}}},
		{Message: api.Message{ID: "m3", From: "alice", To: "bob", Text: "lunch? no marks here, xo", Time: testTime, State: api.StateDelivered},
			Seq: 3, Snippet: "no marks here"},
	}
	const wantHits = `{"hits":[
		{"messageId":"m7","id":"m7","from":"bob","to":"alice","text":"lunch at noon? xo","time":"2024-01-02T03:04:05.678Z","state":"received",
		 "seq":7,"snippet":"lunch at noon?","marks":[[0,5]]},
		{"messageId":"m3","id":"m3","from":"alice","to":"bob","text":"lunch? no marks here, xo","time":"2024-01-02T03:04:05.678Z","state":"delivered",
		 "seq":3,"snippet":"no marks here","marks":[]}]}`
	for _, tt := range []struct {
		name, params, wantCall, wantResult string
		noHits                             bool
	}{
		{"text only", `{"text":"lunch"}`, `SearchHistory "lunch" "" 50 0`, wantHits, false},
		{"every field", `{"text":"lun \"x","with":"bob","limit":2,"before":9}`, `SearchHistory "lun \"x" "bob" 2 9`, wantHits, false},
		{"max limit", `{"text":"lunch","limit":500}`, `SearchHistory "lunch" "" 500 0`, `{"hits":[]}`, true},
		{"nothing found", `{"text":"zeppelin"}`, `SearchHistory "zeppelin" "" 50 0`, `{"hits":[]}`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			if !tt.noHits {
				fake.Hits = hits
			}
			h := serve(t, fake)
			resp := h.call("searchHistory", tt.params)
			if resp.Error != nil {
				t.Fatalf("error response: %s", resp.raw)
			}
			jsonEqual(t, "result", resp.Result, tt.wantResult)
			if got := fake.Calls(); len(got) != 1 || got[0] != tt.wantCall {
				t.Errorf("API calls = %q, want [%q]", got, tt.wantCall)
			}
		})
	}
}

func TestSearchHistoryBadParams(t *testing.T) {
	for _, tt := range []struct{ name, params string }{
		{"no params", ``},
		{"missing text", `{"with":"bob"}`},
		{"empty text", `{"text":""}`},
		{"text number", `{"text":5}`},
		{"limit 0", `{"text":"a","limit":0}`},
		{"limit too big", `{"text":"a","limit":501}`},
		{"limit fraction", `{"text":"a","limit":2.5}`},
		{"before 0", `{"text":"a","before":0}`},
		{"before negative", `{"text":"a","before":-3}`},
		{"before string", `{"text":"a","before":"m9"}`},
		{"unknown field", `{"text":"a","peer":"bob"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			h := serve(t, fake)
			resp := h.call("searchHistory", tt.params)
			if resp.Error == nil || resp.Error.Code != CodeInvalidParams || resp.Error.Data == nil || resp.Error.Data.Code != "bad_request" {
				t.Errorf("response = %s, want -32602 bad_request", resp.raw)
			}
			if calls := fake.Calls(); len(calls) != 0 {
				t.Errorf("the API was called: %q", calls)
			}
		})
	}
}
