package upstream

import (
	"maps"
	"strings"
	"testing"
)

func TestRoundRobinSmoothSequence(t *testing.T) {
	tests := []struct {
		name    string
		servers []srv
		want    string // one round, member addresses are single letters
	}{
		{"nginx example 5,1,1", []srv{{"a", 5, false}, {"b", 1, false}, {"c", 1, false}}, "aabacaa"},
		{"equal weights", []srv{{"a", 1, false}, {"b", 1, false}, {"c", 1, false}}, "abc"},
		{"3,1", []srv{{"a", 3, false}, {"b", 1, false}}, "aaba"},
		{"single", []srv{{"a", 4, false}}, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newTestGroup(t, RoundRobin, tc.servers, Server{})
			var got strings.Builder
			for range 3 { // three rounds: the pattern repeats
				for range tc.want {
					got.WriteString(pickRelease(g, t0, NoKey))
				}
			}
			if want := strings.Repeat(tc.want, 3); got.String() != want {
				t.Errorf("sequence %q, want %q", got.String(), want)
			}
		})
	}
}

func TestRoundRobinWeightedDistribution(t *testing.T) {
	tests := []struct {
		name    string
		servers []srv
	}{
		{"equal", []srv{{"a", 1, false}, {"b", 1, false}, {"c", 1, false}}},
		{"1,2,3", []srv{{"a", 1, false}, {"b", 2, false}, {"c", 3, false}}},
		{"10,1", []srv{{"a", 10, false}, {"b", 1, false}}},
		{"default weight", []srv{{"a", 0, false}, {"b", 2, false}}},
		{"backups idle", []srv{{"a", 1, false}, {"b", 1, false}, {"z", 5, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newTestGroup(t, RoundRobin, tc.servers, Server{})
			sum, want := 0, map[string]int{}
			for _, s := range tc.servers {
				if s.backup {
					continue
				}
				w := max(s.weight, 1)
				sum += w
				want[s.addr] = w * 100
			}
			got := counts(g, sum*100, noKey)
			if !maps.Equal(got, want) {
				t.Errorf("picks %v, want exactly %v", got, want)
			}
		})
	}
}

func TestRoundRobinSkipsTriedAndDown(t *testing.T) {
	g, peers := newTestGroup(t, RoundRobin, []srv{{"a", 1, false}, {"b", 1, false}, {"c", 1, false}}, Server{})
	peers["b"].Fail(t0) // max_fails 1: down for 10s
	var tried Tried
	seen := map[string]bool{}
	for range 3 {
		i := g.Pick(t0, NoKey, &tried)
		if i < 0 {
			break
		}
		tried.Add(i)
		g.Peer(i).Release()
		seen[g.Value(i)] = true
	}
	if want := map[string]bool{"a": true, "c": true}; !maps.Equal(seen, want) {
		t.Errorf("tried %v, want %v (b is down, nothing twice)", seen, want)
	}
	if i := g.Pick(t0, NoKey, &tried); i >= 0 {
		t.Errorf("picked %s after every available member was tried", g.Value(i))
	}
}
