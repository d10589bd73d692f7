package apiserver

import (
	"slices"
	"testing"
)

func TestSortOrders(t *testing.T) {
	blocks := []string{"10.0.0.128/28", "10.0.0.16/28", "10.0.0.0/28", "10.0.0.0/24"}
	slices.SortFunc(blocks, comparePrefixes)
	if want := []string{"10.0.0.0/24", "10.0.0.0/28", "10.0.0.16/28", "10.0.0.128/28"}; !slices.Equal(blocks, want) {
		t.Errorf("blocks = %v, want %v", blocks, want)
	}
	ips := []string{"bogus", "10.0.0.100", "10.0.0.20", "10.0.0.3"}
	slices.SortFunc(ips, compareAddrs)
	if want := []string{"10.0.0.3", "10.0.0.20", "10.0.0.100", "bogus"}; !slices.Equal(ips, want) {
		t.Errorf("ips = %v, want %v", ips, want)
	}
}
