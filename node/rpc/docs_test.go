package rpc

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// apiDoc is what docs/API.md says of the protocol.
type apiDoc struct {
	methods       []string            // from the "### a, b" headings under "## Methods"
	params        map[string][]string // method → the param keys its "params:" line names
	notifications []string            // from the table under "## Notifications"
}

var (
	docHeading = regexp.MustCompile("^### (.+)$")
	docRow     = regexp.MustCompile("^\\| `(\\w+)` \\|")
	// "- params: `{a, b?}`" for every method of the section, or
	// "- `m1`, `m2` params: `{a}`" for the methods named.
	docParams = regexp.MustCompile("^- ((?:`\\w+`(?:, )?)*) ?params: `(\\{[^`]*\\})`")
	docName   = regexp.MustCompile("`(\\w+)`")
)

func readAPIDoc(t *testing.T) apiDoc {
	t.Helper()
	b, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := apiDoc{params: map[string][]string{}}
	var section string
	var current []string // the methods of the current "###" section
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section, current = h, nil
			continue
		}
		switch section {
		case "Methods":
			if m := docHeading.FindStringSubmatch(line); m != nil {
				current = strings.Split(m[1], ", ")
				doc.methods = append(doc.methods, current...)
				continue
			}
			if m := docParams.FindStringSubmatch(line); m != nil {
				targets := current
				if m[1] != "" {
					targets = nil
					for _, n := range docName.FindAllStringSubmatch(m[1], -1) {
						targets = append(targets, n[1])
					}
				}
				for _, method := range targets {
					if !slices.Contains(current, method) {
						t.Errorf("API.md: params of %s under the heading of %v", method, current)
					}
					doc.params[method] = append(doc.params[method], paramKeys(m[2])...)
				}
			}
		case "Notifications":
			if m := docRow.FindStringSubmatch(line); m != nil {
				doc.notifications = append(doc.notifications, m[1])
			}
		}
	}
	return doc
}

// paramKeys returns the top-level keys of a documented params object,
// "{path, crop?: {x, y, size}}" → path, crop.
func paramKeys(obj string) []string {
	obj = strings.TrimSpace(obj[1 : len(obj)-1])
	var keys []string
	depth, start := 0, 0
	for i := 0; i <= len(obj); i++ {
		if i < len(obj) {
			switch obj[i] {
			case '{', '[':
				depth++
				continue
			case '}', ']':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		k := strings.TrimSpace(obj[start:i])
		k, _, _ = strings.Cut(k, ":")
		if k = strings.TrimSuffix(strings.TrimSpace(k), "?"); k != "" {
			keys = append(keys, k)
		}
		start = i + 1
	}
	return keys
}

// diff reports what each list has that the other has not.
func diff(t *testing.T, what string, doc, code []string) {
	t.Helper()
	for _, d := range doc {
		if !slices.Contains(code, d) {
			t.Errorf("docs/API.md documents %s %q, which the daemon does not have", what, d)
		}
	}
	for _, c := range code {
		if !slices.Contains(doc, c) {
			t.Errorf("the daemon has %s %q, which docs/API.md does not document", what, c)
		}
	}
	if len(doc) != len(slices.Compact(slices.Sorted(slices.Values(doc)))) {
		t.Errorf("docs/API.md documents a %s twice: %v", what, doc)
	}
}

// TestAPIDocMatchesCode holds docs/API.md to the method table and the
// notification kinds, both ways, and checks that every documented param
// key is one the method accepts.
func TestAPIDocMatchesCode(t *testing.T) {
	doc := readAPIDoc(t)
	if len(doc.methods) < 30 || len(doc.notifications) < 10 {
		t.Fatalf("read only %d methods and %d notifications from docs/API.md: has its layout changed?", len(doc.methods), len(doc.notifications))
	}
	code := slices.Concat(slices.Collect(maps.Keys(methods)), slices.Collect(maps.Keys(connMethods)))
	diff(t, "method", doc.methods, code)
	var kinds []string
	for _, n := range notices {
		kinds = append(kinds, n.method)
	}
	diff(t, "notification", doc.notifications, kinds)

	for _, m := range doc.methods {
		if _, ok := doc.params[m]; !ok {
			t.Errorf("docs/API.md: %s has no params line", m)
		}
	}
	h := serve(t, newFake())
	for _, m := range slices.Sorted(maps.Keys(doc.params)) {
		for _, k := range doc.params[m] {
			resp := h.call(m, `{"`+k+`":null}`)
			if resp.Error != nil && strings.Contains(resp.Error.Message, "unknown field") {
				t.Errorf("docs/API.md: %s takes %s, but the daemon refuses it: %s", m, k, resp.Error.Message)
			}
		}
	}
}

func TestParamKeys(t *testing.T) {
	for in, want := range map[string][]string{
		"{}":                           nil,
		"{username}":                   {"username"},
		"{server?, username, status?}": {"server", "username", "status"},
		"{path, crop?: {x, y, size}}":  {"path", "crop"},
		"{a: [{b, c}], d}":             {"a", "d"},
	} {
		if got := paramKeys(in); !slices.Equal(got, want) {
			t.Errorf("paramKeys(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAPIDocTranscripts holds every transcript line of docs/API.md (the
// "→"/"←" lines of its text blocks) to the protocol: what a client sends
// is a request the daemon takes (a known method, params it accepts), and
// what the daemon is shown writing is a well-formed response, batch or
// known notification, every error with its data.code.
func TestAPIDocTranscripts(t *testing.T) {
	b, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, n := range notices {
		kinds[n.method] = true
	}
	inText, sent, shown := false, 0, 0
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case l == "```text":
			inText = true
		case l == "```":
			inText = false
		case inText && strings.HasPrefix(l, "→ "):
			sent++
			req := strings.TrimPrefix(l, "→ ")
			h := serve(t, newFake())
			h.send(req)
			if !strings.Contains(req, `"id"`) {
				continue // a notification: nothing to wait for
			}
			resp := h.answer()
			answers := []line{resp}
			if resp.batch != nil {
				answers = resp.batch
			}
			for _, a := range answers {
				if a.Error != nil && a.Error.Code != CodeApplication && a.Error.Code != CodeMethodNotFound {
					t.Errorf("API.md line %d: the daemon refuses %s: %s", i+1, req, a.raw)
				}
			}
		case inText && strings.HasPrefix(l, "← "):
			shown++
			out, err := parseLine([]byte(strings.TrimPrefix(l, "← ")))
			if err != nil {
				t.Errorf("API.md line %d: %v", i+1, err)
				continue
			}
			if out.Method != "" && !kinds[out.Method] {
				t.Errorf("API.md line %d: no notification %q", i+1, out.Method)
			}
			for _, r := range append([]line{out}, out.batch...) {
				if r.Method == "" && r.batch == nil && (r.Result == nil) == (r.Error == nil) {
					t.Errorf("API.md line %d: a response needs a result or an error: %s", i+1, r.raw)
				}
			}
		}
	}
	if sent < 10 || shown < 15 {
		t.Errorf("read only %d requests and %d answers from API.md's transcripts: has its layout changed?", sent, shown)
	}
}
