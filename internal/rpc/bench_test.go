package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

var benchSizes = []int{64, 1 << 10, 16 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkCall measures a round trip (request and equal-sized reply) over
// loopback TCP, one caller at a time (serial) and from GOMAXPROCS callers
// (parallel), plaintext and with peertls mutual TLS.
func BenchmarkCall(b *testing.B) {
	for _, sec := range []string{"plain", "tls"} {
		for _, mode := range []string{"serial", "parallel"} {
			for _, size := range benchSizes {
				b.Run(sec+"/"+mode+"/"+sizeName(size), func(b *testing.B) {
					var cfg Config
					if sec == "tls" {
						cfg.TLS = tlsConfig(b, 1)
					}
					benchCall(b, cfg, mode == "parallel", size)
				})
			}
		}
	}
}

func benchCall(b *testing.B, cfg Config, parallel bool, size int) {
	_, addr := startServer(b, tcpNet{}, "", cfg, &testHandler{})
	c := newClient(b, tcpNet{}, cfg)
	body := make([]byte, size)
	ctx := context.Background()
	if _, err := c.Call(ctx, addr, opEcho, body); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	b.SetBytes(int64(2 * size))
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			if _, err := c.Call(ctx, addr, opEcho, body); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Call(ctx, addr, opEcho, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTCPEcho is the floor BenchmarkCall/plain/serial is compared
// against: a length-prefixed echo over one raw loopback connection, with no
// multiplexing, handler goroutine or deadlines.
func BenchmarkTCPEcho(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			l := tcpNet{}.Listen(b, "")
			defer l.Close()
			go rawEchoServer(l)
			nc, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			msg := binary.BigEndian.AppendUint32(nil, uint32(size))
			msg = append(msg, make([]byte, size)...)
			reply := make([]byte, len(msg))
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := nc.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(nc, reply); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func rawEchoServer(l net.Listener) {
	nc, err := l.Accept()
	if err != nil {
		return
	}
	serveRawEcho(nc)
}

// serveRawEcho echoes length-prefixed messages on nc until it fails. It
// also answers rpc request frames, as a server would but with no rpc code
// (kind set to response, aux cleared), so an rpc client can be timed
// against it alone.
func serveRawEcho(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	buf := make([]byte, 4+64<<10)
	for {
		if _, err := io.ReadFull(br, buf[:4]); err != nil {
			return
		}
		var n, have int
		if buf[0] == 0xA7 { // an rpc frame: answer it as the server would
			if _, err := io.ReadFull(br, buf[4:headerLen]); err != nil {
				return
			}
			n, have = headerLen+int(binary.BigEndian.Uint32(buf[16:20])), headerLen
			buf[2] = byte(kindResponse)
			binary.BigEndian.PutUint32(buf[12:16], 0)
		} else {
			n, have = 4+int(binary.BigEndian.Uint32(buf)), 4
		}
		if n > len(buf) {
			return
		}
		if _, err := io.ReadFull(br, buf[have:n]); err != nil {
			return
		}
		if _, err := nc.Write(buf[:n]); err != nil {
			return
		}
	}
}

// BenchmarkDialPerCall is the alternative this package replaces
// (memberlist's SendReliable): a fresh connection, and with TLS a fresh
// handshake, for every message.
func BenchmarkDialPerCall(b *testing.B) {
	for _, sec := range []string{"plain", "tls"} {
		b.Run(sec+"/1KiB", func(b *testing.B) {
			var cfg Config
			if sec == "tls" {
				cfg.TLS = tlsConfig(b, 1)
			}
			_, addr := startServer(b, tcpNet{}, "", cfg, &testHandler{})
			frame := rawFrame(header{kind: kindRequest, method: opEcho, id: 1}, make([]byte, 1<<10))
			b.ReportAllocs()
			for b.Loop() {
				if err := dialAndCall(addr, cfg.TLS, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func dialAndCall(addr string, tcfg *tls.Config, frame []byte) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if tcfg != nil {
		nc = tls.Client(nc, tcfg)
	}
	if _, err := nc.Write(frame); err != nil {
		return err
	}
	_, _, err = readFrame(bufio.NewReader(nc), defaultMaxFrame)
	return err
}

// BenchmarkCallFast is BenchmarkCall/serial with a FastHandler: the path the
// store's reads take. Compare it with BenchmarkTCPEcho, the floor.
func BenchmarkCallFast(b *testing.B) {
	for _, sec := range []string{"plain", "tls"} {
		for _, size := range benchSizes {
			b.Run(sec+"/"+sizeName(size), func(b *testing.B) {
				var cfg Config
				if sec == "tls" {
					cfg.TLS = tlsConfig(b, 1)
				}
				_, addr := startServer(b, tcpNet{}, "", cfg, &fastEchoHandler{})
				c := newClient(b, tcpNet{}, cfg)
				body := make([]byte, size)
				ctx := context.Background()
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Call(ctx, addr, opEcho, body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCallFastParallel is BenchmarkCallFast from 16 concurrent callers
// sharing the default pool, the store's forwarded reads and replication under
// load. Beside the time per call it reports the CPU time of the whole
// process per call (client and server, from the operating system's
// accounting) and the writes of each end per call: below 1, requests or
// replies went out batched.
func BenchmarkCallFastParallel(b *testing.B) {
	for _, sec := range []string{"plain", "tls"} {
		b.Run(sec+"/1KiB", func(b *testing.B) {
			var cfg Config
			if sec == "tls" {
				cfg.TLS = tlsConfig(b, 1)
			}
			srv, addr := startServer(b, tcpNet{}, "", cfg, &fastEchoHandler{})
			c := newClient(b, tcpNet{}, cfg)
			body := make([]byte, 1<<10)
			ctx := context.Background()
			if _, err := c.Call(ctx, addr, opEcho, body); err != nil { // dial outside the timing
				b.Fatal(err)
			}
			cw0, sw0 := c.Stats().Writes, srv.Stats().Writes
			cpu0 := cpuTime(b)
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Call(ctx, addr, opEcho, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(cpuTime(b)-cpu0)/n, "cpu-ns/op")
			b.ReportMetric(float64(c.Stats().Writes-cw0)/n, "client-writes/op")
			b.ReportMetric(float64(srv.Stats().Writes-sw0)/n, "server-writes/op")
		})
	}
}

// cpuTime is the user+system CPU time this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
