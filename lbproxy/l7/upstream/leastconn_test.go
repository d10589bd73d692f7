package upstream

import (
	"maps"
	"testing"
)

func TestLeastConn(t *testing.T) {
	tests := []struct {
		name    string
		servers []srv
		busy    map[string]int // requests held in flight before the picks
		picks   int
		want    map[string]int // picks per member (each pick is held too)
	}{
		{"fills the idle one first", []srv{{"a", 1, false}, {"b", 1, false}},
			map[string]int{"a": 3}, 3, map[string]int{"b": 3}},
		{"then alternates", []srv{{"a", 1, false}, {"b", 1, false}},
			map[string]int{"a": 2}, 6, map[string]int{"a": 2, "b": 4}},
		{"weighted: load per weight", []srv{{"a", 3, false}, {"b", 1, false}},
			nil, 8, map[string]int{"a": 6, "b": 2}},
		{"ties go round robin", []srv{{"a", 1, false}, {"b", 1, false}, {"c", 1, false}},
			nil, 3, map[string]int{"a": 1, "b": 1, "c": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, peers := newTestGroup(t, LeastConn, tc.servers, Server{})
			for addr, n := range tc.busy {
				for range n {
					if !peers[addr].claim(0) {
						t.Fatal("claim failed")
					}
				}
			}
			got := map[string]int{}
			for range tc.picks {
				i := g.Pick(t0, NoKey, nil) // held: not released
				got[g.Value(i)]++
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("picks %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLeastConnReleased: with every request finished at once, least_conn
// spreads like weighted round robin.
func TestLeastConnReleased(t *testing.T) {
	g, _ := newTestGroup(t, LeastConn, []srv{{"a", 2, false}, {"b", 1, false}}, Server{})
	got := counts(g, 300, noKey)
	if want := map[string]int{"a": 200, "b": 100}; !maps.Equal(got, want) {
		t.Errorf("picks %v, want %v", got, want)
	}
}
