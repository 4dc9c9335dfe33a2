package metrics

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// A Source contributes metric families to a scrape. Node, Sessions and
// Memcached make one; Label distinguishes several of the same kind.
type Source interface {
	collect(e *exposition)
}

// sourceFunc adapts a function to Source.
type sourceFunc func(e *exposition)

func (f sourceFunc) collect(e *exposition) { f(e) }

// Handler serves the sources' metrics in the Prometheus text format. Every
// request takes a fresh snapshot of each source, in order. If two sources
// produce the same series, it answers 500 with the reason instead.
func Handler(sources ...Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := Write(&buf, sources...); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Write(buf.Bytes())
	})
}

// Write writes one scrape of the sources to w. It fails, writing nothing,
// when two sources produce the same series or one name with two types.
func Write(w io.Writer, sources ...Source) error {
	e := newExposition()
	for _, s := range sources {
		s.collect(e)
	}
	if e.err != nil {
		return e.err
	}
	return e.writeTo(w)
}

// Label returns src with the label name="value" added to each of its
// series, to tell apart several sources of one kind (two Managers with
// different cookies, say). It panics if name is not a valid label name or
// is reserved (starts with "__").
func Label(src Source, name, value string) Source {
	if !validName(name, false) || strings.HasPrefix(name, "__") {
		panic(fmt.Sprintf("metrics: invalid label name %q", name))
	}
	return sourceFunc(func(e *exposition) {
		saved := e.extra
		e.extra = append(append([]label(nil), saved...), label{name, value})
		src.collect(e)
		e.extra = saved
	})
}
