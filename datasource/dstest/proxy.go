package dstest

import (
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a server and can cut them, so tests can
// make a database unreachable and bring it back without touching the
// server.
type Proxy struct {
	target string
	mu     sync.Mutex
	ln     net.Listener
	addr   string
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// NewProxy starts a proxy on 127.0.0.1 in front of the host:port of
// targetURL and returns it with targetURL rewritten to go through it. The
// proxy stops when the test ends.
func NewProxy(t testing.TB, targetURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(targetURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: u.Host, conns: map[net.Conn]bool{}}
	if err := p.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	t.Cleanup(p.Stop)
	return p, u.String()
}

func (p *Proxy) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Stop refuses new connections and cuts the open ones: the server looks
// unreachable.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Start accepts connections again on the same address.
func (p *Proxy) Start() error {
	p.mu.Lock()
	running := p.ln != nil
	addr := p.addr
	p.mu.Unlock()
	if running {
		return errors.New("proxy already running")
	}
	return p.listen(addr)
}
