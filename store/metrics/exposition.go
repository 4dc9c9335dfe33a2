package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Metric types of the text format.
const (
	counter = "counter"
	gauge   = "gauge"
)

// label is one name="value" pair of a series.
type label struct{ name, value string }

// sample is one series of a family.
type sample struct {
	labels []label
	value  float64
}

// family is every series of one metric name, written together as the
// format requires.
type family struct {
	name, typ, help string
	samples         []sample
}

// exposition collects the families of one scrape in first-seen order and
// remembers the first inconsistency (a duplicate series, or one name used
// with two types).
type exposition struct {
	families []*family
	byName   map[string]*family
	seen     map[string]bool // series keys already added
	extra    []label         // added to every series (see Label)
	err      error
}

func newExposition() *exposition {
	return &exposition{byName: make(map[string]*family), seen: make(map[string]bool)}
}

// add appends one series to the family name, creating it on first use.
func (e *exposition) add(name, typ, help string, v float64, labels ...label) {
	if len(e.extra) > 0 {
		labels = append(append([]label(nil), labels...), e.extra...)
	}
	f := e.byName[name]
	if f == nil {
		f = &family{name: name, typ: typ, help: help}
		e.byName[name] = f
		e.families = append(e.families, f)
	} else if f.typ != typ {
		e.fail(fmt.Errorf("metrics: %s registered as %s and %s", name, f.typ, typ))
		return
	}
	key := seriesKey(name, labels)
	if e.seen[key] {
		e.fail(fmt.Errorf("metrics: duplicate series %s (add a distinguishing Label)", key))
		return
	}
	e.seen[key] = true
	f.samples = append(f.samples, sample{labels: labels, value: v})
}

func (e *exposition) counter(name, help string, v uint64, labels ...label) {
	e.add(name, counter, help, float64(v), labels...)
}

func (e *exposition) gauge(name, help string, v float64, labels ...label) {
	e.add(name, gauge, help, v, labels...)
}

func (e *exposition) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// writeTo writes the exposition in the text format, version 0.0.4.
func (e *exposition) writeTo(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, f := range e.families {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for _, s := range f.samples {
			bw.WriteString(seriesKey(f.name, s.labels))
			bw.WriteByte(' ')
			bw.WriteString(formatValue(s.value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// seriesKey renders name{l1="v1",...}, which is also the series' identity.
func seriesKey(name string, labels []label) string {
	if len(labels) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.name)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(l.value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// formatValue prints integers without an exponent (as long as float64
// holds them exactly) and everything else in Go's shortest form, which the
// format accepts, including NaN and ±Inf.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// validName reports whether s is a valid metric name,
// [a-zA-Z_:][a-zA-Z0-9_:]*; label names are the same without colons.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (colon && c == ':') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}
