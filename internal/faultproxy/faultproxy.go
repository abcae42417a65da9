// Package faultproxy is an in-process TCP proxy for fault-injection tests: it forwards
// 127.0.0.1 connections to one target and can add latency, reset every connection,
// black-hole traffic (a network partition: bytes are swallowed, nothing is answered)
// and close slowly. It is test support only; all methods are safe for concurrent use.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards connections from Addr to the target.
type Proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	latency   time.Duration
	blackhole bool
	slowClose time.Duration
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
	closed    bool
}

// New listens on 127.0.0.1:0 and forwards to target until Close.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the host:port clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetLatency delays every forwarded chunk by d (0 = none).
func (p *Proxy) SetLatency(d time.Duration) { p.mu.Lock(); p.latency = d; p.mu.Unlock() }

// SetSlowClose holds the other side open for d after one side closes (0 = at once).
func (p *Proxy) SetSlowClose(d time.Duration) { p.mu.Lock(); p.slowClose = d; p.mu.Unlock() }

// Blackhole starts (true) or ends a partition: while on, data read from either side is
// dropped and new connections are accepted but never reach the target.
func (p *Proxy) Blackhole(on bool) { p.mu.Lock(); p.blackhole = on; p.mu.Unlock() }

// ResetAll aborts every open connection with a TCP RST.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// Close stops accepting, resets every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(upstream) {
		return
	}
	defer p.untrack(upstream)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				lat, hole := p.latency, p.blackhole
				p.mu.Unlock()
				if !hole {
					if lat > 0 {
						time.Sleep(lat)
					}
					if _, werr := dst.Write(buf[:n]); werr != nil {
						return
					}
				}
			}
			if err != nil {
				if err == io.EOF {
					p.mu.Lock()
					d := p.slowClose
					p.mu.Unlock()
					time.Sleep(d)
				}
				return
			}
		}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done // one direction ended: end both
	_ = client.Close()
	_ = upstream.Close()
	<-done
}
