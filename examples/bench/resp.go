package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// redisClient is a minimal RESP2 client for GET and SET ... EX: enough to
// store sessions in Redis the way a session library would, with no
// dependency. Idle connections are pooled; a connection that saw any error
// is discarded. Safe for concurrent use.
type redisClient struct {
	addr    string
	timeout time.Duration
	idle    chan *redisConn // pooled idle connections
}

type redisConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// maxBulk bounds a bulk reply, so a confused server cannot make us allocate
// without limit.
const maxBulk = 64 << 20

var errRedisNil = errors.New("redis: nil")

func newRedisClient(addr string, maxIdle int, timeout time.Duration) *redisClient {
	return &redisClient{addr: addr, timeout: timeout, idle: make(chan *redisConn, maxIdle)}
}

// Get returns the value of key; found is false when the key is missing.
func (c *redisClient) Get(key string) ([]byte, bool, error) {
	v, err := c.do("GET", key)
	if errors.Is(err, errRedisNil) {
		return nil, false, nil
	}
	return v, err == nil, err
}

// Set stores val under key for ttl (whole seconds, at least one).
func (c *redisClient) Set(key string, val []byte, ttl time.Duration) error {
	secs := strconv.Itoa(max(1, int(ttl/time.Second)))
	_, err := c.do("SET", key, string(val), "EX", secs)
	return err
}

// Close closes the idle connections.
func (c *redisClient) Close() {
	for {
		select {
		case rc := <-c.idle:
			rc.c.Close()
		default:
			return
		}
	}
}

func (c *redisClient) do(args ...string) ([]byte, error) {
	rc, err := c.get()
	if err != nil {
		return nil, err
	}
	rc.c.SetDeadline(time.Now().Add(c.timeout))
	writeCommand(rc.w, args)
	if err = rc.w.Flush(); err == nil {
		var v []byte
		v, err = readReply(rc.r)
		if err == nil || errors.Is(err, errRedisNil) || isServerError(err) {
			c.put(rc) // the connection is still in step
			return v, err
		}
	}
	rc.c.Close()
	return nil, fmt.Errorf("redis %s: %w", args[0], err)
}

func (c *redisClient) get() (*redisConn, error) {
	select {
	case rc := <-c.idle:
		return rc, nil
	default:
	}
	nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &redisConn{c: nc, r: bufio.NewReaderSize(nc, 16<<10), w: bufio.NewWriterSize(nc, 16<<10)}, nil
}

func (c *redisClient) put(rc *redisConn) {
	select {
	case c.idle <- rc:
	default:
		rc.c.Close()
	}
}

// writeCommand writes args as a RESP array of bulk strings.
func writeCommand(w *bufio.Writer, args []string) {
	w.WriteByte('*')
	w.WriteString(strconv.Itoa(len(args)))
	w.WriteString("\r\n")
	for _, a := range args {
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(len(a)))
		w.WriteString("\r\n")
		w.WriteString(a)
		w.WriteString("\r\n")
	}
}

type serverError string

func (e serverError) Error() string { return "redis: " + string(e) }

func isServerError(err error) bool {
	var se serverError
	return errors.As(err, &se)
}

// readReply reads one reply: a simple string, an error, an integer or a
// bulk string. Arrays are not used by GET and SET and are refused.
func readReply(r *bufio.Reader) ([]byte, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, errors.New("redis: empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return append([]byte(nil), line[1:]...), nil // line aliases r's buffer
	case '-':
		return nil, serverError(line[1:])
	case '$':
		return readBulk(r, line[1:])
	}
	return nil, fmt.Errorf("redis: unexpected reply type %q", line[0])
}

func readBulk(r *bufio.Reader, lenField []byte) ([]byte, error) {
	n, err := strconv.Atoi(string(lenField))
	switch {
	case err != nil:
		return nil, fmt.Errorf("redis: bad bulk length %q", lenField)
	case n == -1:
		return nil, errRedisNil
	case n < 0 || n > maxBulk:
		return nil, fmt.Errorf("redis: bulk length %d out of range", n)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return nil, errors.New("redis: bulk string not terminated by CRLF")
	}
	return buf[:n], nil
}

// readLine reads a CRLF-terminated line that fits r's buffer, without the
// CRLF. The result aliases r's buffer until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errors.New("redis: line not terminated by CRLF")
	}
	return line[:len(line)-2], nil
}
