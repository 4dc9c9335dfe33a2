package metrics_test

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// scrape is a parsed text exposition: series values by their canonical key
// name{l="v",...} (labels in written order) and each family's type.
type scrape struct {
	values map[string]float64
	types  map[string]string
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// mustParse parses text with parseExposition and fails t on an error.
func mustParse(t *testing.T, text string) scrape {
	t.Helper()
	sc, err := parseExposition(text)
	if err != nil {
		t.Fatalf("invalid exposition: %v\n%s", err, text)
	}
	return sc
}

// parseExposition checks text line by line against the text format,
// version 0.0.4, as Prometheus reads it, plus the rules a scraper relies
// on: HELP then TYPE once per family before its samples, a family's
// samples contiguous, no duplicate series, counters named *_total and not
// negative.
func parseExposition(text string) (scrape, error) {
	sc := scrape{values: map[string]float64{}, types: map[string]string{}}
	helped := map[string]bool{}
	done := map[string]bool{} // families whose samples are over
	current := ""
	if !strings.HasSuffix(text, "\n") {
		return sc, fmt.Errorf("exposition does not end in a newline")
	}
	s := bufio.NewScanner(strings.NewReader(text))
	for line := 1; s.Scan(); line++ {
		l := s.Text()
		bad := func(format string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", line, l, fmt.Sprintf(format, a...))
		}
		switch {
		case strings.HasPrefix(l, "# HELP "):
			name, _, _ := strings.Cut(l[len("# HELP "):], " ")
			if !metricNameRE.MatchString(name) || helped[name] || done[name] {
				return sc, bad("bad or repeated HELP for %q", name)
			}
			helped[name] = true
		case strings.HasPrefix(l, "# TYPE "):
			name, typ, _ := strings.Cut(l[len("# TYPE "):], " ")
			if !metricNameRE.MatchString(name) || sc.types[name] != "" || !helped[name] {
				return sc, bad("bad, repeated or unhelped TYPE for %q", name)
			}
			if typ != "counter" && typ != "gauge" {
				return sc, bad("type %q", typ)
			}
			if typ == "counter" && !strings.HasSuffix(name, "_total") {
				return sc, bad("counter %q does not end in _total", name)
			}
			sc.types[name] = typ
			if current != "" {
				done[current] = true
			}
			current = name
		case l == "" || strings.HasPrefix(l, "#"):
			return sc, bad("blank line or unknown comment")
		default:
			name, key, v, err := parseSample(l)
			switch {
			case err != nil:
				return sc, bad("%v", err)
			case name != current:
				return sc, bad("sample of %q outside its family (current %q)", name, current)
			case hasKey(sc.values, key):
				return sc, bad("duplicate series %s", key)
			case sc.types[name] == "counter" && v < 0:
				return sc, bad("negative counter")
			}
			sc.values[key] = v
		}
	}
	return sc, nil
}

func hasKey(m map[string]float64, k string) bool {
	_, ok := m[k]
	return ok
}

// parseSample splits name{labels} value, validating names and escapes,
// and returns the name, the canonical key and the value.
func parseSample(l string) (name, key string, v float64, err error) {
	nameEnd := strings.IndexAny(l, "{ ")
	if nameEnd < 0 {
		return "", "", 0, fmt.Errorf("no value")
	}
	name = l[:nameEnd]
	if !metricNameRE.MatchString(name) {
		return "", "", 0, fmt.Errorf("metric name %q", name)
	}
	rest := l[nameEnd:]
	key = name
	if strings.HasPrefix(rest, "{") {
		var labels string
		if labels, rest, err = parseLabels(rest[1:]); err != nil {
			return "", "", 0, err
		}
		key += "{" + labels + "}"
	}
	valStr, ok := strings.CutPrefix(rest, " ")
	if !ok || strings.Contains(valStr, " ") {
		return "", "", 0, fmt.Errorf("want exactly one space before the value (no timestamps)")
	}
	if v, err = strconv.ParseFloat(valStr, 64); err != nil {
		return "", "", 0, err
	}
	return name, key, v, nil
}

// parseLabels reads l1="v1",...} and returns the labels, re-rendered as
// name="value" with Go quoting, and what follows the brace.
func parseLabels(s string) (string, string, error) {
	var out []string
	seen := map[string]bool{}
	for {
		name, after, ok := strings.Cut(s, `="`)
		if !ok || !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__") || seen[name] {
			return "", "", fmt.Errorf("label name %q", name)
		}
		seen[name] = true
		val, n, err := unescapeLabel(after)
		if err != nil {
			return "", "", err
		}
		out = append(out, name+"="+strconv.Quote(val))
		s = after[n:]
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "}"):
			return strings.Join(out, ","), s[1:], nil
		default:
			return "", "", fmt.Errorf("expected , or } after label %q", name)
		}
	}
}

// unescapeLabel reads a label value up to its closing quote and returns it
// and the number of bytes consumed, quote included.
func unescapeLabel(s string) (string, int, error) {
	var val strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return val.String(), i + 1, nil
		case '\n':
			return "", 0, fmt.Errorf("raw newline in label value")
		case '\\':
			if i++; i >= len(s) {
				return "", 0, fmt.Errorf("dangling escape")
			}
			switch s[i] {
			case 'n':
				c = '\n'
			case '\\', '"':
				c = s[i]
			default:
				return "", 0, fmt.Errorf("bad escape \\%c", s[i])
			}
		}
		val.WriteByte(c)
	}
	return "", 0, fmt.Errorf("unterminated label value")
}

func TestParseExpositionRejectsMalformed(t *testing.T) {
	// The checker must catch what it claims to.
	for _, tc := range []struct{ name, text string }{
		{"no type", "foo 1\n"},
		{"bad name", "# HELP 1foo x\n# TYPE 1foo gauge\n1foo 1\n"},
		{"duplicate", "# HELP foo x\n# TYPE foo gauge\nfoo{a=\"1\"} 1\nfoo{a=\"1\"} 2\n"},
		{"split family", "# HELP foo x\n# TYPE foo gauge\nfoo 1\n# HELP bar x\n# TYPE bar gauge\nbar 1\nfoo{a=\"1\"} 2\n"},
		{"counter name", "# HELP foo x\n# TYPE foo counter\nfoo 1\n"},
		{"bad escape", "# HELP foo x\n# TYPE foo gauge\nfoo{a=\"\\x\"} 1\n"},
		{"timestamp", "# HELP foo x\n# TYPE foo gauge\nfoo 1 123\n"},
		{"no newline", "# HELP foo x\n# TYPE foo gauge\nfoo 1"},
		{"bad value", "# HELP foo x\n# TYPE foo gauge\nfoo one\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseExposition(tc.text); err == nil {
				t.Errorf("parseExposition(%q) = nil error, want one", tc.text)
			}
		})
	}
	good := "# HELP foo x\n# TYPE foo gauge\nfoo{a=\"q\\\"\\\\\\n\"} 1.5\n"
	sc, err := parseExposition(good)
	if err != nil {
		t.Fatalf("parseExposition(%q) = %v", good, err)
	}
	if got, want := sc.values[`foo{a="q\"\\\n"}`], 1.5; got != want {
		t.Errorf("escaped series = %v, want %v (parsed %v)", got, want, sc.values)
	}
}
