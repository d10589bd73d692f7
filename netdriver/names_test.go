package netdriver

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	if got := BridgeName(4096); got != "xob-4096" {
		t.Errorf("BridgeName = %q", got)
	}
	if got := VXLANName(4096); got != "xov-4096" {
		t.Errorf("VXLANName = %q", got)
	}
	for _, name := range []string{BridgeName(^uint32(0)), VXLANName(^uint32(0))} {
		if len(name) > 15 {
			t.Errorf("%q longer than 15", name)
		}
	}
	host, peer := VethNames(strings.Repeat("0123456789abcdef", 4))
	if host != "xoh0123456789" || peer != "xoc0123456789" || len(host) > 15 {
		t.Errorf("VethNames = %q, %q", host, peer)
	}
	if host, peer := VethNames("abc"); host != "xohabc" || peer != "xocabc" {
		t.Errorf("VethNames(short) = %q, %q", host, peer)
	}
}
