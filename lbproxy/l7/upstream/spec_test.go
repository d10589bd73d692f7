package upstream

import (
	"strings"
	"testing"
	"time"
)

func TestServerValidate(t *testing.T) {
	tests := []struct {
		s    Server
		want string // "" for valid
	}{
		{Server{Addr: "10.0.0.1:80"}, ""},
		{Server{Addr: "[fd00::1]:8080", Weight: MaxWeight, MaxFails: NoMaxFails, MaxConns: 5}, ""},
		{Server{Addr: "web.xo:80", FailTimeout: time.Second}, ""},
		{Server{Addr: "10.0.0.1"}, "want host:port"},
		{Server{Addr: ":80"}, "host is empty"},
		{Server{Addr: "a:http"}, "1 to 65535"},
		{Server{Addr: "a:70000"}, "1 to 65535"},
		{Server{Addr: "bad host:1"}, "neither an IP address nor a valid name"},
		{Server{Addr: "a..b:1"}, "label"},
		{Server{Addr: "a:1", Weight: MaxWeight + 1}, "weight"},
		{Server{Addr: "a:1", MaxFails: -2}, "max_fails -2"},
		{Server{Addr: "a:1", FailTimeout: -1}, "fail_timeout"},
		{Server{Addr: "a:1", MaxConns: -1}, "max_conns"},
	}
	for _, tc := range tests {
		err := tc.s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.s, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one mentioning %q", tc.s, err, tc.want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	s := Server{Addr: "a:1"}.WithDefaults()
	if s.Weight != DefaultWeight || s.MaxFails != DefaultMaxFails || s.FailTimeout != DefaultFailTimeout {
		t.Errorf("%+v", s)
	}
	if p := Policy("").Or(RoundRobin); p != RoundRobin {
		t.Errorf("Or: %q", p)
	}
}
