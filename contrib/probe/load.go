package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// loadConfig is what `probe load` was asked to do.
type loadConfig struct {
	urls     []string
	rate     float64       // requests per second, all URLs together
	duration time.Duration // stop after this long
	stopFile string        // stop when this path exists ("" never)
	timeout  time.Duration // per request
	conns    int           // requests in flight at most
}

// urlList is a repeatable -url flag.
type urlList []string

func (u *urlList) String() string { return strings.Join(*u, ",") }

func (u *urlList) Set(s string) error {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	*u = append(*u, s)
	return nil
}

func parseLoad(args []string) (loadConfig, error) {
	var cfg loadConfig
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*urlList)(&cfg.urls), "url", "target URL (repeatable; requests go round-robin)")
	fs.Float64Var(&cfg.rate, "rate", 0, "requests per second in total")
	fs.DurationVar(&cfg.duration, "duration", 0, "stop after this long")
	fs.StringVar(&cfg.stopFile, "stop-file", "", "stop as soon as this path exists")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Second, "per-request timeout")
	fs.IntVar(&cfg.conns, "conns", 64, "requests in flight at most")
	if err := fs.Parse(args); err != nil {
		return cfg, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return cfg, usageError{fmt.Errorf("unexpected argument %q: give targets with -url URL", fs.Arg(0))}
	case len(cfg.urls) == 0:
		return cfg, usageError{errors.New("no target: give at least one -url URL")}
	case cfg.rate <= 0:
		return cfg, usageError{fmt.Errorf("-rate %g: want a positive number of requests per second", cfg.rate)}
	case cfg.duration <= 0:
		return cfg, usageError{fmt.Errorf("-duration %s: want a positive duration such as 30s", cfg.duration)}
	case cfg.timeout <= 0:
		return cfg, usageError{fmt.Errorf("-timeout %s: want a positive duration such as 2s", cfg.timeout)}
	case cfg.conns < 1:
		return cfg, usageError{fmt.Errorf("-conns %d: want at least 1", cfg.conns)}
	}
	return cfg, nil
}

// cmdLoad sends a steady stream of GET requests and prints what became of
// them: a progress line every second on stderr, one JSON report on stdout.
// Failed requests do not make it fail; only bad flags do.
func cmdLoad(args []string) error {
	cfg, err := parseLoad(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rep := runLoad(ctx, cfg, os.Stderr)
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// runLoad sends requests at cfg.rate, paced by a ticker (open loop: a
// slow answer does not slow the stream), until cfg.duration passed,
// cfg.stopFile exists or ctx ends; then it waits for the requests in
// flight and returns the report. It writes a progress line to progress
// every second.
func runLoad(ctx context.Context, cfg loadConfig, progress io.Writer) loadReport {
	client := newLoadClient(cfg)
	defer client.CloseIdleConnections()
	t := newTally()
	slots := make(chan struct{}, cfg.conns)
	var inflight sync.WaitGroup

	start := time.Now()
	var sent int64
	// send starts the requests due by elapsed (rate × elapsed in all).
	send := func(elapsed time.Duration) {
		due := int64(cfg.rate*elapsed.Seconds()) - sent
		for ; due > 0; due-- {
			target := cfg.urls[sent%int64(len(cfg.urls))]
			sent++
			select {
			case slots <- struct{}{}:
			default:
				t.add(outcome{at: time.Since(start), err: "overload"})
				continue
			}
			inflight.Go(func() {
				defer func() { <-slots }()
				t.add(getOnce(client, target, start))
			})
		}
	}

	pace := time.NewTicker(paceInterval(cfg.rate))
	defer pace.Stop()
	stopCheck := time.NewTicker(50 * time.Millisecond)
	defer stopCheck.Stop()
	second := time.NewTicker(time.Second)
	defer second.Stop()
	end := time.NewTimer(cfg.duration)
	defer end.Stop()

	stopped := cfg.stopFile != "" && exists(cfg.stopFile)
	for !stopped {
		select {
		case <-ctx.Done():
			stopped = true
		case <-end.C:
			send(cfg.duration) // the last ones due
			stopped = true
		case <-stopCheck.C:
			stopped = cfg.stopFile != "" && exists(cfg.stopFile)
		case <-second.C:
			fmt.Fprintln(progress, t.progress(time.Since(start)))
		case <-pace.C:
			send(min(time.Since(start), cfg.duration))
		}
	}
	elapsed := time.Since(start)
	inflight.Wait()
	fmt.Fprintln(progress, t.progress(time.Since(start)))
	return t.report(elapsed)
}

// paceInterval is the ticker period: one request per tick up to 1000/s,
// several per tick above (a tick is never shorter than 1 ms), and at
// least 50 ticks a second below 50/s so the stream stays smooth.
func paceInterval(rate float64) time.Duration {
	d := time.Duration(float64(time.Second) / rate)
	return min(max(d, time.Millisecond), 20*time.Millisecond)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// newLoadClient keeps connections alive between requests (up to one per
// request in flight), like a real client; Go's transport retries an
// idempotent request on a kept-alive connection the server closed.
func newLoadClient(cfg loadConfig) *http.Client {
	return &http.Client{
		Timeout: cfg.timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: cfg.timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: cfg.conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// getOnce makes one request and says what became of it.
func getOnce(client *http.Client, target string, start time.Time) outcome {
	begin := time.Now()
	o := outcome{}
	o.version, o.err = fetchVersion(client, target)
	now := time.Now()
	o.at, o.latency = now.Sub(start), max(now.Sub(begin), time.Nanosecond)
	return o
}

// fetchVersion GETs target and returns the "version" of its JSON answer
// ("unknown" when the answer has none), or a short error text.
func fetchVersion(client *http.Client, target string) (version, errText string) {
	res, err := client.Get(target)
	if err != nil {
		return "", shortError(err)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if err != nil {
		return "", shortError(err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Sprintf("status %d", res.StatusCode)
	}
	var a struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(body, &a) != nil || a.Version == "" {
		return "unknown", ""
	}
	return a.Version, ""
}

// shortError names a failure in a few words, without the addresses and
// URLs that would make every occurrence a different text.
func shortError(err error) string {
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.As(err, &dnsErr):
		return "dns: " + dnsErr.Err
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return msg
}
