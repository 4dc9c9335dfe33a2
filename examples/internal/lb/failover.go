package lb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// maxBody bounds the request bodies buffered to be sent again (the
// examples' forms are a few bytes).
const maxBody = 1 << 20

// failover sends a request to the balancer's backends in order until one
// accepts the connection.
type failover struct{ b *Balancer }

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, i := range f.b.order(req) {
		out := req.Clone(req.Context())
		u := *req.URL
		u.Host = f.b.backends[i].Addr
		out.URL, out.Host = &u, ""
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		resp, err := f.b.tr.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		if !refused(err) {
			return nil, f.b.errorf(i, err)
		}
		f.b.markDown(i)
		errs = append(errs, f.b.errorf(i, err))
	}
	return nil, fmt.Errorf("%w: %w", ErrAllDown, errors.Join(errs...))
}

// readBody buffers the request body so it can be sent again; nil when the
// request has none.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("lb: request body over %d bytes", maxBody)
	}
	return body, nil
}

// refused reports whether err happened while connecting, before anything
// was sent.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
