// Package connpool keeps HTTP/1.1 keep-alive connections to one backend
// address: a bounded stack of idle connections (the most recently used
// first, so a few warm connections carry the load), dialled on demand,
// checked before reuse when they sat idle, closed when idle too long, and
// drained or aborted as a whole.
package connpool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxIdle     = 256
	DefaultIdleTimeout = 60 * time.Second
	DefaultDialTimeout = 5 * time.Second
	DefaultCheckAfter  = time.Second
	bufferSize         = 4096
)

// Options tune a Pool; zero fields take the defaults.
type Options struct {
	// MaxIdle bounds the idle connections kept; more are closed.
	MaxIdle int
	// IdleTimeout closes a connection idle for that long.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting (DNS included).
	DialTimeout time.Duration
	// CheckAfter: a connection idle for longer is checked (one
	// non-blocking peek) before reuse, so one the backend closed
	// meanwhile is not handed out.
	CheckAfter time.Duration
	// Dial, when set, connects instead of a net.Dialer (for example from
	// another network namespace). Its context carries DialTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (o *Options) defaults() {
	if o.MaxIdle <= 0 {
		o.MaxIdle = DefaultMaxIdle
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.CheckAfter <= 0 {
		o.CheckAfter = DefaultCheckAfter
	}
}

// DialError is a failure to connect: nothing was sent to the backend.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("connect to %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// ErrClosed is returned by Get on a closed Pool.
var ErrClosed = errors.New("connection pool closed")

// Conn is one connection with its buffers. It belongs to the caller
// between Pool.Get and Pool.Put or Conn.Close.
type Conn struct {
	net.Conn
	R *bufio.Reader
	W *bufio.Writer
	// Reused is true for a connection that served a request before: an
	// error on it before any answer byte may just mean the backend
	// closed it while idle.
	Reused bool

	pool     *Pool
	idleAt   time.Time
	deadline atomic.Int64 // unix nanos; 0: none; aborted: Sweep or Abort ended it
}

// aborted is Conn.deadline of a connection whose I/O was made to fail.
const aborted = -1

// Arm sets the time (unix nanoseconds, 0 for none) after which Sweep
// makes the connection's reads and writes fail. It is one atomic store:
// cheaper than a net.Conn deadline, at the price of Sweep's granularity.
func (c *Conn) Arm(deadline int64) {
	for {
		d := c.deadline.Load()
		if d == aborted || c.deadline.CompareAndSwap(d, deadline) {
			return
		}
	}
}

// Aborted reports whether Sweep or Abort ended the connection's I/O.
func (c *Conn) Aborted() bool { return c.deadline.Load() == aborted }

func (c *Conn) abort() {
	c.deadline.Store(aborted)
	c.SetDeadline(time.Unix(1, 0))
}

// Close closes the connection for good.
func (c *Conn) Close() error {
	c.pool.forget(c)
	return c.Conn.Close()
}

// Pool is the keep-alive pool of one backend address. It is safe for
// concurrent use. Its only background work is a timer closing idle
// connections, stopped by Close.
type Pool struct {
	addr   string
	opts   Options
	dialer net.Dialer

	mu       sync.Mutex
	idle     []*Conn // stack: the newest at the end
	all      map[*Conn]struct{}
	draining bool // connections given back are closed
	closed   bool
	reaper   *time.Timer
}

// New makes the pool of addr (host:port).
func New(addr string, opts Options) *Pool {
	opts.defaults()
	return &Pool{
		addr:   addr,
		opts:   opts,
		dialer: net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		all:    make(map[*Conn]struct{}),
	}
}

// Addr is the backend address.
func (p *Pool) Addr() string { return p.addr }

// Get returns an idle connection, checked if it sat idle longer than
// CheckAfter, or dials a new one. A dial failure is a *DialError.
func (p *Pool) Get(ctx context.Context) (*Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return p.Dial(ctx)
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(c.idleAt) < p.opts.CheckAfter || (c.R.Buffered() == 0 && alive(c.Conn)) {
			return c, nil
		}
		c.Close()
	}
}

// Dial makes a new connection, bypassing the idle ones.
func (p *Pool) Dial(ctx context.Context) (*Conn, error) {
	nc, err := p.dial(ctx)
	if err != nil {
		return nil, &DialError{Addr: p.addr, Err: err}
	}
	c := &Conn{Conn: nc, R: bufio.NewReaderSize(nc, bufferSize), W: bufio.NewWriterSize(nc, bufferSize), pool: p}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	p.all[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

func (p *Pool) dial(ctx context.Context) (net.Conn, error) {
	if p.opts.Dial == nil {
		return p.dialer.DialContext(ctx, "tcp", p.addr)
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.DialTimeout)
	defer cancel()
	return p.opts.Dial(ctx, "tcp", p.addr)
}

// Put gives back a connection whose last answer was read completely,
// for reuse. It is closed instead when the pool is full, draining or
// closed, or when Sweep ended it.
func (p *Pool) Put(c *Conn) {
	if c.deadline.Swap(0) == aborted {
		c.Close()
		return
	}
	c.Reused = true
	c.idleAt = time.Now()
	p.mu.Lock()
	if p.closed || p.draining || len(p.idle) >= p.opts.MaxIdle {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.opts.IdleTimeout, p.reap)
	}
	p.mu.Unlock()
}

// reap closes the connections idle longer than IdleTimeout (the oldest
// are at the bottom of the stack) and re-arms while some are idle.
func (p *Pool) reap() {
	cutoff := time.Now().Add(-p.opts.IdleTimeout)
	var old []*Conn
	p.mu.Lock()
	k := 0
	for k < len(p.idle) && p.idle[k].idleAt.Before(cutoff) {
		k++
	}
	if k > 0 {
		old = append(old, p.idle[:k]...)
		n := copy(p.idle, p.idle[k:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
	}
	p.reaper = nil
	if len(p.idle) > 0 && !p.closed {
		next := time.Until(p.idle[0].idleAt.Add(p.opts.IdleTimeout))
		p.reaper = time.AfterFunc(max(next, p.opts.IdleTimeout/8), p.reap)
	}
	p.mu.Unlock()
	for _, c := range old {
		c.Close()
	}
}

func (p *Pool) forget(c *Conn) {
	p.mu.Lock()
	delete(p.all, c)
	p.mu.Unlock()
}

// takeIdle empties the idle stack; called with p.mu held.
func (p *Pool) takeIdle() []*Conn {
	idle := p.idle
	p.idle = nil
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	return idle
}

// Drain closes the idle connections and makes Put close the busy ones
// when their requests end. New connections can still be made (Undrain
// takes it back).
func (p *Pool) Drain() {
	p.mu.Lock()
	p.draining = true
	idle := p.takeIdle()
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// Undrain lets Put keep connections again.
func (p *Pool) Undrain() {
	p.mu.Lock()
	p.draining = false
	p.mu.Unlock()
}

// Close closes the idle connections and refuses new ones; busy ones are
// closed when given back.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.takeIdle()
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// Abort is Close, and also makes every read and write on the busy
// connections fail now, so the requests using them end.
func (p *Pool) Abort() {
	p.Close()
	p.mu.Lock()
	busy := make([]*Conn, 0, len(p.all))
	for c := range p.all {
		busy = append(busy, c)
	}
	p.mu.Unlock()
	for _, c := range busy {
		c.abort()
	}
}

// Sweep ends the I/O of the busy connections whose Arm deadline is
// before now (unix nanoseconds): their reads and writes fail with a
// timeout, and Put closes them.
func (p *Pool) Sweep(now int64) {
	var late []*Conn
	p.mu.Lock()
	for c := range p.all {
		if d := c.deadline.Load(); d > 0 && now > d && c.deadline.CompareAndSwap(d, aborted) {
			late = append(late, c)
		}
	}
	p.mu.Unlock()
	for _, c := range late {
		c.SetDeadline(time.Unix(1, 0))
	}
}

// Stats are counts for tests and metrics.
type Stats struct{ Idle, Open int }

// Stats counts the idle and all open connections.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Idle: len(p.idle), Open: len(p.all)}
}
