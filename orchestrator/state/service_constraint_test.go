package state

import (
	"strings"
	"testing"
)

func TestConstraintMatches(t *testing.T) {
	n := &Node{ID: "n1", Hostname: "h1", Role: RoleWorker, Labels: map[string]string{"ssd": "true", "zone": "a"}}
	cases := []struct {
		c    string
		want bool
	}{
		{"node.id==n1", true},
		{"node.id!=n1", false},
		{"node.hostname==H1", true}, // values compare without case, as in Swarm
		{"node.role==worker", true},
		{"node.role!=manager", true},
		{"node.platform.os==linux", true},
		{"node.labels.ssd==true", true},
		{"node.labels.ssd==false", false},
		{"node.labels.gpu==yes", false},
		{"node.labels.gpu!=yes", true}, // a missing label differs from every value
		{" node.labels.zone  ==  a ", true},
	}
	for _, c := range cases {
		p, err := ParseConstraint(c.c)
		if err != nil {
			t.Fatalf("%s: %v", c.c, err)
		}
		if got := p.Matches(n); got != c.want {
			t.Errorf("%s matches %v, want %v", c.c, got, c.want)
		}
	}
	if !MatchesAll(n, []string{"node.labels.ssd==true", "node.role==worker"}) || MatchesAll(n, []string{"node.role==worker", "node.id==n2"}) {
		t.Fatal("MatchesAll")
	}
	if MatchesAll(n, []string{"bogus"}) {
		t.Fatal("an unparsable constraint matched")
	}
}

func TestParseConstraintErrors(t *testing.T) {
	for in, want := range map[string]string{
		"node.labels.ssd=true":  "want KEY==VALUE or KEY!=VALUE",
		"==x":                   "want KEY==VALUE or KEY!=VALUE with KEY one of",
		"engine.labels.x==y":    "unknown key engine.labels.x",
		"node.labels.==y":       "unknown key node.labels.",
		"node.labels.a==b==c":   "want one value after ==",
		"node.role==supervisor": "node.role is manager or worker",
	} {
		_, err := ParseConstraint(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `--constraint "`+in+`"`) {
			t.Errorf("%s: err = %v, want one naming the flag and %q", in, err, want)
		}
	}
	c, _ := ParseConstraint("node.role != manager")
	if c.String() != "node.role!=manager" {
		t.Fatalf("String = %s", c)
	}
}

func TestParsePreference(t *testing.T) {
	p, err := ParsePreference("spread=node.labels.zone")
	if err != nil || p.Spread != "node.labels.zone" || p.String() != "spread=node.labels.zone" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"node.labels.zone", "pack=node.labels.zone", "spread=", "spread=zone"} {
		if _, err := ParsePreference(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
